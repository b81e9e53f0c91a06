//go:build linux && cgo

package mq_test

import (
	"context"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/mq"
	"github.com/posixipc/posixipc/internal/gate"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIdleWaitersWakeWithoutPolling: with more queues blocked in Receive
// (then in Send) than the process has slots in C (gate.MaxInKernel), the
// others wait in the Go runtime's poller on a second description of their
// queue, not polling with the kit's backoff: each waits there about once,
// every one gets its message (or its room) as soon as it is there, and a
// deadline or Close ends an idle wait too.
func TestIdleWaitersWakeWithoutPolling(t *testing.T) {
	const extra = 8
	n := gate.MaxInKernel + extra
	qs := make([]*mq.Queue, n)
	for i := range qs {
		qs[i], _ = newQueue(t, 1, 16)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type got struct {
		i   int
		b   byte
		err error
	}
	res := make(chan got, n)
	before := gate.IdleWaits()
	for i, q := range qs {
		go func() {
			b := make([]byte, 16)
			_, _, err := q.Receive(ctx, b)
			res <- got{i, b[0], err}
		}()
	}
	testutil.IdleOnce(t, gate.IdleWaits, before, extra, "the poller")
	for i, q := range qs {
		require.NoError(t, q.Send(ctx, []byte{byte(i)}, 0))
	}
	for range n {
		select {
		case g := <-res:
			require.NoError(t, g.err)
			assert.Equal(t, byte(g.i), g.b)
		case <-time.After(5 * time.Second):
			t.Fatal("a receiver did not get its message")
		}
	}

	// Full queues: senders wait for room.
	for _, q := range qs {
		require.NoError(t, q.Send(ctx, []byte("full"), 0))
	}
	sent := make(chan error, n)
	before = gate.IdleWaits()
	for _, q := range qs {
		go func() { sent <- q.Send(ctx, []byte("next"), 0) }()
	}
	testutil.IdleOnce(t, gate.IdleWaits, before, extra, "the poller")
	buf := make([]byte, 16)
	for _, q := range qs {
		_, _, err := q.Receive(ctx, buf)
		require.NoError(t, err)
	}
	for range n {
		select {
		case err := <-sent:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("a sender did not get its room")
		}
	}

	// Each queue holds one message again: drain it, then a deadline and
	// Close end waits, the idle ones among them.
	for _, q := range qs {
		_, _, err := q.Receive(ctx, buf)
		require.NoError(t, err)
	}
	testutil.EndWaits(t, ctx, n, func(c context.Context, i int) error {
		_, _, err := qs[i].Receive(c, make([]byte, 16))
		return err
	}, func(i int) { qs[i].Close() }, mq.ErrDeadline)
}
