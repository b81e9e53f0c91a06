//go:build linux && cgo

package sysvmsg_test

import (
	"context"
	"testing"

	"github.com/posixipc/posixipc"
	"github.com/stretchr/testify/assert"
)

// Send and Receive allocate nothing, on the fast path and on the path that
// waits in C.
func TestZeroAllocs(t *testing.T) {
	q := private(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msg, buf := make([]byte, 64), make([]byte, 64)
	assert.Zero(t, testing.AllocsPerRun(200, func() {
		q.Send(ctx, 1, msg)
		q.Receive(ctx, buf, 1, 0)
	}))
}

// BenchmarkPingPong: a 64-byte message to a goroutine (type 1) and back
// (type 2) on one queue, through the binding and through the raw cgo calls.
func BenchmarkPingPong(b *testing.B) {
	q := private(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		buf := make([]byte, 64)
		for {
			n, _, err := q.Receive(ctx, buf, 1, 0)
			if err != nil {
				return
			}
			q.Send(ctx, 2, buf[:n])
		}
	}()
	b.Run("binding", func(b *testing.B) {
		b.ReportAllocs()
		msg, buf := make([]byte, 64), make([]byte, 64)
		for b.Loop() {
			q.Send(ctx, 1, msg)
			q.Receive(ctx, buf, 2, 0)
		}
	})
	b.Run("cgo", func(b *testing.B) {
		b.ReportAllocs()
		msg, buf := make([]byte, 64), make([]byte, 64)
		for b.Loop() {
			posixipc.Msgsnd(q.ID(), 1, msg, 0)
			posixipc.Msgrcv(q.ID(), buf, 2, 0)
		}
	})
}
