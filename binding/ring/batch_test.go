//go:build linux && cgo

package ring_test

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/ring"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func batchOf(n int, prefix string) [][]byte {
	recs := make([][]byte, n)
	for i := range recs {
		recs[i] = []byte(fmt.Sprint(prefix, i))
	}
	return recs
}

func buffers(n, size int) ([][]byte, []ring.Record) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	return bufs, make([]ring.Record, n)
}

// TestBatch: SendBatch sends every record in order, waiting while the
// ring is full; ReceiveBatch takes what is there (at least one), in
// order, in every mode; with no spin each side sleeps on the futex, and a
// batch's one wake-up reaches it.
func TestBatch(t *testing.T) {
	for _, tc := range []struct {
		mode ring.Mode
		spin time.Duration
	}{{ring.Queue, ring.DefaultSpin}, {ring.SPSC, ring.DefaultSpin}, {ring.Broadcast, ring.DefaultSpin}, {ring.Queue, 0}, {ring.SPSC, 0}} {
		mode := tc.mode
		t.Run(fmt.Sprint(mode, "-spin-", tc.spin), func(t *testing.T) {
			name, p := create(t, os.O_WRONLY, ring.Config{Slots: 8, Size: 16, Mode: mode})
			c := open(t, name, os.O_RDONLY, nil)
			p.SetSpin(tc.spin)
			c.SetSpin(tc.spin)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			const total = 1000
			sent := make(chan error, 1)
			go func() {
				n, err := p.SendBatch(ctx, batchOf(total, "r"))
				if err == nil && n != total {
					err = fmt.Errorf("sent %d", n)
				}
				sent <- err
			}()
			bufs, recs := buffers(5, 16)
			next, calls := 0, 0
			for next < total {
				n, err := c.ReceiveBatch(ctx, bufs, recs)
				require.NoError(t, err)
				require.True(t, n >= 1 && n <= 5, "n = %d", n)
				for i := 0; i < n; i++ {
					require.Equal(t, fmt.Sprint("r", next), string(bufs[i][:recs[i].N]))
					require.Equal(t, uint64(next), recs[i].Seq)
					next++
				}
				calls++
			}
			require.NoError(t, <-sent)
			t.Logf("%d records in %d ReceiveBatch calls", total, calls)
			_, err := c.TryReceive(bufs[0])
			require.ErrorIs(t, err, syscall.EAGAIN)
		})
	}
}

// TestBatchEdges: the partial results and the errors.
func TestBatchEdges(t *testing.T) {
	ctx := context.Background()
	name, p := create(t, os.O_WRONLY, ring.Config{Slots: 4, Size: 8, Full: ring.Fail})
	c := open(t, name, os.O_RDONLY, nil)

	n, err := p.SendBatch(ctx, [][]byte{[]byte("ok"), []byte("too long!")})
	require.ErrorIs(t, err, syscall.EMSGSIZE)
	assert.Zero(t, n, "nothing is sent when a record cannot be")
	n, err = p.SendBatch(ctx, batchOf(6, "f"))
	require.ErrorIs(t, err, syscall.EAGAIN, "Fail: the ring filled")
	assert.Equal(t, 4, n)
	n, err = p.SendBatch(ctx, nil)
	require.NoError(t, err)
	assert.Zero(t, n)

	bufs, recs := buffers(3, 8)
	_, err = c.ReceiveBatch(ctx, bufs, recs[:2])
	require.ErrorIs(t, err, syscall.EINVAL, "fewer records than buffers")
	_, err = c.ReceiveBatch(ctx, [][]byte{make([]byte, 4)}, recs)
	require.ErrorIs(t, err, syscall.EMSGSIZE)
	n, err = c.ReceiveBatch(ctx, bufs, recs)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	n, err = c.ReceiveBatch(ctx, bufs, recs)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "what is there: it does not wait to fill the batch")
	assert.Equal(t, "f3", string(bufs[0][:recs[0].N]))

	// A full Block ring: the context ends a batch with what it sent.
	bn, bp := create(t, os.O_WRONLY, ring.Config{Slots: 4, Size: 8})
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	n, err = bp.SendBatch(short, batchOf(6, "b"))
	require.ErrorIs(t, err, ring.ErrDeadline)
	assert.Equal(t, 4, n)
	bc := open(t, bn, os.O_RDONLY, nil)
	st, err := bc.Stat()
	require.NoError(t, err)
	assert.Equal(t, uint64(4), st.Queued, "nothing more was taken")
	short2, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	for i := 0; i < 4; i++ {
		_, err := bc.Receive(ctx, bufs[0])
		require.NoError(t, err)
	}
	_, err = bc.ReceiveBatch(short2, bufs, recs)
	require.ErrorIs(t, err, ring.ErrDeadline, "an empty ring: the first record is waited for")
}

// TestBatchInterop: batches from Go to a C consumer and from a C producer
// into Go batches, on an SPSC ring.
func TestBatchInterop(t *testing.T) {
	ctx := context.Background()
	t.Run("go-to-c", func(t *testing.T) {
		name, p := create(t, os.O_WRONLY, ring.Config{Slots: 8, Size: 32, Mode: ring.SPSC})
		c := testutil.StartC(t, "ringpeer", "recv", name, "300")
		c.Expect(t, "ready")
		n, err := p.SendBatch(ctx, batchOf(300, "go"))
		require.NoError(t, err)
		require.Equal(t, 300, n)
		for i, s := range records(t, c, 300) {
			require.Equal(t, fmt.Sprint("go", i), s)
		}
		c.WaitOK(t)
	})
	t.Run("c-to-go", func(t *testing.T) {
		name, r := create(t, os.O_RDONLY, ring.Config{Slots: 8, Size: 32, Mode: ring.SPSC})
		c := testutil.StartC(t, "ringpeer", "send", name, "300")
		bufs, recs := buffers(16, 32)
		for next := 0; next < 300; {
			n, err := r.ReceiveBatch(ctx, bufs, recs)
			require.NoError(t, err)
			for i := 0; i < n; i++ {
				require.Equal(t, fmt.Sprint("c", next), string(bufs[i][:recs[i].N]))
				next++
			}
		}
		c.Expect(t, "done")
		c.WaitOK(t)
	})
}

// TestCBatches: pir_send_batch into Go batches and single receives, and
// Go batches into pir_receive_batch, in each queue mode and in broadcast.
func TestCBatches(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []ring.Mode{ring.Queue, ring.SPSC, ring.Broadcast} {
		t.Run(mode.String(), func(t *testing.T) {
			name, r := create(t, os.O_RDONLY, ring.Config{Slots: 8, Size: 32, Mode: mode})
			r.SetSpin(0) // asleep whenever it waits: the C batch's wake-up must reach it
			c := testutil.StartC(t, "ringpeer", "send-batch", name, "500", "7")
			bufs, recs := buffers(5, 32)
			for next := 0; next < 500; {
				n, err := r.ReceiveBatch(ctx, bufs, recs)
				require.NoError(t, err)
				for i := 0; i < n; i++ {
					require.Equal(t, fmt.Sprint("cb", next), string(bufs[i][:recs[i].N]))
					next++
				}
			}
			c.Expect(t, "done")
			c.WaitOK(t)
			require.NoError(t, r.Close())

			pn, p := create(t, os.O_WRONLY, ring.Config{Slots: 8, Size: 32, Mode: mode})
			rc := testutil.StartC(t, "ringpeer", "recv-batch", pn, "500", "6")
			rc.Expect(t, "ready")
			n, err := p.SendBatch(ctx, batchOf(500, "gb"))
			require.NoError(t, err)
			require.Equal(t, 500, n)
			for i, s := range records(t, rc, 500) {
				require.Equal(t, fmt.Sprint("gb", i), s)
			}
			rc.WaitOK(t)
		})
	}
}

// TestBatchAllocatesNothing: a batch each way allocates nothing.
func TestBatchAllocatesNothing(t *testing.T) {
	name, p := create(t, os.O_WRONLY, ring.Config{Slots: 64, Size: 64, Mode: ring.SPSC})
	c := open(t, name, os.O_RDONLY, nil)
	ctx := context.Background()
	recs := batchOf(32, "x")
	bufs, out := buffers(32, 64)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := p.SendBatch(ctx, recs); err != nil {
			t.Fatal(err)
		}
		if n, err := c.ReceiveBatch(ctx, bufs, out); err != nil || n != 32 {
			t.Fatal(n, err)
		}
	})
	assert.Zero(t, allocs)
}

// TestBatchWakesSleepers: a batch's one wake-up reaches a consumer asleep
// on an empty ring, and a producer asleep on a full one (no spin, so both
// are in the futex when the other side's batch comes).
func TestBatchWakesSleepers(t *testing.T) {
	for _, mode := range []ring.Mode{ring.Queue, ring.SPSC} {
		t.Run(mode.String(), func(t *testing.T) {
			name, p := create(t, os.O_WRONLY, ring.Config{Slots: 4, Size: 16, Mode: mode})
			c := open(t, name, os.O_RDONLY, nil)
			p.SetSpin(0)
			c.SetSpin(0)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			bufs, recs := buffers(4, 16)
			for round := 0; round < 5; round++ {
				got := make(chan int, 1)
				go func() {
					n, _ := c.ReceiveBatch(ctx, bufs, recs)
					got <- n
				}()
				time.Sleep(20 * time.Millisecond) // asleep on the empty ring
				n, err := p.SendBatch(ctx, batchOf(3, "w"))
				require.NoError(t, err)
				require.Equal(t, 3, n)
				select {
				case n := <-got:
					require.GreaterOrEqual(t, n, 1)
					for n < 3 {
						k, err := c.ReceiveBatch(ctx, bufs[n:], recs[n:])
						require.NoError(t, err)
						n += k
					}
				case <-time.After(time.Second):
					t.Fatal("the consumer slept through the batch")
				}

				require.NoError(t, p.Send(ctx, []byte("full")))
				_, err = p.SendBatch(ctx, batchOf(3, "f")) // fills the ring
				require.NoError(t, err)
				done := make(chan error, 1)
				go func() { done <- p.Send(ctx, []byte("more")) }()
				time.Sleep(20 * time.Millisecond) // asleep on the full ring
				n, err = c.ReceiveBatch(ctx, bufs, recs)
				require.NoError(t, err)
				require.Equal(t, 4, n)
				select {
				case err := <-done:
					require.NoError(t, err)
				case <-time.After(time.Second):
					t.Fatal("the producer slept through the batch's releases")
				}
				_, err = c.Receive(ctx, bufs[0])
				require.NoError(t, err)
			}
		})
	}
}
