//go:build linux && cgo

package mq_test

import (
	"context"
	"math/rand"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/mq"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A Receive or Send that gives up (cancelled, or its deadline passed) while
// this process holds the queue's mq_notify registration must not remove it:
// only StopNotify, a fired notification or Close may (reliability #1).
func TestNotifySurvivesGivingUp(t *testing.T) {
	for _, how := range []string{"receive-cancel", "receive-deadline", "send-cancel", "send-deadline"} {
		t.Run(how, func(t *testing.T) {
			send := strings.HasPrefix(how, "send")
			q, name := newQueue(t, 1, 64)
			if send {
				require.NoError(t, q.Send(context.Background(), []byte("fill"), 0)) // full: Send waits
			}
			fired := make(chan struct{}, 1)
			// Round 0: a waiter blocked in C before the registration (Notify
			// moves it to ppoll); round 1: one that starts after it. Each
			// gives up.
			for round := 0; round < 2; round++ {
				ctx, cancel := context.WithCancel(context.Background())
				if strings.HasSuffix(how, "deadline") {
					ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
				}
				done := make(chan error, 1)
				go func() {
					if send {
						done <- q.Send(ctx, []byte("more"), 0)
					} else {
						_, _, err := q.Receive(ctx, make([]byte, 64))
						done <- err
					}
				}()
				time.Sleep(30 * time.Millisecond)
				if round == 0 {
					require.NoError(t, q.Notify(func() { fired <- struct{}{} }))
				}
				if strings.HasSuffix(how, "cancel") {
					cancel()
				}
				require.Error(t, <-done)
				cancel()
			}
			if send {
				out := runPeer(t, "recv", name, "1") // empty it: the notification needs empty -> non-empty
				require.Contains(t, out, "fill")
			}
			runPeer(t, "send", name, "1", "from-c")
			select {
			case <-fired:
			case <-time.After(2 * time.Second):
				t.Fatalf("the notification did not fire: giving up (%s) removed the registration", how)
			}
		})
	}
}

// A call whose deadline has passed still takes a message that is there,
// and short-deadline receivers do not starve a full queue (reliability #2).
func TestShortDeadlineStorm(t *testing.T) {
	q, _ := newQueue(t, 10, 64)
	var sent, recvd atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // keep the queue full
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			if q.Send(ctx, []byte("m"), 0) == nil {
				sent.Add(1)
			}
			cancel()
		}
	}()
	stormReceivers(&wg, 50, func() bool {
		select {
		case <-stop:
			return false
		default:
			return true
		}
	}, &recvd, func(buf []byte, tmo time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), tmo)
		defer cancel()
		_, _, err := q.Receive(ctx, buf)
		return err
	})
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	a, err := q.Attr()
	require.NoError(t, err)
	t.Logf("1 s storm: %d sent, %d received, %d left", sent.Load(), recvd.Load(), a.CurMsgs)
	assert.Equal(t, sent.Load(), recvd.Load()+int64(a.CurMsgs), "sent = received + left")
	assert.Greater(t, recvd.Load(), int64(1000), "short-deadline receivers starved a full queue")

	// An expired deadline with a message waiting: taken.
	require.NoError(t, q.Send(context.Background(), []byte("there"), 0))
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	buf := make([]byte, 64)
	for {
		n, _, err := q.Receive(ctx, buf)
		if err != nil {
			assert.ErrorIs(t, err, syscall.ETIMEDOUT)
			break
		}
		if string(buf[:n]) == "there" {
			break
		}
	}
}

// A deadline too far to represent means no deadline (reliability #13).
func TestFarDeadline(t *testing.T) {
	q, _ := newQueue(t, 1, 64)
	far, cancel := context.WithDeadline(context.Background(), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	defer cancel()
	require.NoError(t, q.Send(far, []byte("a"), 0))
	buf := make([]byte, 64)
	_, _, err := q.Receive(far, buf)
	require.NoError(t, err)
	ctx, cancel2 := context.WithCancel(far)
	go func() { time.Sleep(50 * time.Millisecond); cancel2() }()
	_, _, err = q.Receive(ctx, buf)
	assert.ErrorIs(t, err, context.Canceled, "waited as without a deadline, then was cancelled")
	require.NoError(t, q.Send(far, []byte("a"), 0))
	ctx, cancel3 := context.WithCancel(far)
	go func() { time.Sleep(50 * time.Millisecond); cancel3() }()
	assert.ErrorIs(t, q.Send(ctx, []byte("b"), 0), context.Canceled)
}

// Open makes no descriptor beyond mq_open's (the waiters' duplicates are
// made by the first call that waits): a wait that cannot get its
// descriptor (EMFILE) fails with an error wrapping syscall.EMFILE, takes
// nothing, and the next wait works once a descriptor is free (reliability
// #3: nothing half-made is left).
func TestWaiterWithoutDescriptor(t *testing.T) {
	name := testutil.Name("mqemf")
	defer mq.Unlink(name)
	out, err := helperCmd(t, "dup-emfile", name).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "too many open files")
	assert.Contains(t, string(out), "retry received")
}

// A panic in a Notify callback ends the program, never vanishes (#16).
func TestNotifyPanicCrashes(t *testing.T) {
	_, name := newQueue(t, 4, 64)
	out, err := helperCmd(t, "notify-panic", name).CombinedOutput()
	require.Error(t, err, "%s", out)
	assert.Contains(t, string(out), "notify callback panics")
	assert.NotContains(t, string(out), "survived")
}

// A Queue dropped without Close is cleaned up: its descriptors (the
// queue's, the waiters' duplicates, dummies and eventfds) close.
func TestDroppedQueueCleanedUp(t *testing.T) {
	_, name := newQueue(t, 2, 64)
	warm, err := mq.Open(name, mq.O_RDWR, 0, nil)
	require.NoError(t, err)
	require.NoError(t, warm.Close())
	before := testutil.FDs()
	for i := 0; i < 20; i++ {
		q, err := mq.Open(name, mq.O_RDWR, 0, nil)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		q.Receive(ctx, make([]byte, 64)) // start the canceller goroutine too
		cancel()
	}
	ok := testutil.Eventually(5*time.Second, func() bool { runtime.GC(); return testutil.FDs() <= before })
	assert.True(t, ok, "descriptors: %d before, %d after", before, testutil.FDs())
}

// stormReceivers starts n goroutines that receive with recv, each with a
// deadline of 0 to 300 µs, while more() holds, counting what they got (the
// short-deadline storm of TestShortDeadlineStorm and BenchmarkReceiveStorm).
func stormReceivers(wg *sync.WaitGroup, n int, more func() bool, got *atomic.Int64, recv func(buf []byte, tmo time.Duration) error) {
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed))
			buf := make([]byte, 64)
			for more() {
				if recv(buf, time.Duration(r.Intn(300))*time.Microsecond) == nil {
					got.Add(1)
				}
			}
		}(int64(i))
	}
}
