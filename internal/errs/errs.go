//go:build linux && cgo

// Package errs holds the errors that every binding package reports alike.
package errs

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Deadline is the error of a blocking call whose deadline (its context's,
// or one set with SetDeadline) passed before it could complete (wrapped in
// the call's *fs.PathError). errors.Is matches it against
// context.DeadlineExceeded, syscall.ETIMEDOUT and os.ErrDeadlineExceeded,
// so code written for any of those conventions works; its Timeout method
// reports true, as net errors do. Every package exports it as ErrDeadline.
var Deadline error = deadline{}

type deadline struct{}

func (deadline) Error() string   { return "timed out: context deadline exceeded" }
func (deadline) Timeout() bool   { return true }
func (deadline) Temporary() bool { return true }
func (deadline) Is(target error) bool {
	return target == context.DeadlineExceeded || target == syscall.ETIMEDOUT || target == os.ErrDeadlineExceeded
}

// Ctx returns ctx's error with context.DeadlineExceeded replaced by
// Deadline (nil while ctx is not done).
func Ctx(ctx context.Context) error { return Of(ctx.Err()) }

// Of replaces context.DeadlineExceeded by Deadline and returns other errors
// as they are.
func Of(err error) error {
	if err == context.DeadlineExceeded {
		return Deadline
	}
	return err
}

// LimitError reports a system limit that stopped a call, and the setting
// to raise. It unwraps to the syscall.Errno the call returned.
type LimitError struct {
	Errno   syscall.Errno
	Setting string // e.g. "/proc/sys/kernel/msgmax" or "RLIMIT_MSGQUEUE"
	Detail  string
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s: %s (raise %s)", e.Errno.Error(), e.Detail, e.Setting)
}

// Unwrap returns the errno.
func (e *LimitError) Unwrap() error { return e.Errno }

// ReadProcInt reads an integer from a /proc file, -1 when it cannot.
func ReadProcInt(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// Removed is wrapped by the error of a call on a System V object that was
// removed (IPC_RMID) while the handle was open: errors.Is matches it
// against syscall.EIDRM (what a call blocked at the removal gets) and
// syscall.EINVAL (what later calls get from the kernel).
var Removed error = removed{}

type removed struct{}

func (removed) Error() string { return "the object was removed (IPC_RMID)" }
func (removed) Is(target error) bool {
	return target == syscall.EIDRM || target == syscall.EINVAL
}
