//go:build linux && cgo

package ring_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/ring"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSPSCOneOfEachSide: an SPSC ring has one producer and one consumer
// at a time, in Go and in C; the role passes on at Close.
func TestSPSCOneOfEachSide(t *testing.T) {
	name, p := create(t, os.O_WRONLY, ring.Config{Slots: 4, Size: 16, Mode: ring.SPSC})
	assert.Equal(t, ring.SPSC, p.Config().Mode)
	c := open(t, name, os.O_RDONLY, nil)

	_, err := ring.Open(name, os.O_WRONLY, 0, nil)
	require.ErrorIs(t, err, ring.ErrBusy, "a second producer")
	require.ErrorIs(t, err, syscall.EBUSY)
	_, err = ring.Open(name, os.O_RDONLY, 0, nil)
	require.ErrorIs(t, err, ring.ErrBusy, "a second consumer")
	_, err = ring.Open(name, os.O_RDWR, 0, nil)
	require.ErrorIs(t, err, ring.ErrBusy, "a handle that would be both")
	cp := testutil.StartC(t, "ringpeer", "send", name, "1")
	assert.Equal(t, 1, cp.Wait(t), "a C producer beside the Go one: pir_open is EBUSY")

	require.NoError(t, p.Close())
	q := open(t, name, os.O_WRONLY, nil) // the producer's role is free again
	require.NoError(t, q.Send(context.Background(), []byte("one")))
	buf := make([]byte, 16)
	rec, err := c.Receive(context.Background(), buf)
	require.NoError(t, err)
	assert.Equal(t, "one", string(buf[:rec.N]))
	st, err := c.Stat()
	require.NoError(t, err)
	require.Len(t, st.Participants, 2)

	// O_RDWR takes both roles; undone when the second is taken.
	require.NoError(t, q.Close())
	_, err = ring.Open(name, os.O_RDWR, 0, nil)
	require.ErrorIs(t, err, ring.ErrBusy, "the consumer's role is held")
	r := open(t, name, os.O_WRONLY, nil) // and the producer's was given back
	require.NoError(t, r.Close())
}

// TestSPSCHandleShared: the goroutines of one SPSC handle take turns at
// taking slots; each side may hold several loans or views, and every
// record arrives once.
func TestSPSCHandleShared(t *testing.T) {
	const workers, each = 8, 2000
	name, p := create(t, os.O_WRONLY, ring.Config{Slots: 16, Size: 16, Mode: ring.SPSC})
	c := open(t, name, os.O_RDONLY, nil)
	ctx := context.Background()

	l1, err := p.Loan(ctx)
	require.NoError(t, err)
	l2, err := p.Loan(ctx)
	require.NoError(t, err, "a second loan of the one producer")
	require.NoError(t, l2.Commit(copy(l2.Bytes(), "second")))
	require.NoError(t, l1.Commit(copy(l1.Bytes(), "first")))
	v1, err := c.Next(ctx)
	require.NoError(t, err)
	v2, err := c.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, "first", string(v1.Bytes()))
	assert.Equal(t, "second", string(v2.Bytes()))
	require.NoError(t, v2.Release())
	require.NoError(t, v1.Release())

	// More Ps than CPUs: goroutines of the handle get preempted in the
	// middle of a take, where two without turns would take one slot.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(8, runtime.NumCPU())))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := p.Send(ctx, []byte(fmt.Sprintf("%d.%d", w, i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	seen := make(map[string]bool)
	var mu sync.Mutex
	var cw sync.WaitGroup
	for w := 0; w < 4; w++ {
		cw.Add(1)
		go func() {
			defer cw.Done()
			buf := make([]byte, 16)
			for {
				dl, cancel := context.WithTimeout(ctx, 2*time.Second)
				rec, err := c.Receive(dl, buf)
				cancel()
				if err != nil {
					return
				}
				mu.Lock()
				s := string(buf[:rec.N])
				if seen[s] {
					t.Errorf("%s twice", s)
				}
				seen[s] = true
				n := len(seen)
				mu.Unlock()
				if n == workers*each {
					return
				}
			}
		}()
	}
	wg.Wait()
	cw.Wait()
	assert.Len(t, seen, workers*each)
}

// TestSPSCInterop: the SPSC ring between Go and C, both ways.
func TestSPSCInterop(t *testing.T) {
	ctx := context.Background()
	t.Run("go-to-c", func(t *testing.T) {
		name, p := create(t, os.O_WRONLY, ring.Config{Slots: 4, Size: 32, Mode: ring.SPSC})
		c := testutil.StartC(t, "ringpeer", "recv", name, "500")
		c.Expect(t, "ready")
		for i := 0; i < 500; i++ {
			require.NoError(t, p.Send(ctx, []byte(fmt.Sprint("go", i))))
		}
		for i, s := range records(t, c, 500) {
			require.Equal(t, fmt.Sprint("go", i), s)
		}
		c.WaitOK(t)
	})
	t.Run("c-to-go", func(t *testing.T) {
		name, r := create(t, os.O_RDONLY, ring.Config{Slots: 4, Size: 32, Mode: ring.SPSC})
		c := testutil.StartC(t, "ringpeer", "send", name, "500")
		buf := make([]byte, 32)
		for i := 0; i < 500; i++ {
			rec, err := r.Receive(ctx, buf)
			require.NoError(t, err)
			require.Equal(t, fmt.Sprint("c", i), string(buf[:rec.N]))
			require.Equal(t, uint64(i), rec.Seq)
		}
		c.Expect(t, "done")
		c.WaitOK(t)
	})
	t.Run("c-creates", func(t *testing.T) {
		name := testutil.Name("ring")
		testutil.StartC(t, "ringpeer", "create", name, "8", "24", "spsc", "block").WaitOK(t)
		t.Cleanup(func() { ring.Remove(name) })
		r := open(t, name, os.O_RDWR, &ring.Config{Mode: ring.SPSC})
		assert.Equal(t, ring.Config{Slots: 8, Size: 24, Mode: ring.SPSC, Participants: ring.DefaultParticipants}, r.Config())
		require.NoError(t, r.Send(ctx, []byte("self")))
		buf := make([]byte, 24)
		rec, err := r.Receive(ctx, buf)
		require.NoError(t, err)
		assert.Equal(t, "self", string(buf[:rec.N]))
	})
}

// TestSPSCDeadProducer: the one producer killed with a slot loaned: its
// role passes to the next producer that opens, and the consumer skips the
// dead loan and gets what the new producer sends.
func TestSPSCDeadProducer(t *testing.T) {
	for _, lang := range []string{"c", "go"} {
		t.Run(lang, func(t *testing.T) {
			name, c := create(t, os.O_RDONLY, ring.Config{Slots: 4, Size: 16, Mode: ring.SPSC})
			ctx := context.Background()
			v := victim(t, lang, "loan-hold", name)
			require.Equal(t, "loaned 0", v.Next(t))
			_, err := ring.Open(name, os.O_WRONLY, 0, nil)
			require.ErrorIs(t, err, ring.ErrBusy, "the live producer holds the role")
			buf := make([]byte, 16)
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			_, err = c.Receive(short, buf)
			cancel()
			require.ErrorIs(t, err, ring.ErrDeadline, "the live holder's loan holds the head back")
			v.Kill9(t)
			p := open(t, name, os.O_WRONLY, nil)
			st, err := c.Stat()
			require.NoError(t, err)
			assert.Equal(t, uint64(1), st.Reclaimed, "the new producer took the dead one's loan over as it took its role")
			require.NoError(t, p.Send(ctx, []byte("after")))
			rec, err := c.Receive(ctx, buf)
			require.NoError(t, err)
			assert.Equal(t, "after", string(buf[:rec.N]))
			assert.Equal(t, uint64(1), rec.Seq)
			st, err = c.Stat()
			require.NoError(t, err)
			assert.Equal(t, uint64(1), st.Reclaimed)
		})
	}
}

// TestSPSCDeadProducerOtherEntry: a new producer that joins at another
// entry than the dead one's (which stays in the table) takes the dead
// one's loans over as it takes its role.
func TestSPSCDeadProducerOtherEntry(t *testing.T) {
	for _, lang := range []string{"c", "go"} {
		t.Run(lang, func(t *testing.T) {
			name, c := create(t, os.O_RDONLY, ring.Config{Slots: 4, Size: 16, Mode: ring.SPSC}) // entry 0
			v := victim(t, lang, "loan-hold", name)                                             // entry 1
			require.Equal(t, "loaned 0", v.Next(t))
			v.Kill9(t)
			require.NoError(t, c.Close()) // entry 0 is free: the next producer joins there
			p := open(t, name, os.O_WRONLY, nil)
			st, err := ring.Inspect(name)
			require.NoError(t, err)
			assert.Equal(t, uint64(1), st.Reclaimed, "taken over with the role, not with the entry")
			c2 := open(t, name, os.O_RDONLY, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			require.NoError(t, p.Send(ctx, []byte("after")))
			buf := make([]byte, 16)
			rec, err := c2.Receive(ctx, buf)
			require.NoError(t, err)
			assert.Equal(t, "after", string(buf[:rec.N]))
			assert.Equal(t, uint64(1), rec.Seq)
		})
	}
}

// TestSPSCDeadProducerAlone: with no new producer, the consumer waiting
// at a dead producer's loan takes it over itself (the role's holder is
// dead), and the producer's role is free for the next.
func TestSPSCDeadProducerAlone(t *testing.T) {
	for _, lang := range []string{"c", "go"} {
		t.Run(lang, func(t *testing.T) {
			name, c := create(t, os.O_RDONLY, ring.Config{Slots: 4, Size: 16, Mode: ring.SPSC})
			v := victim(t, lang, "loan-hold", name)
			require.Equal(t, "loaned 0", v.Next(t))
			v.Kill9(t)
			short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			_, err := c.Receive(short, make([]byte, 16))
			cancel()
			require.ErrorIs(t, err, ring.ErrDeadline, "nothing was committed")
			st, err := c.Stat()
			require.NoError(t, err)
			assert.Equal(t, uint64(1), st.Reclaimed, "the waiting consumer passed the dead loan")
			assert.Equal(t, uint64(1), st.Head, "and is past it")
		})
	}
}

// TestSPSCCloseGivesUpLoans: a producer that closes with loans out (Go's
// Close, C's pir_close) passes them to the consumer as skipped; the next
// producer's records follow.
func TestSPSCCloseGivesUpLoans(t *testing.T) {
	ctx := context.Background()
	for _, lang := range []string{"c", "go"} {
		t.Run(lang, func(t *testing.T) {
			name, c := create(t, os.O_RDONLY, ring.Config{Slots: 4, Size: 16, Mode: ring.SPSC})
			if lang == "c" {
				testutil.StartC(t, "ringpeer", "loan-close", name).Expect(t, "closed")
			} else {
				p := open(t, name, os.O_WRONLY, nil)
				for i := 0; i < 2; i++ {
					_, err := p.Loan(ctx)
					require.NoError(t, err)
				}
				require.NoError(t, p.Close())
			}
			_, err := c.TryReceive(make([]byte, 16))
			require.ErrorIs(t, err, syscall.EAGAIN, "both loans were passed, neither delivered")
			st, err := c.Stat()
			require.NoError(t, err)
			assert.Equal(t, uint64(2), st.Reclaimed)
			p := open(t, name, os.O_WRONLY, nil)
			require.NoError(t, p.Send(ctx, []byte("next")))
			buf := make([]byte, 16)
			rec, err := c.Receive(ctx, buf)
			require.NoError(t, err)
			assert.Equal(t, "next", string(buf[:rec.N]))
			assert.Equal(t, uint64(2), rec.Seq)
		})
	}
}

// TestSPSCProducerKillStorm: producers of an SPSC ring, C and Go by turns,
// are killed (SIGKILL) at random moments of a stream while a Go consumer
// reads on with Receive, ReceiveBatch and Next: each next producer takes
// the role, and the consumer gets every record each one committed, in
// order, once: from each, a run 0, 1, 2, ... with no gap, and nothing
// after a death but the next producer's records.
func TestSPSCProducerKillStorm(t *testing.T) {
	const rounds = 12
	name, c := create(t, os.O_RDONLY, ring.Config{Slots: 8, Size: 32, Mode: ring.SPSC})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := make(chan string, 1024)
	var cerr error // why the consumer stopped
	go func() {
		defer close(got)
		bufs, recs := buffers(4, 32)
		for i := 0; ; i++ {
			switch i % 3 {
			case 0:
				rec, err := c.Receive(ctx, bufs[0])
				if err != nil {
					cerr = err
					return
				}
				got <- string(bufs[0][:rec.N])
			case 1:
				n, err := c.ReceiveBatch(ctx, bufs, recs)
				if err != nil {
					cerr = err
					return
				}
				for j := 0; j < n; j++ {
					got <- string(bufs[j][:recs[j].N])
				}
			case 2:
				v, err := c.Next(ctx)
				if err != nil {
					cerr = err
					return
				}
				got <- string(v.Bytes())
				if err := v.Release(); err != nil {
					cerr = err
					return
				}
			}
		}
	}()
	next := make(map[int]int) // producer round -> next index expected
	last := -1
	check := func(s string) bool {
		if s == "end0" {
			return true
		}
		var k, i int
		_, err := fmt.Sscanf(s, "p%d-%d", &k, &i)
		require.NoError(t, err, "%q", s)
		require.GreaterOrEqual(t, k, last, "a record of an earlier producer after a later one's: %q", s)
		require.Equal(t, next[k], i, "producer %d: %q out of turn", k, s)
		next[k], last = i+1, k
		return false
	}
	for k := 0; k < rounds; k++ {
		prefix := fmt.Sprintf("p%d-", k)
		var v *testutil.Proc // (Kill9 waits for the death: the role is free)
		if k%2 == 0 {
			v = testutil.StartC(t, "ringpeer", "send", name, "1000000", prefix)
		} else {
			v = testutil.StartGo(t, "send", name, "1000000", prefix)
		}
		var deadline <-chan time.Time // from the first record of this producer
	drain:
		for {
			select {
			case s, ok := <-got:
				require.True(t, ok, "the consumer stopped: %v", cerr)
				check(s)
				if deadline == nil && last == k {
					deadline = time.After(time.Duration(k%4*3) * time.Millisecond)
				}
			case <-deadline:
				break drain
			case <-ctx.Done():
				t.Fatalf("producer %d: no record", k)
			}
		}
		v.Kill9(t)
	}
	p := open(t, name, os.O_WRONLY, nil)
	sent := make(chan error, 1)
	go func() { sent <- p.Send(ctx, []byte("end0")) }()
	for s := range got {
		if check(s) {
			break
		}
	}
	require.NoError(t, <-sent)
	cancel()
	for k := 0; k < rounds; k++ {
		assert.Greater(t, next[k], 0, "producer %d's records arrived", k)
	}
	st, err := ring.Inspect(name)
	require.NoError(t, err)
	t.Logf("records per producer %v; loans taken over: %d", next, st.Reclaimed)
}
