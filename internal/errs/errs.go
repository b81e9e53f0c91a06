//go:build linux && cgo

// Package errs holds the errors that every binding package reports alike.
package errs

import (
	"context"
	"syscall"
)

// Deadline is the error of a blocking call whose context deadline passed
// before it could complete (wrapped in the call's *fs.PathError). errors.Is
// matches it against both context.DeadlineExceeded and syscall.ETIMEDOUT, so
// code written for either convention works; its Timeout method reports
// true, as net errors do.
var Deadline error = deadline{}

type deadline struct{}

func (deadline) Error() string   { return "timed out: context deadline exceeded" }
func (deadline) Timeout() bool   { return true }
func (deadline) Temporary() bool { return true }
func (deadline) Is(target error) bool {
	return target == context.DeadlineExceeded || target == syscall.ETIMEDOUT
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
