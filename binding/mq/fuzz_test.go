//go:build linux && cgo

package mq_test

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/posixipc/posixipc/binding/mq"
	"github.com/posixipc/posixipc/internal/testutil"
)

// FuzzCreate: any name and attributes give success or a clear *fs.PathError
// (never a crash), and nothing is left behind.
func FuzzCreate(f *testing.F) {
	for _, s := range []string{"q", "/q", "", "/", "a/b", "//q", ".", "..", "\x00", strings.Repeat("n", 260), "é"} {
		f.Add(s, 4, 64)
	}
	f.Add("q", 0, 64)
	f.Add("q", 11, 64)
	f.Add("q", 1, 1<<24)
	f.Add("q", -1, -1)
	f.Fuzz(func(t *testing.T, n string, maxMsg, msgSize int) {
		name := testutil.FuzzName(n)
		q, err := mq.Create(name, 0o600, &mq.Attr{MaxMsg: maxMsg, MsgSize: msgSize})
		if err == nil {
			defer mq.Unlink(name)
			defer q.Close()
			if maxMsg <= 0 || msgSize <= 0 {
				t.Fatalf("created with maxmsg %d msgsize %d", maxMsg, msgSize)
			}
			a, err := q.Attr()
			if err != nil || a.MaxMsg != maxMsg || a.MsgSize != msgSize {
				t.Fatalf("attr %+v, %v: want %d/%d", a, err, maxMsg, msgSize)
			}
			return
		}
		var pe *fs.PathError
		if !errors.As(err, &pe) {
			t.Fatalf("error %T %v is not a *fs.PathError", err, err)
		}
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			t.Fatalf("error %v wraps no errno", err)
		}
		if errors.Is(err, fs.ErrExist) {
			t.Fatalf("fuzzed name %q exists", name)
		}
	})
}

// FuzzSendSize: any message size either goes through whole or fails with
// EMSGSIZE before anything is sent.
func FuzzSendSize(f *testing.F) {
	f.Add(0, uint(0))
	f.Add(64, uint(1))
	f.Add(65, uint(31))
	f.Add(1<<16, uint(32767))
	f.Add(3, uint(32768))
	f.Fuzz(func(t *testing.T, size int, prio uint) {
		if size < 0 || size > 1<<20 {
			return
		}
		q, name := newQueue(t, 2, 64)
		// Unlinked at once: a fuzz worker stopped mid-input leaves nothing.
		mq.Unlink(name)
		err := q.TrySend(make([]byte, size), prio)
		a, aerr := q.Attr()
		if aerr != nil {
			t.Fatal(aerr)
		}
		switch {
		case size > 64 && prio >= mq.PrioMax: // either check may come first
			if !(errors.Is(err, syscall.EMSGSIZE) || errors.Is(err, syscall.EINVAL)) || a.CurMsgs != 0 {
				t.Fatalf("size %d prio %d: %v, %d queued", size, prio, err, a.CurMsgs)
			}
		case size > 64:
			if !errors.Is(err, syscall.EMSGSIZE) || a.CurMsgs != 0 {
				t.Fatalf("size %d: %v, %d queued", size, err, a.CurMsgs)
			}
		case prio >= mq.PrioMax:
			if !errors.Is(err, syscall.EINVAL) || a.CurMsgs != 0 {
				t.Fatalf("prio %d: %v", prio, err)
			}
		default:
			buf := make([]byte, 64)
			n, p, rerr := q.Receive(context.Background(), buf)
			if err != nil || rerr != nil || n != size || p != prio {
				t.Fatalf("size %d prio %d: send %v, receive %d/%d %v", size, prio, err, n, p, rerr)
			}
		}
	})
}
