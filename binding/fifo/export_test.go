//go:build linux && cgo

package fifo

import "github.com/posixipc/posixipc/internal/stream"

// MaxProbes is maxProbes, for the thread-bound test.
const MaxProbes = maxProbes

// SetPollOnly makes the waiters made from now on poll (v true) instead of
// blocking in read(2) or write(2) on their own open file description; the
// returned function restores the default.
func SetPollOnly(v bool) (restore func()) { return stream.SetPollOnly(v) }

// WaitModes reports the mode of each waiter f has made: "block" or "poll".
func WaitModes(f *File) []string { return f.s.WaitModes() }
