//go:build linux && cgo

// Package sysv holds what the System V bindings (binding/sysvmsg,
// binding/sysvsem) share: the flag and mode vocabulary of their Open, the
// way they name an object in errors, and the mapping of a removed object's
// errors.
package sysv

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/posixipc/posixipc/internal/errs"
	"golang.org/x/sys/unix"
)

// Private is the key of a new, unnamed object (IPC_PRIVATE).
const Private = 0

// Flags turns an Open's flag (the os package's O_* names) and perm into the
// flag of msgget/semget: os.O_CREATE becomes IPC_CREAT, os.O_EXCL
// IPC_EXCL, and the permission bits are kept. The access mode bits
// (os.O_RDONLY, os.O_WRONLY, os.O_RDWR) are accepted and mean nothing: a
// System V object has no per-handle access mode, the kernel checks the
// permission on every call. Any other flag, O_EXCL without O_CREATE, perm
// bits other than permissions, and Private without O_CREATE are errors
// wrapping syscall.EINVAL.
func Flags(key, flag int, perm os.FileMode) (int, error) {
	const access = os.O_RDONLY | os.O_WRONLY | os.O_RDWR
	if flag&^(os.O_CREATE|os.O_EXCL|access) != 0 {
		return 0, fmt.Errorf("flag %#x: only os.O_CREATE and os.O_EXCL (and the ignored access modes) are supported: %w", flag, syscall.EINVAL)
	}
	if flag&(os.O_CREATE|os.O_EXCL) == os.O_EXCL {
		return 0, fmt.Errorf("os.O_EXCL without os.O_CREATE: %w", syscall.EINVAL)
	}
	if perm&^os.ModePerm != 0 {
		return 0, fmt.Errorf("mode %v: only permission bits are allowed: %w", perm, syscall.EINVAL)
	}
	if key == Private && flag&os.O_CREATE == 0 {
		return 0, fmt.Errorf("the private key (IPC_PRIVATE) always makes a new object: pass os.O_CREATE: %w", syscall.EINVAL)
	}
	f := int(perm.Perm())
	if flag&os.O_CREATE != 0 {
		f |= unix.IPC_CREAT
	}
	if flag&os.O_EXCL != 0 {
		f |= unix.IPC_EXCL
	}
	return f, nil
}

// KeyName names an object by key in errors: "key 0x0000002a", or "private".
func KeyName(key int) string {
	if key == Private {
		return "private"
	}
	return fmt.Sprintf("key %#08x", uint32(key))
}

// IDName names an object by id in errors and Name: "msqid 5", "semid 5".
func IDName(kind string, id int) string { return fmt.Sprintf("%s %d", kind, id) }

// Time turns a System V time (seconds since the epoch, 0: never) into a
// time.Time (the zero Time for 0).
func Time(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

// Gone maps EIDRM (removed while the call waited) and EINVAL (the id does
// not name an object any more) to errs.Removed, when stat (IPC_STAT on the
// id) confirms that the object is gone; other errors stay as they are.
func Gone(err error, stat func() error) error {
	switch err {
	case syscall.EIDRM:
		return errs.Removed
	case syscall.EINVAL:
		if e := stat(); e == syscall.EINVAL || e == syscall.EIDRM {
			return errs.Removed
		}
	}
	return err
}

// Perm returns the permission bits of a System V mode word.
func Perm(mode int64) os.FileMode { return os.FileMode(mode) & os.ModePerm }

// NoID is the error of an id that names no object (IPC_STAT fails with
// EINVAL): it says so, and matches fs.ErrNotExist as well as the errno.
func NoID(kind string, err error) error {
	if err == syscall.EINVAL || err == syscall.EIDRM {
		return noID{kind, err.(syscall.Errno)}
	}
	return err
}

type noID struct {
	kind  string
	errno syscall.Errno
}

func (e noID) Error() string        { return "no " + e.kind + " has this id: " + e.errno.Error() }
func (e noID) Unwrap() error        { return e.errno }
func (e noID) Is(target error) bool { return target == fs.ErrNotExist }
