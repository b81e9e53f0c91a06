//go:build linux && cgo

package sysvmsg_test

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/sysvmsg"
	"github.com/stretchr/testify/require"
)

// FuzzMessages: any type, text, selector and flags either round-trip the
// message exactly as C's msgrcv would select it, or are refused with
// EINVAL / E2BIG; never a crash, and nothing lost.
func FuzzMessages(f *testing.F) {
	f.Add(int64(1), []byte("hello"), int64(0), 0, 16)
	f.Add(int64(0), []byte("x"), int64(1), 0, 16)
	f.Add(int64(5), []byte("0123456789"), int64(5), sysvmsg.NoError, 3)
	f.Add(int64(7), []byte("a"), int64(7), sysvmsg.Except, 8)
	f.Add(int64(-3), []byte{}, int64(-4), 0, 0)
	f.Add(int64(1<<62), []byte("big"), int64(-(1 << 62)), 1<<30, 4)
	q, err := sysvmsg.Open(sysvmsg.Private, os.O_CREATE, 0o600)
	require.NoError(f, err)
	f.Cleanup(func() { q.Remove(); q.Close() })
	f.Fuzz(func(t *testing.T, typ int64, text []byte, sel int64, flags int, size int) {
		if len(text) > 4096 || size < 0 || size > 8192 {
			return
		}
		err := q.TrySend(typ, text)
		if typ <= 0 {
			require.ErrorIs(t, err, syscall.EINVAL)
			return
		}
		require.NoError(t, err)
		defer func() { // leave the queue empty for the next input
			for {
				if _, _, err := q.TryReceive(make([]byte, 8192), 0, 0); err != nil {
					return
				}
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		defer cancel()
		buf := make([]byte, size)
		n, got, err := q.Receive(ctx, buf, sel, flags)
		if flags&^(sysvmsg.Except|sysvmsg.NoError) != 0 || (flags&sysvmsg.Except != 0 && sel <= 0) {
			require.ErrorIs(t, err, syscall.EINVAL)
			return
		}
		match := sel == 0 || (sel > 0 && (flags&sysvmsg.Except == 0) == (typ == sel)) || (sel < 0 && typ <= -sel)
		if !match {
			require.ErrorIs(t, err, sysvmsg.ErrDeadline)
			return
		}
		if len(text) > size && flags&sysvmsg.NoError == 0 {
			require.ErrorIs(t, err, syscall.E2BIG)
			return
		}
		require.NoError(t, err)
		require.Equal(t, typ, got)
		require.Equal(t, text[:min(len(text), size)], buf[:n])
	})
}
