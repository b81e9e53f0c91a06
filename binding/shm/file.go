//go:build linux && cgo

package shm

// Mappings of ordinary files.

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// MapFile maps the file path read-write and shared. flag may hold os.O_CREATE
// and os.O_EXCL: a file created by the call is sized to size bytes (a file
// that exists is never resized, and one smaller than size is an error
// wrapping syscall.EINVAL). size 0 maps an existing file whole.
func MapFile(path string, size int, flag int, perm os.FileMode) (*Segment, error) {
	if size < 0 || (size == 0 && flag&os.O_CREATE != 0) {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("size %d: must be positive: %w", size, syscall.EINVAL)}
	}
	created := false
	var fd int
	var err error
	if flag&os.O_CREATE != 0 {
		fd, err = unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, uint32(perm.Perm()))
		created = err == nil
		if err == unix.EEXIST && flag&os.O_EXCL == 0 {
			fd, err = unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
		}
	} else {
		fd, err = unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	undo := func() {
		if created {
			unix.Unlink(path)
		}
	}
	if created {
		if err := reserve(fd, size); err != nil {
			undo()
			return nil, &fs.PathError{Op: "fallocate", Path: path, Err: err}
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		undo()
		return nil, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	if err := checkExisting(st.Size, size); err != nil {
		undo()
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	n := size
	if n == 0 {
		n = int(st.Size)
	}
	abs, _ := filepath.Abs(path)
	s, err := mapFD(abs, kindFile, fd, n)
	if err != nil {
		undo()
	}
	return s, err
}
