//go:build linux && cgo

package fifo

// Deadlines of Read and Write, as contexts for the waiter kit.

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// errChanged is the Err of a replaced deadline: a call that was waiting
// under it takes the new one and goes on.
var errChanged = errors.New("fifo: the deadline changed")

// A deadline is one setting of a direction's deadline, seen by the waiter
// kit as the context of Read or Write: Deadline is the time set (its
// monotonic reading, so a C wait's CLOCK_MONOTONIC timeout), Done closes
// when it passes (Err: context.DeadlineExceeded) or when SetDeadline
// replaces it (Err: errChanged). One is made per SetDeadline; Read and
// Write use the current one and allocate nothing.
type deadline struct {
	at    time.Time // zero: none
	done  chan struct{}
	once  sync.Once
	err   error // set before done closes
	timer *time.Timer
}

func newDeadline(at time.Time) *deadline {
	d := &deadline{at: at, done: make(chan struct{})}
	if !at.IsZero() {
		if left := time.Until(at); left <= 0 {
			d.end(context.DeadlineExceeded)
		} else {
			d.timer = time.AfterFunc(left, func() { d.end(context.DeadlineExceeded) })
		}
	}
	return d
}

func (d *deadline) end(err error) {
	d.once.Do(func() {
		d.err = err
		close(d.done)
	})
}

// replaced ends d for its successor.
func (d *deadline) replaced() {
	d.stop()
	d.end(errChanged)
}

// stop stops d's timer (Close: nobody waits under d any more).
func (d *deadline) stop() {
	if d.timer != nil {
		d.timer.Stop()
	}
}

func (d *deadline) Deadline() (time.Time, bool) { return d.at, !d.at.IsZero() }
func (d *deadline) Done() <-chan struct{}       { return d.done }
func (d *deadline) Value(any) any               { return nil }
func (d *deadline) Err() error {
	select {
	case <-d.done:
		return d.err
	default:
		return nil
	}
}

// A direction is one way through the FIFO: its current deadline, and
// whether its next call should go straight to the wait in C.
type direction struct {
	dl atomic.Pointer[deadline]
	// pollFirst: the last wait in C says the next call goes straight to C
	// (waiter.io: a round trip's reply is seldom there already, so the
	// non-blocking try would be a wasted system call).
	pollFirst atomic.Bool
}

// SetDeadline sets the read and write deadlines; an expired deadline makes
// Read and Write fail with an error wrapping ErrDeadline (which matches
// os.ErrDeadlineExceeded, context.DeadlineExceeded and syscall.ETIMEDOUT),
// after one try (what is there already is still read or written, as with
// every blocking call of the module). A zero t means no deadline. A change
// takes effect in calls already waiting.
func (f *File) SetDeadline(t time.Time) error {
	return f.setDeadline("SetDeadline", t, &f.rd, &f.wr)
}

// SetReadDeadline sets the deadline of Read.
func (f *File) SetReadDeadline(t time.Time) error {
	return f.setDeadline("SetReadDeadline", t, &f.rd)
}

// SetWriteDeadline sets the deadline of Write.
func (f *File) SetWriteDeadline(t time.Time) error {
	return f.setDeadline("SetWriteDeadline", t, &f.wr)
}

func (f *File) setDeadline(op string, t time.Time, ds ...*direction) error {
	if f.k.Closed() {
		return &fs.PathError{Op: op, Path: f.path, Err: os.ErrClosed}
	}
	for _, d := range ds {
		d.dl.Swap(newDeadline(t)).replaced()
	}
	return nil
}
