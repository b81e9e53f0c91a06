//go:build linux && cgo

package pthread_test

import (
	"errors"
	"io/fs"
	"syscall"
	"testing"

	"github.com/posixipc/posixipc/binding/pthread"
)

// FuzzPlacement feeds arbitrary offsets and options to NewMutex, MutexAt,
// NewCond and NewRWMutex: each either works or fails with a *fs.PathError
// wrapping EINVAL, never crashes, and leaves the segment unpinned.
func FuzzPlacement(f *testing.F) {
	f.Add(int64(0), uint8(0), false, false)
	f.Add(int64(8), uint8(2), true, true)
	f.Add(int64(3), uint8(1), false, true)
	f.Add(int64(-8), uint8(0), false, false)
	f.Add(int64(4096-pthread.SizeofMutex), uint8(0), false, false)
	f.Add(int64(4096-pthread.SizeofMutex+8), uint8(0), false, false)
	f.Add(int64(1)<<62, uint8(9), true, false)
	seg := newSeg(f, 4096)
	f.Fuzz(func(t *testing.T, off int64, typ uint8, stalled, attach bool) {
		o := int(off)
		check := func(what string, err error) bool {
			if err == nil {
				return true
			}
			var pe *fs.PathError
			if !errors.As(err, &pe) || !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("%s(%d): %v is not a *fs.PathError wrapping EINVAL", what, o, err)
			}
			return false
		}
		var m *pthread.Mutex
		var err error
		if attach {
			m, err = pthread.MutexAt(seg, int64(o))
		} else {
			m, err = pthread.NewMutex(seg, int64(o), &pthread.MutexOptions{Type: pthread.MutexType(typ), Stalled: stalled})
		}
		if check("mutex", err) {
			if err := m.Lock(bg); err != nil {
				t.Fatalf("Lock at %d: %v", o, err)
			}
			if err := m.Unlock(); err != nil {
				t.Fatalf("Unlock at %d: %v", o, err)
			}
			m.Close()
		}
		if c, err := pthread.NewCond(seg, int64(o)); check("cond", err) {
			c.Broadcast()
			c.Close()
		}
		if rw, err := pthread.NewRWMutex(seg, int64(o), &pthread.RWMutexOptions{PreferWriter: stalled}); check("rwlock", err) {
			rw.Close()
		}
		// Zero the bytes again so that the next attach sees no object.
		if o >= 0 && o < seg.Size() {
			clear(seg.Bytes()[o:min(o+pthread.LayoutSize, seg.Size())])
		}
	})
}

// Lock and Unlock allocate nothing.
func TestLockUnlockAllocs(t *testing.T) {
	s := newSync(t)
	allocs := testing.AllocsPerRun(1000, func() {
		s.m.Lock(bg)
		s.m.Unlock()
	})
	if allocs != 0 {
		t.Errorf("Lock+Unlock: %v allocs/op, want 0", allocs)
	}
	allocs = testing.AllocsPerRun(1000, func() {
		s.m.TryLock()
		s.m.Unlock()
	})
	if allocs != 0 {
		t.Errorf("TryLock+Unlock: %v allocs/op, want 0", allocs)
	}
}
