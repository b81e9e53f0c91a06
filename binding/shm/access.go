//go:build linux && cgo

package shm

// The fault-safe accessors: bounds, alignment and SIGBUS/SIGSEGV turned into errors.

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"syscall"
	"unsafe"

	"github.com/posixipc/posixipc/internal/mem"
)

// FaultError reports a memory fault (SIGBUS or SIGSEGV) in a safe accessor:
// the object was truncated below the mapping by a peer. It unwraps to
// syscall.EFAULT.
type FaultError struct{ Addr uintptr }

func (e *FaultError) Error() string {
	return fmt.Sprintf("memory fault at %#x (was the object truncated by a peer, or is its filesystem full?)", e.Addr)
}

// Unwrap returns syscall.EFAULT.
func (e *FaultError) Unwrap() error { return syscall.EFAULT }

// enter read-locks s and checks that [off, off+n) is inside the mapping and
// aligned to align. On success the caller must RUnlock.
func (s *Segment) enter(op string, off int64, n int, align int64) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return &fs.PathError{Op: op, Path: s.name, Err: os.ErrClosed}
	}
	if off < 0 || off > int64(len(s.data)) || int64(n) > int64(len(s.data))-off {
		size := len(s.data)
		s.mu.RUnlock()
		return &fs.PathError{Op: op, Path: s.name, Err: fmt.Errorf("%d bytes at offset %d are outside the %d-byte segment: %w", n, off, size, syscall.EINVAL)}
	}
	if align > 1 && off%align != 0 {
		s.mu.RUnlock()
		return &fs.PathError{Op: op, Path: s.name, Err: fmt.Errorf("offset %d is not %d-byte aligned: %w", off, align, syscall.EINVAL)}
	}
	return nil
}

// leave ends an accessor: it unlocks s and turns a memory fault recovered
// under SetPanicOnFault into *err.
func (s *Segment) leave(op string, err *error) {
	r := recover()
	s.mu.RUnlock()
	if r == nil {
		return
	}
	if f, ok := r.(interface{ Addr() uintptr }); ok {
		*err = &fs.PathError{Op: op, Path: s.name, Err: &FaultError{Addr: f.Addr()}}
		return
	}
	panic(r)
}

// ReadAt copies len(p) bytes at off into p (io.ReaderAt): fewer, with io.EOF,
// at the end of the segment.
func (s *Segment) ReadAt(p []byte, off int64) (n int, err error) {
	if err := s.enter("read", off, 0, 1); err != nil {
		return 0, err
	}
	defer s.leave("read", &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	n = copy(p, s.data[off:])
	if n < len(p) {
		err = io.EOF
	}
	return n, err
}

// WriteAt copies p into the segment at off (io.WriterAt). A write that does
// not fit writes nothing and fails with an error wrapping syscall.EINVAL.
func (s *Segment) WriteAt(p []byte, off int64) (n int, err error) {
	if err := s.enter("write", off, len(p), 1); err != nil {
		return 0, err
	}
	defer s.leave("write", &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	n = copy(s.data[off:], p)
	return n, nil
}

func (s *Segment) u32(off int64) *uint32 { return (*uint32)(unsafe.Pointer(&s.data[off])) }

func (s *Segment) u64(off int64) *uint64 { return (*uint64)(unsafe.Pointer(&s.data[off])) }

// LoadUint32 atomically loads the 4-byte-aligned uint32 at off.
func (s *Segment) LoadUint32(off int64) (v uint32, err error) {
	if err := s.enter("load", off, 4, 4); err != nil {
		return 0, err
	}
	defer s.leave("load", &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return mem.Load32(s.u32(off)), nil
}

// StoreUint32 atomically stores v at the 4-byte-aligned offset off.
func (s *Segment) StoreUint32(off int64, v uint32) (err error) {
	if err := s.enter("store", off, 4, 4); err != nil {
		return err
	}
	defer s.leave("store", &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	mem.Store32(s.u32(off), v)
	return nil
}

// AddUint32 atomically adds delta to the uint32 at off and returns the new value.
func (s *Segment) AddUint32(off int64, delta uint32) (v uint32, err error) {
	if err := s.enter("add", off, 4, 4); err != nil {
		return 0, err
	}
	defer s.leave("add", &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return mem.Add32(s.u32(off), delta), nil
}

// CompareAndSwapUint32 atomically replaces old by new at off.
func (s *Segment) CompareAndSwapUint32(off int64, old, new uint32) (swapped bool, err error) {
	if err := s.enter("cas", off, 4, 4); err != nil {
		return false, err
	}
	defer s.leave("cas", &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return mem.CAS32(s.u32(off), old, new), nil
}

// LoadUint64 atomically loads the 8-byte-aligned uint64 at off.
func (s *Segment) LoadUint64(off int64) (v uint64, err error) {
	if err := s.enter("load", off, 8, 8); err != nil {
		return 0, err
	}
	defer s.leave("load", &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return mem.Load64(s.u64(off)), nil
}

// StoreUint64 atomically stores v at the 8-byte-aligned offset off.
func (s *Segment) StoreUint64(off int64, v uint64) (err error) {
	if err := s.enter("store", off, 8, 8); err != nil {
		return err
	}
	defer s.leave("store", &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	mem.Store64(s.u64(off), v)
	return nil
}

// AddUint64 atomically adds delta to the uint64 at off and returns the new value.
func (s *Segment) AddUint64(off int64, delta uint64) (v uint64, err error) {
	if err := s.enter("add", off, 8, 8); err != nil {
		return 0, err
	}
	defer s.leave("add", &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return mem.Add64(s.u64(off), delta), nil
}

// CompareAndSwapUint64 atomically replaces old by new at off.
func (s *Segment) CompareAndSwapUint64(off int64, old, new uint64) (swapped bool, err error) {
	if err := s.enter("cas", off, 8, 8); err != nil {
		return false, err
	}
	defer s.leave("cas", &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return mem.CAS64(s.u64(off), old, new), nil
}

// Prefault makes the pages of [off, off+n) present, through the fault-safe
// path, before C code touches them: it writes each page (an atomic add of
// 0, which changes no byte) so that a page the filesystem cannot back (a
// full /dev/shm under a segment a peer created without reserving it) or
// that a peer truncated away is an error wrapping syscall.EFAULT here
// rather than a SIGBUS inside C. The objects placed in a segment (binding/sem,
// binding/pthread) call it before they hand their bytes to glibc.
func (s *Segment) Prefault(off int64, n int) (err error) {
	if err := s.enter("prefault", off, n, 1); err != nil {
		return err
	}
	defer s.leave("prefault", &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	if n == 0 {
		return nil
	}
	page := int64(os.Getpagesize())
	first := off &^ 3
	last := (off + int64(n) - 1) &^ 3
	for a := first; ; a = (a + page) &^ (page - 1) {
		if a > last {
			a = last
		}
		mem.Add32(s.u32(a), 0)
		if a == last {
			return nil
		}
	}
}
