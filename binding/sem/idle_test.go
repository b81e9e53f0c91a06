//go:build linux && cgo

package sem_test

import (
	"context"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/sem"
	"github.com/posixipc/posixipc/internal/gate"
	"github.com/posixipc/posixipc/internal/peer"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// blockSlots fills the process's gate.MaxInKernel slots in C with Waits
// on semaphores of their own, until the test ends.
func blockSlots(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, gate.MaxInKernel)
	t.Cleanup(func() {
		cancel()
		for range gate.MaxInKernel {
			<-done
		}
	})
	for range gate.MaxInKernel {
		s, _ := newNamed(t, 0)
		go func() {
			s.Wait(ctx)
			done <- struct{}{}
		}()
	}
	time.Sleep(50 * time.Millisecond) // all in C
}

// TestIdleWaitersWakeWithoutPolling: with more semaphores waited on than
// the process has slots in C (gate.MaxInKernel), the waits without a slot
// sleep in the process's futex watch (gate.FutexWait), not polling with
// the kit's backoff: each waits there about once, a post from C or from Go
// wakes each, and a deadline or Close ends an idle wait too.
func TestIdleWaitersWakeWithoutPolling(t *testing.T) {
	const extra = 8
	n := gate.MaxInKernel + extra
	ss, names := make([]*sem.Sem, n), make([]string, n)
	for i := range ss {
		ss[i], names[i] = newNamed(t, 0)
	}
	ctx := ctxTimeout(t, 20*time.Second)
	type got struct {
		i   int
		err error
	}
	res := make(chan got, n)
	before := gate.IdleWaits()
	for i, s := range ss {
		go func() { res <- got{i, s.Wait(ctx)} }()
	}
	idle := testutil.IdleOnce(t, gate.IdleWaits, before, extra, "the futex watch")
	t0 := time.Now()
	for i, s := range ss {
		if i%2 == 0 {
			_, err := runPeer(t, "post", names[i], "1") // glibc's sem_post in another process
			require.NoError(t, err)
		} else {
			require.NoError(t, s.Post())
		}
	}
	seen := make([]bool, n)
	for range n {
		select {
		case g := <-res:
			require.NoError(t, g.err)
			seen[g.i] = true
		case <-time.After(5 * time.Second):
			t.Fatal("a waiter did not get its unit")
		}
	}
	t.Logf("%d waits, %d of them idle, all woken %v after the first post", n, idle, time.Since(t0))
	for i, s := range ss {
		v, err := s.Value()
		require.NoError(t, err)
		assert.Zero(t, v, "semaphore %d: its one unit was taken once", i)
		assert.True(t, seen[i])
	}

	// A deadline and Close end waits, the idle ones among them.
	testutil.EndWaits(t, ctx, n, func(c context.Context, i int) error { return ss[i].Wait(c) },
		func(i int) { ss[i].Close() }, sem.ErrDeadline)
}

// TestIdleWaitBesideC: a Go Wait in the futex watch and a C sem_wait on
// one semaphore share its units as two waiters of glibc's algorithm: of
// two posts each gets one (the watch counts itself in, so each post wakes
// a sleeper), and a Go wait that gives up leaves the C waiter its unit.
func TestIdleWaitBesideC(t *testing.T) {
	blockSlots(t)
	s, n := newNamed(t, 0)
	for round := 0; round < 3; round++ {
		cw, err := peer.Command("sempeer", "wait", n, "1", "5000")
		require.NoError(t, err)
		out := make(chan []byte, 1)
		go func() {
			b, _ := cw.Output()
			out <- b
		}()
		time.Sleep(50 * time.Millisecond) // the C waiter sleeps
		before := gate.IdleWaits()
		gw := make(chan error, 1)
		ctx := ctxTimeout(t, 5*time.Second)
		go func() { gw <- s.Wait(ctx) }()
		time.Sleep(50 * time.Millisecond)
		require.Equal(t, int64(1), gate.IdleWaits()-before, "the Go wait is in the futex watch")
		require.NoError(t, s.Post())
		require.NoError(t, s.Post())
		select {
		case err := <-gw:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("the Go waiter did not get a unit")
		}
		select {
		case b := <-out:
			require.Equal(t, "ok\n", string(b))
		case <-time.After(6 * time.Second):
			t.Fatal("the C waiter did not get a unit")
		}

		// A Go wait that gives up in the watch: the next post is the C waiter's.
		cw, err = peer.Command("sempeer", "wait", n, "1", "5000")
		require.NoError(t, err)
		go func() {
			b, _ := cw.Output()
			out <- b
		}()
		time.Sleep(50 * time.Millisecond)
		short, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		err = s.Wait(short)
		cancel()
		require.ErrorIs(t, err, sem.ErrDeadline)
		require.NoError(t, s.Post())
		select {
		case b := <-out:
			require.Equal(t, "ok\n", string(b))
		case <-time.After(6 * time.Second):
			t.Fatal("the C waiter did not get the unit a Go wait gave up")
		}
	}
}
