//go:build linux && cgo

package pthread_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/pthread"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newRW(t *testing.T, s *syncSeg) *pthread.RWMutex {
	rw, err := pthread.NewRWMutex(s.seg, pthread.LayoutRWLock, nil)
	require.NoError(t, err)
	t.Cleanup(func() { rw.Close() })
	return rw
}

// Readers and writers of Go and C share one rwlock: readers never see a
// half-done write, and no write is lost.
func TestRWMutexCrossProcess(t *testing.T) {
	s := newSync(t)
	rw := newRW(t, s)
	const n = 2000
	w := startC(t, s, "rwwrite", strconv.Itoa(n))
	r := startC(t, s, "rwread", strconv.Itoa(n))
	a, b := s.u64(pthread.LayoutA), s.u64(pthread.LayoutB)
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < n/2; i++ {
				if err := rw.Lock(bg); err != nil {
					t.Error(err)
					return
				}
				v := *a
				*a = v + 1
				for k := 0; k < 20; k++ {
					_ = *b
				}
				*b = v + 1
				rw.Unlock()
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				if err := rw.RLock(bg); err != nil {
					t.Error(err)
					return
				}
				if x, y := *a, *b; x != y {
					t.Errorf("torn read: a=%d b=%d", x, y)
				}
				rw.RUnlock()
			}
		}()
	}
	wg.Wait()
	w.Expect(t, "ok")
	r.Expect(t, "ok")
	w.WaitOK(t)
	r.WaitOK(t)
	assert.Equal(t, uint64(2*n), *a)
	assert.Equal(t, *a, *b)
}

func TestRWMutexRules(t *testing.T) {
	s := newSync(t)
	rw := newRW(t, s)
	other, err := pthread.RWMutexAt(s.seg, pthread.LayoutRWLock)
	require.NoError(t, err)
	defer other.Close()

	assert.ErrorIs(t, rw.RUnlock(), syscall.EPERM)
	assert.ErrorIs(t, rw.Unlock(), syscall.EPERM)

	require.NoError(t, rw.Lock(bg))
	assert.ErrorIs(t, other.TryLock(), syscall.EBUSY)
	assert.ErrorIs(t, other.TryRLock(), syscall.EBUSY)
	done := make(chan error)
	go func() { done <- rw.Unlock() }()
	assert.ErrorIs(t, <-done, syscall.EPERM, "write unlock from another goroutine")
	require.NoError(t, rw.Unlock())

	// Read locks are shared and may be released by any goroutine.
	require.NoError(t, rw.RLock(bg))
	require.NoError(t, other.TryRLock())
	assert.ErrorIs(t, rw.TryLock(), syscall.EBUSY)
	go func() { done <- rw.RUnlock() }()
	require.NoError(t, <-done)
	require.NoError(t, other.RUnlock())

	// A C writer holds it: readers and writers time out and cancel.
	p := startC(t, s, "rwhold", "w")
	p.Expect(t, "locked")
	ctx, cancel := context.WithTimeout(bg, 30*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, rw.RLock(ctx), context.DeadlineExceeded)
	ctx2, cancel2 := context.WithCancel(bg)
	go func() { time.Sleep(15 * time.Millisecond); cancel2() }()
	t0 := time.Now()
	assert.ErrorIs(t, rw.Lock(ctx2), context.Canceled)
	t.Logf("cancelled write lock returned %v after the cancel", time.Since(t0)-15*time.Millisecond)

	// Close with blocked readers and writers.
	errs := make(chan error, 4)
	for i := 0; i < 2; i++ {
		go func() { errs <- other.RLock(bg) }()
		go func() { errs <- other.Lock(bg) }()
	}
	time.Sleep(30 * time.Millisecond)
	require.NoError(t, other.Close())
	for i := 0; i < 4; i++ {
		assert.ErrorIs(t, <-errs, os.ErrClosed)
	}
	p.Kill9(t) // the rwlock is not robust: it stays write-locked
	assert.ErrorIs(t, rw.TryRLock(), syscall.EBUSY)
}
