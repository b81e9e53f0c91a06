//go:build linux && cgo

package ring_test

import (
	"context"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/ring"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// victim starts a C or Go process that holds something of the ring.
func victim(t *testing.T, lang, what, name string) *testutil.Proc {
	if lang == "c" {
		return testutil.StartC(t, "ringpeer", what, name)
	}
	return testutil.StartGo(t, what, name)
}

// TestDeadProducersLoan: a producer killed with a slot loaned does not
// wedge the consumers: what was committed before and after it arrives,
// the dead loan is skipped.
func TestDeadProducersLoan(t *testing.T) {
	for _, lang := range []string{"c", "go"} {
		t.Run(lang, func(t *testing.T) {
			name, p := create(t, os.O_WRONLY, ring.Config{Slots: 4, Size: 16})
			c := open(t, name, os.O_RDONLY, nil)
			ctx := context.Background()
			require.NoError(t, p.Send(ctx, []byte("before")))
			v := victim(t, lang, "loan-hold", name)
			require.Equal(t, "loaned 1", v.Next(t))
			require.NoError(t, p.Send(ctx, []byte("after")))
			buf := make([]byte, 16)
			rec, err := c.Receive(ctx, buf)
			require.NoError(t, err)
			assert.Equal(t, "before", string(buf[:rec.N]))
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			_, err = c.Receive(short, buf)
			cancel()
			require.ErrorIs(t, err, ring.ErrDeadline, "the live holder's loan holds the head back")
			v.Kill9(t)
			t0 := time.Now()
			rec, err = c.Receive(ctx, buf)
			require.NoError(t, err)
			assert.Equal(t, "after", string(buf[:rec.N]))
			assert.Equal(t, uint64(2), rec.Seq)
			t.Logf("the dead loan was passed %v after the kill", time.Since(t0))
			st, err := c.Stat()
			require.NoError(t, err)
			assert.Equal(t, uint64(1), st.Reclaimed)
		})
	}
}

// TestDeadConsumersView: a consumer killed holding a view does not wedge
// the producers (the record counts as delivered), and the records after
// it reach the other consumers; in SPSC mode, the one consumer's role
// passes to the next that opens.
func TestDeadConsumersView(t *testing.T) {
	for _, tc := range []struct {
		lang string
		mode ring.Mode
	}{{"c", ring.Queue}, {"go", ring.Queue}, {"c", ring.SPSC}, {"go", ring.SPSC}} {
		lang := tc.lang
		t.Run(tc.mode.String()+"/"+lang, func(t *testing.T) {
			name, p := create(t, os.O_WRONLY, ring.Config{Slots: 2, Size: 16, Mode: tc.mode})
			ctx := context.Background()
			require.NoError(t, p.Send(ctx, []byte("r0")))
			v := victim(t, lang, "view-hold", name)
			v.Expect(t, "ready")
			require.Equal(t, "viewing 0 r0", v.Next(t))
			if tc.mode == ring.SPSC {
				_, err := ring.Open(name, os.O_RDONLY, 0, nil)
				require.ErrorIs(t, err, ring.ErrBusy, "the live consumer holds the role")
			}
			require.NoError(t, p.Send(ctx, []byte("r1")))
			require.ErrorIs(t, p.TrySend([]byte("r2")), syscall.EAGAIN, "full: one slot viewed, one queued")
			done := make(chan error, 1)
			go func() { done <- p.Send(ctx, []byte("r2")) }()
			select {
			case err := <-done:
				t.Fatalf("Send returned %v with the view still held", err)
			case <-time.After(50 * time.Millisecond):
			}
			v.Kill9(t)
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(5 * time.Second):
				t.Fatal("the producer stayed blocked behind a dead consumer's view")
			}
			c := open(t, name, os.O_RDONLY, nil)
			buf := make([]byte, 16)
			for _, want := range []string{"r1", "r2"} {
				rec, err := c.Receive(ctx, buf)
				require.NoError(t, err)
				assert.Equal(t, want, string(buf[:rec.N]))
			}
		})
	}
}

// TestDeadSubscriber: a broadcast subscriber killed without reading does
// not hold a Block producer back for ever.
func TestDeadSubscriber(t *testing.T) {
	for _, lang := range []string{"c", "go"} {
		t.Run(lang, func(t *testing.T) {
			name, p := create(t, os.O_WRONLY, ring.Config{Slots: 2, Size: 16, Mode: ring.Broadcast})
			ctx := context.Background()
			v := victim(t, lang, "view-hold", name)
			v.Expect(t, "ready")
			require.NoError(t, p.Send(ctx, []byte("r0")))
			require.Equal(t, "viewing 0 r0", v.Next(t))
			require.NoError(t, p.Send(ctx, []byte("r1")))
			require.ErrorIs(t, p.TrySend([]byte("r2")), syscall.EAGAIN, "the subscriber holds the oldest")
			v.Kill9(t)
			short, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			require.NoError(t, p.Send(short, []byte("r2")))
			st, err := p.Stat()
			require.NoError(t, err)
			assert.Len(t, st.Participants, 1, "the dead subscriber was reaped")
		})
	}
}

// TestDroppedHandleCleanedUp: a handle dropped without Close is cleaned up
// once collected: its descriptor closes (and its mapping goes), so its
// liveness lock goes and the others see it dead: its loan is passed.
func TestDroppedHandleCleanedUp(t *testing.T) {
	name, c := create(t, os.O_RDONLY, ring.Config{Slots: 4, Size: 16})
	ctx := context.Background()
	before := testutil.FDs()
	func() {
		p, err := ring.Open(name, os.O_WRONLY, 0, nil)
		require.NoError(t, err)
		require.NoError(t, p.Send(ctx, []byte("sent")))
		_, err = p.Loan(ctx) // never committed
		require.NoError(t, err)
	}()
	buf := make([]byte, 16)
	rec, err := c.Receive(ctx, buf)
	require.NoError(t, err)
	require.Equal(t, "sent", string(buf[:rec.N]))
	ok := testutil.Eventually(5*time.Second, func() bool { runtime.GC(); return testutil.FDs() <= before })
	assert.True(t, ok, "descriptors: %d before, %d after", before, testutil.FDs())
	// the dropped producer's loan is passed: a new record arrives
	p := open(t, name, os.O_WRONLY, nil)
	require.NoError(t, p.Send(ctx, []byte("after")))
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rec, err = c.Receive(tctx, buf)
	require.NoError(t, err)
	assert.Equal(t, "after", string(buf[:rec.N]))
}
