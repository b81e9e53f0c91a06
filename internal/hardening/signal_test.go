//go:build linux && cgo

package hardening

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/pthread"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// flood sends SIGURG (Go's preemption signal) and SIGUSR1 to every thread of
// this process, round after round, until stop is closed; it returns the
// number of signals sent. A goroutine spinning on the CPU meanwhile makes the
// runtime preempt asynchronously too.
func flood(stop <-chan struct{}) (sent *atomic.Int64, done func()) {
	sent = new(atomic.Int64)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		pid := unix.Getpid()
		for {
			select {
			case <-stop:
				return
			default:
			}
			tasks, _ := os.ReadDir("/proc/self/task")
			for _, task := range tasks {
				tid, err := strconv.Atoi(task.Name())
				if err != nil {
					continue
				}
				for _, sig := range []unix.Signal{unix.SIGURG, unix.SIGUSR1} {
					if unix.Tgkill(pid, tid, sig) == nil {
						sent.Add(1)
					}
				}
			}
			time.Sleep(50 * time.Microsecond)
		}
	}()
	go func() { // CPU-bound: the scheduler preempts it with signals
		defer wg.Done()
		x := 0
		for {
			select {
			case <-stop:
				return
			default:
			}
			for i := 0; i < 1e5; i++ {
				x += i
			}
			runtime.KeepAlive(x)
		}
	}()
	return sent, wg.Wait
}

// TestSignalFlood runs blocking semaphore waits, queue receives, robust-mutex
// locks and condvar waits against a C peer while every thread of this
// process receives a stream of SIGURG and SIGUSR1 (EINTR for any system call
// that is not restarted). No call may fail spuriously, and no unit or message
// may be lost or duplicated.
func TestSignalFlood(t *testing.T) {
	testutil.CheckFDs(t)
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1) // handled: otherwise SIGUSR1 kills
	defer signal.Stop(usr1)

	const n = 3000
	s := newSync(t)
	semName, sm := newSem(t, 0)
	qName, q := newQueue(t, 10)

	stop := make(chan struct{})
	sent, stopped := flood(stop)
	defer func() {
		close(stop)
		stopped()
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	feeder := startC(t, "feed", semName, qName, strconv.Itoa(n))
	counter := startC(t, "lock-count", s.name, strconv.Itoa(n))
	ponger := startC(t, "pingpong", s.name, strconv.Itoa(n))

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	wg.Add(4)
	go func() { // semaphore units, one at a time, all blocking waits
		defer wg.Done()
		for i := 0; i < n; i++ {
			if err := sm.Wait(ctx); err != nil {
				errs <- fmt.Errorf("sem wait %d: %w", i, err)
				return
			}
		}
	}()
	go func() { // messages, in order
		defer wg.Done()
		buf := make([]byte, 64)
		for i := 0; i < n; i++ {
			k, _, err := q.Receive(ctx, buf)
			if err != nil {
				errs <- fmt.Errorf("receive %d: %w", i, err)
				return
			}
			if string(buf[:k]) != strconv.Itoa(i) {
				errs <- fmt.Errorf("message %d is %q", i, buf[:k])
				return
			}
		}
	}()
	go func() { // the counter, against the C peer's lock-count
		defer wg.Done()
		for i := 0; i < n; i++ {
			if err := s.m.Lock(ctx); err != nil {
				errs <- fmt.Errorf("lock %d: %w", i, err)
				return
			}
			*s.u64(pthread.LayoutCounter)++
			if err := s.m.Unlock(); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() { // side 0 of the condvar ping-pong with the C peer
		defer wg.Done()
		turn := s.u64(pthread.LayoutTurn)
		for i := 0; i < n; i++ {
			if err := s.m.Lock(ctx); err != nil {
				errs <- fmt.Errorf("pingpong lock %d: %w", i, err)
				return
			}
			for atomic.LoadUint64(turn)%2 != 0 {
				if err := s.c.Wait(ctx, s.m); err != nil {
					s.m.Unlock()
					errs <- fmt.Errorf("cond wait %d: %w", i, err)
					return
				}
			}
			atomic.AddUint64(turn, 1)
			s.c.Signal()
			if err := s.m.Unlock(); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, p := range []*proc{feeder, counter, ponger} {
		p.Expect(t, "done "+strconv.Itoa(n))
		p.WaitOK(t)
	}
	assert.EqualValues(t, 2*n, *s.u64(pthread.LayoutCounter))
	assert.EqualValues(t, 2*n, *s.u64(pthread.LayoutTurn))
	require.ErrorIs(t, sm.TryWait(), syscall.EAGAIN, "no extra unit")
	_, _, err := q.TryReceive(make([]byte, 64))
	require.ErrorIs(t, err, syscall.EAGAIN, "no extra message")
	t.Logf("%d signals sent during %d x 4 blocking calls", sent.Load(), n)
	assert.Positive(t, sent.Load())
}
