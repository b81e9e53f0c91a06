//go:build linux && cgo

package stream_test

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/posixipc/posixipc/internal/gate"
	"github.com/posixipc/posixipc/internal/stream"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pipeStream makes a pipe and the Stream of its (non-blocking) read end;
// both are closed at the test's end.
func pipeStream(t *testing.T) (*stream.Stream, *os.File) {
	var p [2]int
	require.NoError(t, unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK))
	rf, wf := os.NewFile(uintptr(p[0]), "r"), os.NewFile(uintptr(p[1]), "w")
	s := stream.New(rf, p[0], os.O_RDONLY, true)
	t.Cleanup(func() { s.Close(); rf.Close(); wf.Close() })
	return s, wf
}

// TestIdleWaitersWakeWithoutPolling: with more Streams blocked in Read
// than the process has slots in C (gate.MaxInKernel), the others wait in
// the runtime poller, not polling: each waits there about once, every one
// gets its byte as soon as it is written, and a deadline or Close ends an
// idle wait too.
func TestIdleWaitersWakeWithoutPolling(t *testing.T) {
	const extra = 8
	n := gate.MaxInKernel + extra
	type got struct {
		i   int
		b   byte
		err error
	}
	res := make(chan got, n)
	writers := make([]*os.File, n)
	streams := make([]*stream.Stream, n)
	before := stream.IdleWaits()
	for i := range n {
		streams[i], writers[i] = pipeStream(t)
		go func() {
			b := make([]byte, 1)
			_, err := streams[i].Read(b)
			res <- got{i, b[0], err}
		}()
	}
	testutil.IdleOnce(t, stream.IdleWaits, before, extra, "the poller")
	select {
	case g := <-res:
		t.Fatalf("reader %d returned with nothing written: %v", g.i, g.err)
	default:
	}
	for i, w := range writers {
		_, err := w.Write([]byte{byte(i)})
		require.NoError(t, err)
	}
	for range n {
		select {
		case g := <-res:
			require.NoError(t, g.err)
			assert.Equal(t, byte(g.i), g.b)
		case <-time.After(5 * time.Second):
			t.Fatal("a reader did not get its byte")
		}
	}

	// Idle again (no slot is free while these hold theirs), then a
	// deadline and Close end an idle wait.
	errs := make(chan error, n)
	for i := range n {
		go func() { _, err := streams[i].Read(make([]byte, 1)); errs <- err }()
	}
	time.Sleep(100 * time.Millisecond)
	for i, s := range streams {
		if i%2 == 0 {
			require.NoError(t, s.SetReadDeadline(time.Now().Add(10*time.Millisecond)))
		} else {
			s.Close()
		}
	}
	for range n {
		select {
		case err := <-errs:
			assert.True(t, errors.Is(err, os.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded), "%v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("a deadline or Close did not end a wait")
		}
	}
}
