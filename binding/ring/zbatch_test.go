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

// loanAll produces records "prefix<i>", i from 0 to total-1, by LoanBatch
// of up to per loans and CommitBatch.
func loanAll(ctx context.Context, p *ring.Ring, total, per int, prefix string) error {
	loans := make([]ring.Loan, per)
	lens := make([]int, per)
	for i := 0; i < total; {
		n, err := p.LoanBatch(ctx, loans[:min(per, total-i)])
		if err != nil {
			return err
		}
		if n < 1 {
			return fmt.Errorf("LoanBatch lent %d", n)
		}
		for j, l := range loans[:n] {
			lens[j] = copy(l.Bytes(), fmt.Sprint(prefix, i+j))
		}
		done, err := p.CommitBatch(loans[:n], lens[:n])
		if err != nil {
			return err
		}
		if done != n {
			return fmt.Errorf("CommitBatch committed %d of %d", done, n)
		}
		i += n
	}
	return nil
}

// viewAll consumes total records by NextBatch of up to per views and
// ReleaseBatch, and returns their texts and the largest batch seen.
func viewAll(ctx context.Context, c *ring.Ring, total, per int) ([]string, int, error) {
	views := make([]ring.View, per)
	var got []string
	most := 0
	for len(got) < total {
		n, err := c.NextBatch(ctx, views[:min(per, total-len(got))])
		if err != nil {
			return got, most, err
		}
		most = max(most, n)
		for _, v := range views[:n] {
			got = append(got, string(v.Bytes()))
		}
		done, err := c.ReleaseBatch(views[:n])
		if err != nil {
			return got, most, err
		}
		if done != n {
			return got, most, fmt.Errorf("ReleaseBatch gave back %d of %d", done, n)
		}
	}
	return got, most, nil
}

// TestZeroCopyBatch: LoanBatch/CommitBatch and NextBatch/ReleaseBatch move
// every record once, in order, in every mode, with and without spin (no
// spin: each side sleeps in the futex, and a batch's one wake-up must
// reach it); a broadcast batch is one loan or view.
func TestZeroCopyBatch(t *testing.T) {
	for _, tc := range []struct {
		mode ring.Mode
		spin time.Duration
	}{{ring.Queue, ring.DefaultSpin}, {ring.SPSC, ring.DefaultSpin}, {ring.Broadcast, ring.DefaultSpin}, {ring.Queue, 0}, {ring.SPSC, 0}} {
		t.Run(fmt.Sprint(tc.mode, "-spin-", tc.spin), func(t *testing.T) {
			name, p := create(t, os.O_WRONLY, ring.Config{Slots: 8, Size: 16, Mode: tc.mode})
			c := open(t, name, os.O_RDONLY, nil)
			p.SetSpin(tc.spin)
			c.SetSpin(tc.spin)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			const total = 1000
			sent := make(chan error, 1)
			go func() { sent <- loanAll(ctx, p, total, 5, "z") }()
			got, most, err := viewAll(ctx, c, total, 3)
			require.NoError(t, err)
			require.NoError(t, <-sent)
			for i, s := range got {
				require.Equal(t, fmt.Sprint("z", i), s)
			}
			if tc.mode == ring.Broadcast {
				assert.Equal(t, 1, most, "a subscriber has one view at a time")
			} else {
				assert.LessOrEqual(t, most, 3)
			}
		})
	}
}

// TestZeroCopyBatchEdges: what a batch takes at once, its bad input (an
// error, nothing done), its wrong-side and closed handles, and its mix
// with the single calls.
func TestZeroCopyBatchEdges(t *testing.T) {
	ctx := context.Background()
	name, p := create(t, os.O_WRONLY, ring.Config{Slots: 8, Size: 16, Mode: ring.SPSC, Full: ring.Fail})
	c := open(t, name, os.O_RDONLY, nil)

	n, err := p.LoanBatch(ctx, nil)
	require.NoError(t, err)
	assert.Zero(t, n)
	_, err = c.LoanBatch(ctx, make([]ring.Loan, 2))
	assert.ErrorIs(t, err, syscall.EBADF)
	_, err = p.NextBatch(ctx, make([]ring.View, 2))
	assert.ErrorIs(t, err, syscall.EBADF)

	loans := make([]ring.Loan, 10)
	n, err = p.LoanBatch(ctx, loans)
	require.NoError(t, err)
	require.Equal(t, 8, n, "as many as are free")
	for i, l := range loans[:n] {
		assert.Equal(t, uint64(i), l.Seq())
	}
	_, err = p.LoanBatch(ctx, loans[8:])
	assert.ErrorIs(t, err, syscall.EAGAIN, "Fail: no free slot")

	lens := []int{1, 2, 17}
	_, err = p.CommitBatch(loans[:3], lens)
	assert.ErrorIs(t, err, syscall.EINVAL, "a length past the slot")
	_, err = p.CommitBatch(loans[:3], lens[:2])
	assert.ErrorIs(t, err, syscall.EINVAL, "fewer lengths than loans")
	_, err = p.CommitBatch([]ring.Loan{loans[0], {}}, []int{1, 1})
	assert.ErrorIs(t, err, syscall.EINVAL, "a loan of no handle")
	_, err = c.TryReceive(make([]byte, 16))
	assert.ErrorIs(t, err, syscall.EAGAIN, "nothing was published")

	for i, l := range loans[:n] {
		copy(l.Bytes(), fmt.Sprint("e", i))
	}
	require.NoError(t, loans[0].Commit(2), "a batch's loan commits alone too")
	done, err := p.CommitBatch(loans[1:4], []int{2, 2, 2})
	require.NoError(t, err)
	assert.Equal(t, 3, done)
	require.NoError(t, loans[4].Abort())
	done, err = p.CommitBatch(loans[5:8], []int{2, 2, 2})
	require.NoError(t, err)
	assert.Equal(t, 3, done)

	views := make([]ring.View, 10)
	n, err = c.NextBatch(ctx, views)
	require.NoError(t, err)
	require.Equal(t, 7, n, "the aborted loan is passed")
	for i, want := range []string{"e0", "e1", "e2", "e3", "e5", "e6", "e7"} {
		assert.Equal(t, want, string(views[i].Bytes()))
	}
	require.NoError(t, views[0].Release(), "a batch's view releases alone too")
	_, err = c.ReleaseBatch([]ring.View{views[1], {}})
	assert.ErrorIs(t, err, syscall.EINVAL, "a view of no handle")
	done, err = c.ReleaseBatch(views[1:n])
	require.NoError(t, err)
	assert.Equal(t, 6, done)
	_, err = c.ReleaseBatch(views[1:2])
	assert.ErrorIs(t, err, ring.ErrReclaimed, "given back already")

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	n, err = c.NextBatch(short, views)
	assert.ErrorIs(t, err, ring.ErrDeadline)
	assert.Zero(t, n)

	n, err = p.LoanBatch(ctx, loans[:2])
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.NoError(t, p.Close())
	_, err = p.CommitBatch(loans[:2], []int{1, 1})
	assert.ErrorIs(t, err, os.ErrClosed)
	_, err = p.LoanBatch(ctx, loans[:1])
	assert.ErrorIs(t, err, os.ErrClosed)
	require.NoError(t, c.Close())
	_, err = c.NextBatch(ctx, views)
	assert.ErrorIs(t, err, os.ErrClosed)
	_, err = c.ReleaseBatch(views[:1])
	assert.ErrorIs(t, err, os.ErrClosed)
}

// TestZeroCopyBatchInterop: C's pir_loan_batch/pir_commit_batch into Go's
// NextBatch, and Go's LoanBatch/CommitBatch into C's
// pir_next_batch/pir_release_batch, in every mode.
func TestZeroCopyBatchInterop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, mode := range []ring.Mode{ring.Queue, ring.SPSC, ring.Broadcast} {
		t.Run(mode.String(), func(t *testing.T) {
			name, r := create(t, os.O_RDONLY, ring.Config{Slots: 8, Size: 32, Mode: mode})
			r.SetSpin(0) // asleep whenever it waits: the C batch's wake-up must reach it
			c := testutil.StartC(t, "ringpeer", "loan-batch", name, "500", "7")
			got, _, err := viewAll(ctx, r, 500, 5)
			require.NoError(t, err)
			for i, s := range got {
				require.Equal(t, fmt.Sprint("cz", i), s)
			}
			c.Expect(t, "done")
			c.WaitOK(t)
			require.NoError(t, r.Close())

			pn, p := create(t, os.O_WRONLY, ring.Config{Slots: 8, Size: 32, Mode: mode})
			rc := testutil.StartC(t, "ringpeer", "next-batch", pn, "500", "6")
			rc.Expect(t, "ready")
			require.NoError(t, loanAll(ctx, p, 500, 5, "gz"))
			for i, s := range records(t, rc, 500) {
				require.Equal(t, fmt.Sprint("gz", i), s)
			}
			rc.WaitOK(t)
		})
	}
}

// TestZeroCopyBatchWakesSleepers: a CommitBatch's one wake-up reaches a
// consumer asleep on an empty ring, a ReleaseBatch's a producer asleep on
// a full one.
func TestZeroCopyBatchWakesSleepers(t *testing.T) {
	for _, mode := range []ring.Mode{ring.Queue, ring.SPSC} {
		t.Run(mode.String(), func(t *testing.T) {
			name, p := create(t, os.O_WRONLY, ring.Config{Slots: 4, Size: 16, Mode: mode})
			c := open(t, name, os.O_RDONLY, nil)
			p.SetSpin(0)
			c.SetSpin(0)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			loans, views := make([]ring.Loan, 4), make([]ring.View, 4)
			for round := 0; round < 5; round++ {
				got := make(chan int, 1)
				go func() {
					n, _ := c.NextBatch(ctx, views)
					got <- n
				}()
				time.Sleep(20 * time.Millisecond) // asleep on the empty ring
				n, err := p.LoanBatch(ctx, loans)
				require.NoError(t, err)
				require.Equal(t, 4, n)
				_, err = p.CommitBatch(loans, []int{1, 1, 1, 1})
				require.NoError(t, err)
				var k int
				select {
				case k = <-got:
					require.GreaterOrEqual(t, k, 1)
				case <-time.After(time.Second):
					t.Fatal("the consumer slept through the batch")
				}
				for k < 4 {
					m, err := c.NextBatch(ctx, views[k:])
					require.NoError(t, err)
					k += m
				}
				_, err = c.ReleaseBatch(views)
				require.NoError(t, err)

				// A full ring of records nobody views: the producer
				// sleeps with no slice (nothing it waits for is held).
				n, err = p.LoanBatch(ctx, loans)
				require.NoError(t, err)
				require.Equal(t, 4, n)
				_, err = p.CommitBatch(loans, []int{1, 1, 1, 1})
				require.NoError(t, err)
				done := make(chan error, 1)
				go func() {
					_, err := p.LoanBatch(ctx, loans[:1])
					done <- err
				}()
				time.Sleep(20 * time.Millisecond) // asleep on the full ring
				n, err = c.NextBatch(ctx, views)
				require.NoError(t, err)
				require.Equal(t, 4, n)
				_, err = c.ReleaseBatch(views)
				require.NoError(t, err)
				select {
				case err := <-done:
					require.NoError(t, err)
				case <-time.After(time.Second):
					t.Fatal("the producer slept through the batch's releases")
				}
				require.NoError(t, loans[0].Abort())
				_, err = c.TryReceive(make([]byte, 16)) // passes the skipped slot
				require.ErrorIs(t, err, syscall.EAGAIN)
			}
		})
	}
}

// TestZeroCopyBatchAllocatesNothing: a zero-copy batch each way allocates
// nothing.
func TestZeroCopyBatchAllocatesNothing(t *testing.T) {
	name, p := create(t, os.O_WRONLY, ring.Config{Slots: 64, Size: 64, Mode: ring.SPSC})
	c := open(t, name, os.O_RDONLY, nil)
	ctx := context.Background()
	loans, views := make([]ring.Loan, 32), make([]ring.View, 32)
	lens := make([]int, 32)
	allocs := testing.AllocsPerRun(200, func() {
		if n, err := p.LoanBatch(ctx, loans); err != nil || n != 32 {
			t.Fatal(n, err)
		}
		if _, err := p.CommitBatch(loans, lens); err != nil {
			t.Fatal(err)
		}
		if n, err := c.NextBatch(ctx, views); err != nil || n != 32 {
			t.Fatal(n, err)
		}
		if _, err := c.ReleaseBatch(views); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

// TestDeadProducersBatch: a producer killed holding a batch of loans (C
// and Go, queue and SPSC mode) does not wedge the consumer: the three dead
// loans are skipped, what comes after arrives.
func TestDeadProducersBatch(t *testing.T) {
	for _, mode := range []ring.Mode{ring.Queue, ring.SPSC} {
		for _, lang := range []string{"c", "go"} {
			t.Run(fmt.Sprint(mode, "-", lang), func(t *testing.T) {
				name, c := create(t, os.O_RDONLY, ring.Config{Slots: 8, Size: 16, Mode: mode})
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				v := victim(t, lang, "batch-hold", name)
				require.Equal(t, "loaned 0 2", v.Next(t))
				v.Kill9(t)
				p := open(t, name, os.O_WRONLY, nil)
				require.NoError(t, p.Send(ctx, []byte("after")))
				views := make([]ring.View, 4)
				n, err := c.NextBatch(ctx, views)
				require.NoError(t, err)
				require.Equal(t, 1, n)
				assert.Equal(t, "after", string(views[0].Bytes()))
				assert.Equal(t, uint64(3), views[0].Seq())
				_, err = c.ReleaseBatch(views[:n])
				require.NoError(t, err)
				st, err := c.Stat()
				require.NoError(t, err)
				assert.Equal(t, uint64(3), st.Reclaimed)
			})
		}
	}
}
