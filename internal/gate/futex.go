//go:build linux && cgo

package gate

// The futex watch: the idle wait (SetIdle) of kits whose calls wait on a
// futex word in shared memory (semaphores, rings). A call that finds none
// of the process's MaxInKernel slots in C registers its word and the value
// it waits to see change with the process's one watcher goroutine, which
// sleeps in futex_waitv (posixipc.FutexWatch) on every registered word
// and its own kick word, and wakes a call when its word is woken or no
// longer holds the value; the call then tries again. So MaxInKernel calls
// wait in C on a thread each, up to posixipc.WatchMax more on one thread
// between them, and only past those does a call poll.
//
// A word's wake-up may reach the watcher after the call that registered
// it has left (a sem_post wakes one waiter, and the watcher's sleep on the
// word lasts until it is kicked to re-arm): the watcher passes every such
// wake-up on to the word's other sleepers, as a glibc waiter that gives up
// does. One thread holds the watch while any word is watched; the watcher
// goroutine ends when none is.

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/posixipc/posixipc"
	"golang.org/x/sys/unix"
)

// An fwatch is one registered word.
type fwatch struct {
	word   *uint32
	val    uint32
	shared bool
	done   chan struct{} // closed when the word may have moved
	in     bool          // in watcher.set (under watcher.mu)
}

var watcher struct {
	mu      sync.Mutex
	set     []*fwatch
	w       posixipc.Waiter // the watcher's kick word
	running bool
	missing bool // no futex_waitv: the calls poll
}

// FutexWait is the idle wait of a kit whose calls wait for the 32-bit
// word at word (in a mapping that stays mapped while the call runs;
// shared: a shared futex) to move from val: it returns nil once the word
// may no longer hold val (the kit then tries the call again), the
// context's error when ctx is done, os.ErrClosed when the kit is closed,
// and os.ErrInvalid when it cannot watch (no futex_waitv, WatchMax words
// watched already): the kit then polls.
func (k *Kit[W]) FutexWait(ctx context.Context, word *uint32, val uint32, shared bool) error {
	w := &fwatch{word: word, val: val, shared: shared, done: make(chan struct{})}
	if err := watchAdd(w); err != nil {
		return err
	}
	idleWaits.Add(1)
	var err error
	select {
	case <-w.done:
	case <-ctx.Done():
		err = ctx.Err()
	case <-k.closed:
		err = os.ErrClosed
	}
	watchRemove(w)
	return err
}

func watchAdd(w *fwatch) error {
	watcher.mu.Lock()
	defer watcher.mu.Unlock()
	if watcher.missing || len(watcher.set) >= posixipc.WatchMax {
		return os.ErrInvalid
	}
	if !watcher.w.Valid() {
		kw, err := posixipc.NewWaiter()
		if err != nil {
			return os.ErrInvalid
		}
		watcher.w = kw
	}
	w.in = true
	watcher.set = append(watcher.set, w)
	if !watcher.running {
		watcher.running = true
		go watchLoop()
	} else {
		watcher.w.Kick(false) // re-arm with the new word
	}
	return nil
}

// watchRemove takes w out of the set, if it is still in it, and kicks
// the watcher so that it stops sleeping on w's word.
func watchRemove(w *fwatch) {
	watcher.mu.Lock()
	defer watcher.mu.Unlock()
	if !w.in {
		return
	}
	drop(w)
	watcher.w.Kick(false)
}

// drop takes w out of the set (watcher.mu held).
func drop(w *fwatch) {
	w.in = false
	for i, x := range watcher.set {
		if x == w {
			last := len(watcher.set) - 1
			watcher.set[i] = watcher.set[last]
			watcher.set[last] = nil
			watcher.set = watcher.set[:last]
			return
		}
	}
}

// watchLoop is the watcher: it sleeps on the set's words until one is
// woken or moves, or the set changes, and wakes the calls whose words
// moved. It ends when the set is empty (the next watchAdd starts it).
func watchLoop() {
	var armed []*fwatch
	var addrs []uint64
	var vals, shared []uint32
	for {
		watcher.mu.Lock()
		if len(watcher.set) == 0 {
			watcher.running = false
			watcher.mu.Unlock()
			return
		}
		armed = append(armed[:0], watcher.set...)
		addrs, vals, shared = addrs[:0], vals[:0], shared[:0]
		for _, w := range armed {
			addrs = append(addrs, uint64(uintptr(unsafe.Pointer(w.word))))
			vals = append(vals, w.val)
			sh := uint32(0)
			if w.shared {
				sh = 1
			}
			shared = append(shared, sh)
		}
		watcher.mu.Unlock()

		woke, err := posixipc.FutexWatch(addrs, vals, shared, watcher.w)

		watcher.mu.Lock()
		for i, w := range armed {
			switch {
			case !w.in:
				// Its call has left: a wake-up that came to the watcher
				// on its word is another sleeper's.
				passOn(w)
			case err == syscall.ENOSYS || err == syscall.EFAULT || (err == nil && woke == i) ||
				atomic.LoadUint32(w.word) != w.val: // (registered: still mapped)
				drop(w)
				close(w.done)
			}
		}
		if err == syscall.ENOSYS {
			watcher.missing = true
		}
		watcher.mu.Unlock()
	}
}

// FUTEX_WAKE and FUTEX_PRIVATE_FLAG (linux/futex.h).
const (
	futexWake    = 1
	futexPrivate = 128
)

// passOn wakes one sleeper on w's word (the word may be unmapped by now:
// the system call then fails, harmlessly).
func passOn(w *fwatch) {
	op := uintptr(futexWake)
	if !w.shared {
		op |= futexPrivate
	}
	unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(w.word)), op, 1, 0, 0, 0)
}
