//go:build linux && cgo

package shm

// System V shared memory segments (shmget, shmat) and their keys (ftok).

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/posixipc/posixipc"
	"golang.org/x/sys/unix"
)

// Ftok returns the System V key of path and projID (ftok(3)); projID's low
// 8 bits are used and must not be 0.
func Ftok(path string, projID int) (int, error) {
	if projID&0xff == 0 {
		return -1, &fs.PathError{Op: "ftok", Path: path, Err: fmt.Errorf("project id %d has low byte 0: %w", projID, syscall.EINVAL)}
	}
	k, err := posixipc.Ftok(path, projID)
	if err != nil {
		return -1, &fs.PathError{Op: "ftok", Path: path, Err: err}
	}
	return k, nil
}

// CreateSysV creates a System V segment of size bytes under key
// (shmget with IPC_CREAT|IPC_EXCL, or a new private segment for key 0,
// IPC_PRIVATE) and attaches it (shmat). The kernel zeroes it and sizes it
// at once, so no peer sees it half-made.
func CreateSysV(key int, size int, perm os.FileMode) (*Segment, error) {
	nm := sysvName(key)
	if err := checkSize(size); err != nil {
		return nil, &fs.PathError{Op: "shmget", Path: nm, Err: err}
	}
	id, err := unix.SysvShmGet(key, size, unix.IPC_CREAT|unix.IPC_EXCL|int(perm.Perm()))
	switch err {
	case nil:
	case unix.EINVAL:
		return nil, &fs.PathError{Op: "shmget", Path: nm, Err: fmt.Errorf("size %d is outside the system limits (raise kernel.shmmax in /proc/sys/kernel/shmmax): %w", size, err)}
	case unix.ENOSPC:
		return nil, &fs.PathError{Op: "shmget", Path: nm, Err: fmt.Errorf("system-wide limit reached (raise kernel.shmmni or kernel.shmall): %w", err)}
	default:
		return nil, &fs.PathError{Op: "shmget", Path: nm, Err: err}
	}
	s, err := attach(nm, id, 0)
	if err != nil {
		unix.SysvShmCtl(id, unix.IPC_RMID, nil)
	}
	return s, err
}

// OpenSysV attaches the existing System V segment key (shmget, shmat), whole.
// It fails with an error wrapping syscall.EINVAL when the segment is smaller
// than size bytes (size 0: any size).
func OpenSysV(key int, size int) (*Segment, error) {
	nm := sysvName(key)
	if size < 0 {
		return nil, &fs.PathError{Op: "shmget", Path: nm, Err: fmt.Errorf("size %d is negative: %w", size, syscall.EINVAL)}
	}
	id, err := unix.SysvShmGet(key, 0, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "shmget", Path: nm, Err: err}
	}
	return attach(nm, id, size)
}

// RemoveSysV marks the System V segment key for removal (shmctl IPC_RMID): it
// goes when the last process detaches.
func RemoveSysV(key int) error {
	nm := sysvName(key)
	id, err := unix.SysvShmGet(key, 0, 0)
	if err != nil {
		return &fs.PathError{Op: "shmget", Path: nm, Err: err}
	}
	if _, err := unix.SysvShmCtl(id, unix.IPC_RMID, nil); err != nil {
		return &fs.PathError{Op: "shmctl", Path: nm, Err: err}
	}
	return nil
}

func sysvName(key int) string { return fmt.Sprintf("sysv:%#x", uint32(key)) }

func attach(nm string, id, size int) (*Segment, error) {
	var ds unix.SysvShmDesc
	if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &ds); err != nil {
		return nil, &fs.PathError{Op: "shmctl", Path: nm, Err: err}
	}
	if err := checkExisting(int64(ds.Segsz), size); err != nil {
		return nil, &fs.PathError{Op: "shmget", Path: nm, Err: err}
	}
	b, err := unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "shmat", Path: nm, Err: err}
	}
	return &Segment{name: nm, kind: kindSysV, shmid: id, data: b}, nil
}

// SysVID returns the System V shared memory identifier, or -1.
func (s *Segment) SysVID() int {
	if s.kind != kindSysV {
		return -1
	}
	return s.shmid
}
