//go:build linux && cgo

package fifo

// Deadlines of Read and Write, on the monotonic clock.

import (
	"context"
	"io/fs"
	"os"
	"time"
)

// base is the origin of the directions' deadlines.
var base = time.Now()

// now is the monotonic time in nanoseconds since base.
func now() int64 { return int64(time.Since(base)) }

// SetDeadline sets the read and write deadlines; an expired deadline makes
// Read and Write fail with an error wrapping ErrDeadline (which matches
// os.ErrDeadlineExceeded, context.DeadlineExceeded and syscall.ETIMEDOUT). A zero
// t means no deadline. A change takes effect in calls already waiting.
func (f *File) SetDeadline(t time.Time) error {
	return f.setDeadline("SetDeadline", t, &f.rd, &f.wr)
}

// SetReadDeadline sets the deadline of Read.
func (f *File) SetReadDeadline(t time.Time) error {
	return f.setDeadline("SetReadDeadline", t, &f.rd, nil)
}

// SetWriteDeadline sets the deadline of Write.
func (f *File) SetWriteDeadline(t time.Time) error {
	return f.setDeadline("SetWriteDeadline", t, &f.wr, nil)
}

func (f *File) setDeadline(op string, t time.Time, ds ...*direction) error {
	var dl int64
	if !t.IsZero() {
		if dl = int64(t.Sub(base)); dl <= 0 {
			dl = 1 // passed already
		}
	}
	f.kickMu.Lock()
	defer f.kickMu.Unlock()
	if f.closed.Load() {
		return &fs.PathError{Op: op, Path: f.path, Err: os.ErrClosed}
	}
	for _, d := range ds {
		if d == nil {
			continue
		}
		d.deadline.Store(dl)
		if d.inC.Load() != 0 {
			d.kick()
		}
		if d.parked.Load() != 0 {
			d.mu.Lock()
			d.cancel()
			d.changed, d.cancel = context.WithCancel(context.Background())
			d.mu.Unlock()
		}
	}
	return nil
}
