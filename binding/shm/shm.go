//go:build linux && cgo

// Package shm maps shared memory that C programs share: POSIX shared memory
// objects (shm_open), System V segments (shmget/shmat) and file mappings, all
// as a Segment.
//
// # Model
//
// A Segment owns one mapping, read-write and MAP_SHARED, at the address the
// kernel chose. Its layout is the C program's: nothing is added to it.
//
//   - Creation is published whole: Create and CreateWith build the POSIX
//     object unnamed (O_TMPFILE in /dev/shm, glibc's shm_open directory),
//     size it, run the caller's initialisation and only then give it its name
//     with linkat, which fails with EEXIST like shm_open's O_EXCL. A peer that
//     opens the name therefore never sees a half-made segment (glibc's
//     sem_open publishes named semaphores the same way). Where O_TMPFILE is
//     not available Create falls back to shm_open(O_CREAT|O_EXCL)+ftruncate,
//     and Open reports a segment still of size 0 with an error wrapping
//     syscall.EAGAIN.
//
//   - Opening never changes a segment's size: a segment smaller than asked
//     is an error wrapping syscall.EINVAL (OpenSize, OpenSysV, MapFile).
//
//   - Objects placed in a segment (unnamed semaphores, process-shared
//     mutexes) Pin it while they are open, and Close refuses to unmap a
//     pinned segment (an error wrapping syscall.EBUSY), so no object is used
//     after its memory is gone.
//
//   - The safe accessors (ReadAt, WriteAt, Load*/Store*/Add*/CompareAndSwap*)
//     check bounds and alignment and run under debug.SetPanicOnFault: when a
//     peer truncated the object below the mapping, they return an error
//     wrapping syscall.EFAULT instead of crashing with SIGBUS. Bytes gives
//     the raw memory without that protection.
//
//   - Creation reserves the backing store (fallocate): on a full or small
//     /dev/shm (Docker's default is 64 MiB) Create and MapFile fail with an
//     error wrapping syscall.ENOSPC instead of a later SIGBUS. Prefault
//     touches a range through the fault-safe path before C code uses it
//     (binding/sem and binding/pthread do so for the objects they place).
//
//   - Segment names may not begin with "sem.": glibc keeps the named
//     semaphore "/X" in /dev/shm/sem.X, which would be the segment
//     "/sem.X" (an error wrapping syscall.EINVAL, a *name.Error).
//
//   - The accessors' atomics are internal/mem's (assembly on amd64), so a
//     fault in them is recovered in race builds too (sync/atomic runs in
//     the race runtime on the system stack, where a fault is fatal).
//
// Trust: every process that can write the segment can change every byte
// the program reads from it; the accessors check bounds and alignment,
// never meaning. Who can write it is set by its permission bits (0600: one
// uid) and, in containers, by the IPC namespace (--ipc).
//
// A Segment is safe for concurrent use. Close waits for accessors in flight.
// Not supported: growing a mapping (remap), read-only mappings, huge pages,
// reserving System V segments (shmget sizes them; the kernel backs their
// pages on first touch).
package shm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/internal/name"
	"golang.org/x/sys/unix"
)

// Dir is where glibc's shm_open keeps POSIX shared memory objects: the object
// "/name" is the file Dir+"/name".
const Dir = "/dev/shm"

type kind uint8

const (
	kindPOSIX kind = iota
	kindSysV
	kindFile
)

// Segment is one mapping of shared memory.
type Segment struct {
	name  string // "/name" for POSIX objects, the path for files, "sysv:KEY" for System V
	kind  kind
	shmid int // System V identifier

	mu     sync.RWMutex // held for reading by accessors, for writing by Close and Pin
	data   []byte
	pins   int
	closed bool
}

// Create creates the POSIX shared memory object name of size bytes with the
// permission bits perm (less the umask) and maps it. It fails with an error
// wrapping syscall.EEXIST when the name exists. See CreateWith.
func Create(n string, size int, perm os.FileMode) (*Segment, error) {
	return CreateWith(n, size, perm, nil)
}

// CreateWith is Create with an initialisation step: init runs on the mapped,
// sized segment before the object gets its name, so no peer can open it
// before init returns. When init fails, nothing is created and its error is
// returned (init must close what it opened in the segment).
func CreateWith(n string, size int, perm os.FileMode, init func(*Segment) error) (*Segment, error) {
	cn, err := name.Segment(n)
	if err != nil {
		return nil, &fs.PathError{Op: "shm_open", Path: n, Err: err}
	}
	if err := checkSize(size); err != nil {
		return nil, &fs.PathError{Op: "shm_open", Path: cn, Err: err}
	}
	fd, err := unix.Open(Dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return createFallback(cn, size, perm, init)
	}
	defer unix.Close(fd)
	if err := reserve(fd, size); err != nil {
		return nil, &fs.PathError{Op: "fallocate", Path: cn, Err: err}
	}
	s, err := mapFD(cn, kindPOSIX, fd, size)
	if err != nil {
		return nil, err
	}
	if init != nil {
		if err := init(s); err != nil {
			s.forceClose()
			return nil, err
		}
	}
	// Publish: the name appears with the object whole, or not at all.
	dst := Dir + cn
	err = unix.Linkat(fd, "", unix.AT_FDCWD, dst, unix.AT_EMPTY_PATH)
	if err != nil && err != unix.EEXIST {
		err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, dst, unix.AT_SYMLINK_FOLLOW)
	}
	if err != nil {
		s.forceClose()
		return nil, &fs.PathError{Op: "shm_open", Path: cn, Err: err}
	}
	return s, nil
}

// createFallback creates with shm_open(O_CREAT|O_EXCL) and ftruncate: a
// peer may see the object at size 0 for a moment.
func createFallback(cn string, size int, perm os.FileMode, init func(*Segment) error) (*Segment, error) {
	fd, err := posixipc.ShmOpen(cn, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return nil, &fs.PathError{Op: "shm_open", Path: cn, Err: err}
	}
	defer unix.Close(fd)
	if err := reserve(fd, size); err != nil {
		posixipc.ShmUnlink(cn)
		return nil, &fs.PathError{Op: "fallocate", Path: cn, Err: err}
	}
	s, err := mapFD(cn, kindPOSIX, fd, size)
	if err != nil {
		posixipc.ShmUnlink(cn)
		return nil, err
	}
	if init != nil {
		if err := init(s); err != nil {
			s.forceClose()
			posixipc.ShmUnlink(cn)
			return nil, err
		}
	}
	return s, nil
}

// Open maps the existing POSIX shared memory object name (shm_open), whole.
// A segment of size 0 (its creator has not sized it yet) is an error
// wrapping syscall.EAGAIN.
func Open(n string) (*Segment, error) { return OpenSize(n, 0) }

// OpenSize maps the existing POSIX shared memory object name, whole, and
// fails with an error wrapping syscall.EINVAL when it is smaller than size
// bytes. It never changes the object's size.
func OpenSize(n string, size int) (*Segment, error) {
	cn, err := name.Segment(n)
	if err != nil {
		return nil, &fs.PathError{Op: "shm_open", Path: n, Err: err}
	}
	if size < 0 {
		return nil, &fs.PathError{Op: "shm_open", Path: cn, Err: fmt.Errorf("size %d is negative: %w", size, syscall.EINVAL)}
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
	if err := checkExisting(st.Size, size); err != nil {
		return nil, &fs.PathError{Op: "shm_open", Path: cn, Err: err}
	}
	return mapFD(cn, kindPOSIX, fd, int(st.Size))
}

// CreateOrOpen opens the POSIX shared memory object name when it exists (and
// is at least size bytes, see OpenSize) and creates it otherwise (Create).
func CreateOrOpen(n string, size int, perm os.FileMode) (*Segment, error) {
	for i := 0; ; i++ {
		s, err := Create(n, size, perm)
		if !errors.Is(err, syscall.EEXIST) {
			return s, err
		}
		s, err = OpenSize(n, size)
		// Unlinked between the two calls, or still being sized by a peer
		// that creates without O_TMPFILE: try again a few times.
		if (errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EAGAIN)) && i < 100 {
			time.Sleep(time.Millisecond)
			continue
		}
		return s, err
	}
}

// OpenFile is the general form of Open, OpenSize, Create and
// CreateOrOpen, in the argument order of every named object of the module
// (name, flag, perm, then the facility's own): flag 0 opens an existing
// segment of at least size bytes (size 0: any), os.O_CREATE opens or
// creates one, os.O_CREATE|os.O_EXCL creates one. perm is used only when
// the call creates. The segment is always mapped read and write, so the
// access mode must be os.O_RDWR or left out; other flags are errors
// wrapping syscall.EINVAL.
func OpenFile(n string, flag int, perm os.FileMode, size int) (*Segment, error) {
	if flag&^(os.O_CREATE|os.O_EXCL|os.O_RDWR) != 0 || flag&(os.O_CREATE|os.O_EXCL) == os.O_EXCL {
		return nil, &fs.PathError{Op: "shm_open", Path: n, Err: fmt.Errorf("flag %#x: want 0, os.O_CREATE or os.O_CREATE|os.O_EXCL (with os.O_RDWR or not): %w", flag, syscall.EINVAL)}
	}
	switch {
	case flag&os.O_EXCL != 0:
		return Create(n, size, perm)
	case flag&os.O_CREATE != 0:
		return CreateOrOpen(n, size, perm)
	}
	return OpenSize(n, size)
}

// Unlink removes the POSIX shared memory object name (shm_unlink). Mappings
// stay valid until closed.
func Unlink(n string) error {
	cn, err := name.Segment(n)
	if err != nil {
		return &fs.PathError{Op: "shm_unlink", Path: n, Err: err}
	}
	if err := posixipc.ShmUnlink(cn); err != nil {
		return &fs.PathError{Op: "shm_unlink", Path: cn, Err: err}
	}
	return nil
}

// Info describes a POSIX shared memory object.
type Info struct {
	Name    string      // "/name"
	Size    int64       // bytes
	Mode    os.FileMode // permission bits
	UID     int
	GID     int
	ModTime time.Time
}

// Stat describes the POSIX shared memory object name (shm_open read-only and
// fstat) without mapping it.
func Stat(n string) (Info, error) {
	cn, err := name.Segment(n)
	if err != nil {
		return Info{}, &fs.PathError{Op: "shm_open", Path: n, Err: err}
	}
	fd, err := posixipc.ShmOpen(cn, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Info{}, &fs.PathError{Op: "shm_open", Path: cn, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return Info{}, &fs.PathError{Op: "fstat", Path: cn, Err: err}
	}
	return Info{Name: cn, Size: st.Size, Mode: os.FileMode(st.Mode & 0o777), UID: int(st.Uid), GID: int(st.Gid),
		ModTime: time.Unix(st.Mtim.Unix())}, nil
}

// Remove marks a System V segment for removal (shmctl IPC_RMID by its
// identifier, so it works for private segments too): it goes when the last
// process detaches. For a POSIX object it is Unlink of its name; for a file
// mapping, os.Remove of the path. The mapping stays valid until Close.
func (s *Segment) Remove() error {
	switch s.kind {
	case kindSysV:
		if _, err := unix.SysvShmCtl(s.shmid, unix.IPC_RMID, nil); err != nil {
			return &fs.PathError{Op: "shmctl", Path: s.name, Err: err}
		}
		return nil
	case kindPOSIX:
		return Unlink(s.name)
	}
	return os.Remove(s.name)
}

// maxSize is the largest size accepted (the address space, not a promise that
// the system has the memory).
const maxSize = 1 << 46

func checkSize(size int) error {
	if size <= 0 {
		return fmt.Errorf("size %d: must be positive: %w", size, syscall.EINVAL)
	}
	if size > maxSize {
		return fmt.Errorf("size %d: larger than %d: %w", size, maxSize, syscall.EINVAL)
	}
	return nil
}

func checkExisting(have int64, want int) error {
	switch {
	case have == 0:
		return fmt.Errorf("segment has size 0 (its creator has not sized it yet): %w", syscall.EAGAIN)
	case have < int64(want):
		return fmt.Errorf("segment is %d bytes, smaller than the %d asked (opening never resizes): %w", have, want, syscall.EINVAL)
	case have > maxSize:
		return fmt.Errorf("segment is %d bytes, larger than %d: %w", have, maxSize, syscall.EFBIG)
	}
	return nil
}

// reserve sizes a new object to size bytes and reserves its backing store
// (fallocate), so that a full filesystem (a small /dev/shm in a container)
// fails here with ENOSPC instead of killing a process with SIGBUS at its
// first touch of a page. A filesystem without fallocate is only sized.
func reserve(fd, size int) error {
	err := unix.Fallocate(fd, 0, 0, int64(size))
	switch err {
	case nil:
		return nil
	case unix.EOPNOTSUPP, unix.ENOSYS:
		return unix.Ftruncate(fd, int64(size))
	case unix.ENOSPC:
		return fmt.Errorf("no room for %d bytes on the filesystem (a full or small /dev/shm: in Docker raise --shm-size): %w", size, err)
	}
	return err
}

func mapFD(n string, k kind, fd, size int) (*Segment, error) {
	b, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, &fs.PathError{Op: "mmap", Path: n, Err: err}
	}
	return &Segment{name: n, kind: k, data: b}, nil
}

// Name returns the segment's name: "/name" for a POSIX object, the absolute
// path for a file, "sysv:0xKEY" for a System V segment.
func (s *Segment) Name() string { return s.name }

// Bytes returns the mapped memory. It is valid until Close. Access through it
// is not protected against a peer truncating the object (SIGBUS); use the
// accessors for that.
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

// Unpin undoes one Pin. An Unpin without a matching Pin is refused with an
// error wrapping syscall.EINVAL and changes nothing: otherwise Close could
// unmap the memory under an object still in use.
func (s *Segment) Unpin() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pins <= 0 {
		return &fs.PathError{Op: "unpin", Path: s.name, Err: fmt.Errorf("more Unpin than Pin calls: %w", syscall.EINVAL)}
	}
	s.pins--
	return nil
}

// Sync flushes the mapping to its object (msync MS_SYNC): needed only for
// file mappings that must reach the disk.
func (s *Segment) Sync() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return &fs.PathError{Op: "msync", Path: s.name, Err: os.ErrClosed}
	}
	if s.kind == kindSysV {
		return nil
	}
	if err := unix.Msync(s.data, unix.MS_SYNC); err != nil {
		return &fs.PathError{Op: "msync", Path: s.name, Err: err}
	}
	return nil
}

// Close unmaps the segment (munmap, or shmdt for System V). It is idempotent.
// It fails with an error wrapping syscall.EBUSY while objects placed in the
// segment are still open. It does not remove the object (see Unlink).
func (s *Segment) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if s.pins > 0 {
		return &fs.PathError{Op: "close", Path: s.name, Err: fmt.Errorf("%d object(s) placed in the segment still open (close them first): %w", s.pins, syscall.EBUSY)}
	}
	return s.unmapLocked()
}

func (s *Segment) forceClose() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.unmapLocked()
	}
}

func (s *Segment) unmapLocked() error {
	s.closed = true
	var err error
	op := "munmap"
	if s.kind == kindSysV {
		op = "shmdt"
		err = unix.SysvShmDetach(s.data)
	} else {
		err = unix.Munmap(s.data)
	}
	s.data = nil
	if err != nil {
		return &fs.PathError{Op: op, Path: s.name, Err: err}
	}
	return nil
}
