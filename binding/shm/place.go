//go:build linux && cgo

package shm

// Placing objects (semaphores, pthread mutexes, condvars, rwlocks) in a
// segment: the one check, pin and prefault that sem and pthread share.

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"unsafe"
)

// PlaceName is how errors and Name call an object placed at off in the
// segment named seg: "SEG@OFF".
func PlaceName(seg string, off int64) string { return fmt.Sprintf("%s@%d", seg, off) }

// Place makes room for an object of size bytes aligned to align at offset
// off of s, for a package that puts C objects in shared memory (sem,
// pthread): it checks that the object fits (an error wrapping
// syscall.EINVAL names the rule broken), pins the segment (Unpin when the
// object's handle goes), and touches the bytes through the fault-safe path
// (a full /dev/shm or a truncation is an error here, not a SIGBUS inside C
// later). It returns the object's name ("SEG@OFF", PlaceName) and its
// address in the mapping, valid while the pin is held. op is the Op of its
// errors (*fs.PathError).
func (s *Segment) Place(op string, off int64, size, align int) (string, unsafe.Pointer, error) {
	if s == nil {
		return "", nil, &fs.PathError{Op: op, Path: "<nil segment>", Err: fmt.Errorf("nil *shm.Segment: %w", syscall.EINVAL)}
	}
	nm := PlaceName(s.Name(), off)
	switch {
	case off < 0:
		return nm, nil, &fs.PathError{Op: op, Path: nm, Err: fmt.Errorf("offset %d is negative: %w", off, syscall.EINVAL)}
	case align > 0 && off%int64(align) != 0:
		return nm, nil, &fs.PathError{Op: op, Path: nm, Err: fmt.Errorf("offset %d is not a multiple of the alignment %d: %w", off, align, syscall.EINVAL)}
	case off > int64(s.Size()-size):
		return nm, nil, &fs.PathError{Op: op, Path: nm, Err: fmt.Errorf("%d bytes at offset %d do not fit the %d-byte segment: %w", size, off, s.Size(), syscall.EINVAL)}
	}
	if err := s.Pin(); err != nil {
		return nm, nil, err
	}
	b := s.Bytes()
	if int64(len(b)) < off+int64(size) { // closed or shrunk in between
		s.Unpin()
		return nm, nil, &fs.PathError{Op: op, Path: nm, Err: fmt.Errorf("the segment is too small: %w", syscall.EINVAL)}
	}
	if err := s.Prefault(off, size); err != nil {
		s.Unpin()
		return nm, nil, &fs.PathError{Op: op, Path: nm, Err: errors.Unwrap(err)}
	}
	return nm, unsafe.Pointer(&b[off]), nil
}
