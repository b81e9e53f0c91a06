// Package shm maps shared memory that C programs share: POSIX shared memory
// objects (shm_open), System V segments and file mappings, all as a Segment.
//
// Model: a Segment owns one mapping. Objects placed in it (unnamed semaphores,
// process-shared mutexes) Pin it while they are open, and Close refuses to
// unmap a pinned segment (it returns an error wrapping syscall.EBUSY), so no
// object is ever used after its memory is gone.
package shm

import (
	"fmt"
	"io/fs"
	"os"
	"sync"
	"syscall"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/internal/name"
	"golang.org/x/sys/unix"
)

// Segment is one mapping of shared memory.
type Segment struct {
	name string // "/name" for POSIX objects, a path for files, "" otherwise

	mu     sync.Mutex
	data   []byte
	pins   int
	closed bool
}

// Create creates the POSIX shared memory object name (shm_open with
// O_CREAT|O_EXCL), sizes it to size bytes and maps it.
func Create(n string, size int, perm os.FileMode) (*Segment, error) {
	cn, err := name.Canonical(n)
	if err != nil {
		return nil, &fs.PathError{Op: "shm_open", Path: n, Err: err}
	}
	if size <= 0 {
		return nil, &fs.PathError{Op: "shm_open", Path: cn, Err: fmt.Errorf("size %d: must be positive: %w", size, syscall.EINVAL)}
	}
	fd, err := posixipc.ShmOpen(cn, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return nil, &fs.PathError{Op: "shm_open", Path: cn, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		posixipc.ShmUnlink(cn)
		return nil, &fs.PathError{Op: "ftruncate", Path: cn, Err: err}
	}
	return mapFD(cn, fd, size)
}

// Open maps the existing POSIX shared memory object name, whole.
func Open(n string) (*Segment, error) {
	cn, err := name.Canonical(n)
	if err != nil {
		return nil, &fs.PathError{Op: "shm_open", Path: n, Err: err}
	}
	fd, err := posixipc.ShmOpen(cn, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "shm_open", Path: cn, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "fstat", Path: cn, Err: err}
	}
	if st.Size == 0 {
		return nil, &fs.PathError{Op: "shm_open", Path: cn, Err: fmt.Errorf("segment has size 0 (not initialised yet): %w", syscall.EINVAL)}
	}
	return mapFD(cn, fd, int(st.Size))
}

// Unlink removes the POSIX shared memory object name (shm_unlink).
func Unlink(n string) error {
	cn, err := name.Canonical(n)
	if err != nil {
		return &fs.PathError{Op: "shm_unlink", Path: n, Err: err}
	}
	if err := posixipc.ShmUnlink(cn); err != nil {
		return &fs.PathError{Op: "shm_unlink", Path: cn, Err: err}
	}
	return nil
}

func mapFD(n string, fd, size int) (*Segment, error) {
	b, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, &fs.PathError{Op: "mmap", Path: n, Err: err}
	}
	return &Segment{name: n, data: b}, nil
}

// Name returns the segment's name ("" when it has none).
func (s *Segment) Name() string { return s.name }

// Bytes returns the mapped memory. It is valid until Close.
func (s *Segment) Bytes() []byte { return s.data }

// Size returns the mapped size in bytes.
func (s *Segment) Size() int { return len(s.data) }

// Pin marks the segment as used by an object placed in it; Close refuses to
// unmap it until every Pin is matched by Unpin. It fails on a closed segment.
func (s *Segment) Pin() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return &fs.PathError{Op: "pin", Path: s.name, Err: os.ErrClosed}
	}
	s.pins++
	return nil
}

// Unpin undoes one Pin.
func (s *Segment) Unpin() {
	s.mu.Lock()
	s.pins--
	s.mu.Unlock()
}

// Close unmaps the segment. It is idempotent. It fails with an error wrapping
// syscall.EBUSY while objects placed in the segment are still open.
func (s *Segment) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if s.pins > 0 {
		return &fs.PathError{Op: "close", Path: s.name, Err: fmt.Errorf("%d objects placed in the segment are still open (close them first): %w", s.pins, syscall.EBUSY)}
	}
	s.closed = true
	err := unix.Munmap(s.data)
	s.data = nil
	if err != nil {
		return &fs.PathError{Op: "munmap", Path: s.name, Err: err}
	}
	return nil
}
