//go:build linux && cgo

package ring_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/ring"
	"github.com/posixipc/posixipc/internal/bench"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/posixipc/posixipc/internal/testutil/ringvictim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	bench.ServePeer()                    // the lab's Go peers of BenchmarkRoundTrip
	testutil.RunHelper(ringvictim.Modes) // the Go victims of the recovery tests
	goleak.VerifyTestMain(m)
}

// create makes a ring (removed at cleanup) and returns its name and the
// creator's handle, opened with flag.
func create(t testing.TB, flag int, cfg ring.Config) (string, *ring.Ring) {
	t.Helper()
	name := testutil.Name("ring")
	r, err := ring.Create(name, flag, 0o600, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		r.Close()
		ring.Remove(name)
	})
	return name, r
}

// open opens a ring, closed at cleanup.
func open(t testing.TB, name string, flag int, cfg *ring.Config) *ring.Ring {
	t.Helper()
	r, err := ring.Open(name, flag, 0, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

func TestQueueSendReceive(t *testing.T) {
	name, p := create(t, os.O_WRONLY, ring.Config{Slots: 4, Size: 64, Tag: 7})
	c := open(t, name, os.O_RDONLY, &ring.Config{Tag: 7})
	ctx := context.Background()
	buf := make([]byte, 64)
	for round := 0; round < 3; round++ { // wrap around the 4 slots
		for i := 0; i < 4; i++ {
			require.NoError(t, p.Send(ctx, []byte(fmt.Sprintf("r%d-%d", round, i))))
		}
		err := p.TrySend([]byte("x"))
		require.ErrorIs(t, err, syscall.EAGAIN, "a full ring")
		for i := 0; i < 4; i++ {
			rec, err := c.Receive(ctx, buf)
			require.NoError(t, err)
			assert.Equal(t, fmt.Sprintf("r%d-%d", round, i), string(buf[:rec.N]))
			assert.Equal(t, uint64(round*4+i), rec.Seq)
		}
		_, err = c.TryReceive(buf)
		require.ErrorIs(t, err, syscall.EAGAIN, "an empty ring")
	}
	st, err := c.Stat()
	require.NoError(t, err)
	assert.Equal(t, uint64(12), st.Tail)
	assert.Equal(t, uint64(0), st.Queued)
	assert.Len(t, st.Participants, 2)
	for _, pt := range st.Participants {
		assert.True(t, pt.Alive)
		assert.Equal(t, os.Getpid(), pt.Pid)
	}
}

func TestLoanCommitNextRelease(t *testing.T) {
	name, p := create(t, os.O_WRONLY, ring.Config{Slots: 8, Size: 128})
	c := open(t, name, os.O_RDONLY, nil)
	ctx := context.Background()
	l, err := p.Loan(ctx)
	require.NoError(t, err)
	require.Len(t, l.Bytes(), 128)
	copy(l.Bytes(), "zero copy")
	require.ErrorIs(t, l.Commit(129), syscall.EINVAL, "longer than a slot")
	require.NoError(t, l.Commit(9))
	require.ErrorIs(t, l.Commit(9), ring.ErrReclaimed, "a second commit")
	// An aborted loan is passed by consumers.
	l2, err := p.Loan(ctx)
	require.NoError(t, err)
	require.NoError(t, l2.Abort())
	require.NoError(t, p.Send(ctx, []byte("after")))
	v, err := c.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, "zero copy", string(v.Bytes()))
	assert.Equal(t, uint64(0), v.Seq())
	require.NoError(t, v.Release())
	require.Error(t, v.Release(), "a second release")
	v, err = c.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, "after", string(v.Bytes()))
	assert.Equal(t, uint64(2), v.Seq())
	require.NoError(t, v.Release())
}

func TestBadInput(t *testing.T) {
	name := testutil.Name("ring")
	for _, cfg := range []ring.Config{
		{Slots: 0, Size: 8}, {Slots: 3, Size: 8}, {Slots: 1, Size: 8}, {Slots: 1 << 25, Size: 8},
		{Slots: 4, Size: 0}, {Slots: 4, Size: -1}, {Slots: 4, Size: 1<<30 + 1},
		{Slots: 4, Size: 8, Mode: 4}, {Slots: 4, Size: 8, Full: 9}, {Slots: 4, Size: 8, Full: ring.Overwrite},
		{Slots: 4, Size: 8, Mode: ring.SPSC, Full: ring.Overwrite},
		{Slots: 4, Size: 8, Participants: 1}, {Slots: 4, Size: 8, Participants: 5000},
		{Slots: 1 << 24, Size: 1 << 30},
	} {
		_, err := ring.Create(name, os.O_RDWR, 0o600, cfg)
		require.ErrorIs(t, err, syscall.EINVAL, "%+v", cfg)
		_, serr := os.Stat("/dev/shm" + name)
		require.True(t, os.IsNotExist(serr), "nothing left behind by %+v", cfg)
	}
	for _, n := range []string{"", "/", "a/b", "/sem.x"} {
		_, err := ring.Create(n, os.O_RDWR, 0o600, ring.Config{Slots: 4, Size: 8})
		require.Error(t, err, "%q", n)
	}
	_, err := ring.Open(name, os.O_RDWR|os.O_CREATE, 0o600, nil)
	require.ErrorIs(t, err, syscall.EINVAL, "O_CREATE without a Config")
	_, err = ring.Open(name, os.O_RDWR|os.O_APPEND, 0o600, nil)
	require.ErrorIs(t, err, syscall.EINVAL, "a flag it does not know")
	_, err = ring.Open(name, os.O_RDWR, 0, nil)
	require.ErrorIs(t, err, os.ErrNotExist)

	bn, b := create(t, os.O_WRONLY, ring.Config{Slots: 4, Size: 8, Mode: ring.Broadcast})
	_, err = ring.Open(bn, os.O_RDWR, 0, nil)
	require.ErrorIs(t, err, syscall.EINVAL, "a broadcast handle is one side")
	require.ErrorIs(t, b.Send(context.Background(), make([]byte, 9)), syscall.EMSGSIZE)
	_, err = b.Receive(context.Background(), make([]byte, 8))
	require.ErrorIs(t, err, syscall.EBADF, "a producer handle does not receive")
	s := open(t, bn, os.O_RDONLY, nil)
	_, err = s.Receive(context.Background(), make([]byte, 7))
	require.ErrorIs(t, err, syscall.EMSGSIZE, "a buffer smaller than a slot")
}

func TestTagAndShapeChecked(t *testing.T) {
	name, _ := create(t, os.O_WRONLY, ring.Config{Slots: 4, Size: 16, Tag: 0xfeed})
	_, err := ring.Open(name, os.O_RDONLY, 0, nil)
	require.ErrorIs(t, err, ring.ErrTag)
	_, err = ring.Open(name, os.O_RDONLY, 0, &ring.Config{Tag: 0xbeef})
	require.ErrorIs(t, err, ring.ErrTag)
	_, err = ring.Open(name, os.O_RDONLY, 0, &ring.Config{Tag: 0xfeed, Size: 32})
	require.ErrorIs(t, err, syscall.EINVAL)
	_, err = ring.Open(name, os.O_RDONLY, 0, &ring.Config{Tag: 0xfeed, Mode: ring.Broadcast})
	require.ErrorIs(t, err, syscall.EINVAL)
	r, err := ring.Open(name, os.O_RDONLY|os.O_CREATE, 0o600, &ring.Config{Tag: 0xfeed, Slots: 4, Size: 16})
	require.NoError(t, err, "O_CREATE without O_EXCL opens the existing ring")
	r.Close()
	_, err = ring.Create(name, os.O_RDONLY, 0o600, ring.Config{Slots: 4, Size: 16})
	require.ErrorIs(t, err, os.ErrExist)
}

func TestBroadcast(t *testing.T) {
	name, p := create(t, os.O_WRONLY, ring.Config{Slots: 4, Size: 32, Mode: ring.Broadcast})
	ctx := context.Background()
	require.NoError(t, p.Send(ctx, []byte("before anyone")))
	s1 := open(t, name, os.O_RDONLY, nil)
	s2 := open(t, name, os.O_RDONLY, nil)
	_, err := ring.Open(name, os.O_WRONLY, 0, nil)
	require.ErrorIs(t, err, ring.ErrBusy, "one producer")
	for i := 0; i < 4; i++ {
		require.NoError(t, p.Send(ctx, []byte(fmt.Sprint("rec", i))))
	}
	require.ErrorIs(t, p.TrySend([]byte("x")), syscall.EAGAIN, "Block: the subscribers have not read")
	buf := make([]byte, 32)
	for _, s := range []*ring.Ring{s1, s2} {
		for i := 0; i < 4; i++ {
			rec, err := s.Receive(ctx, buf)
			require.NoError(t, err)
			assert.Equal(t, fmt.Sprint("rec", i), string(buf[:rec.N]), "every subscriber sees every record from its joining")
			assert.Equal(t, uint64(i+1), rec.Seq)
		}
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = s1.Next(tctx)
	require.ErrorIs(t, err, ring.ErrDeadline)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	// A subscriber that leaves no longer holds the producer back.
	require.NoError(t, s2.Close())
	require.NoError(t, p.Send(ctx, []byte("next")))
	rec, err := s1.Receive(ctx, buf)
	require.NoError(t, err)
	assert.Equal(t, "next", string(buf[:rec.N]))
}

func TestBroadcastOverwriteCountsLost(t *testing.T) {
	name, p := create(t, os.O_WRONLY, ring.Config{Slots: 4, Size: 8, Mode: ring.Broadcast, Full: ring.Overwrite})
	s := open(t, name, os.O_RDONLY, nil)
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		require.NoError(t, p.Send(ctx, []byte{byte(i)}))
	}
	buf := make([]byte, 8)
	rec, err := s.Receive(ctx, buf)
	require.NoError(t, err)
	assert.Equal(t, uint64(6), rec.Lost, "10 records in 4 slots: the first 6 are gone")
	assert.Equal(t, byte(6), buf[0])
	v, err := s.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, []byte{7}, v.Bytes())
	for i := 0; i < 4; i++ { // overwrite the viewed record
		require.NoError(t, p.Send(ctx, []byte{byte(10 + i)}))
	}
	require.ErrorIs(t, v.Release(), ring.ErrOverrun)
	st, err := s.Stat()
	require.NoError(t, err)
	for _, pt := range st.Participants {
		if pt.Consumer {
			assert.GreaterOrEqual(t, pt.Lost, uint64(6))
		}
	}
}

func TestFailPolicy(t *testing.T) {
	name, p := create(t, os.O_WRONLY, ring.Config{Slots: 2, Size: 8, Full: ring.Fail})
	_ = open(t, name, os.O_RDONLY, nil)
	ctx := context.Background()
	require.NoError(t, p.Send(ctx, []byte("a")))
	require.NoError(t, p.Send(ctx, []byte("b")))
	t0 := time.Now()
	err := p.Send(ctx, []byte("c"))
	require.ErrorIs(t, err, syscall.EAGAIN)
	_, err = p.Loan(ctx)
	require.ErrorIs(t, err, syscall.EAGAIN)
	assert.Less(t, time.Since(t0), time.Second, "at once")
}

// TestCancelIsExact: a cancelled Receive takes nothing, a cancelled Send
// puts nothing.
func TestCancelIsExact(t *testing.T) {
	name, p := create(t, os.O_WRONLY, ring.Config{Slots: 2, Size: 8})
	c := open(t, name, os.O_RDONLY, nil)
	buf := make([]byte, 8)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.Receive(ctx, buf); done <- err }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(2 * time.Second):
		t.Fatal("cancel did not reach the waiter")
	}
	bg := context.Background()
	require.NoError(t, p.Send(bg, []byte("1")))
	require.NoError(t, p.Send(bg, []byte("2")))
	ctx, cancel = context.WithCancel(bg)
	go func() { done <- p.Send(ctx, []byte("3")) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	for _, want := range []string{"1", "2"} {
		rec, err := c.Receive(bg, buf)
		require.NoError(t, err)
		assert.Equal(t, want, string(buf[:rec.N]))
	}
	_, err := c.TryReceive(buf)
	require.ErrorIs(t, err, syscall.EAGAIN, "the cancelled send put nothing")
}

func TestDeadline(t *testing.T) {
	name, _ := create(t, os.O_WRONLY, ring.Config{Slots: 2, Size: 8})
	c := open(t, name, os.O_RDONLY, nil)
	for _, d := range []time.Duration{0, 100 * time.Microsecond, 30 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		t0 := time.Now()
		_, err := c.Next(ctx)
		cancel()
		require.ErrorIs(t, err, ring.ErrDeadline)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.Less(t, time.Since(t0), d+time.Second)
	}
	// A deadline too far to represent is no deadline, not an error.
	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(1<<62, 0))
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := c.Next(ctx); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("returned %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	c.Close()
	require.ErrorIs(t, <-done, os.ErrClosed)
}

// TestCloseUnblocks: Close wakes every blocked call with os.ErrClosed, and
// is idempotent.
func TestCloseUnblocks(t *testing.T) {
	name, p := create(t, os.O_WRONLY, ring.Config{Slots: 2, Size: 8})
	c, err := ring.Open(name, os.O_RDONLY, 0, nil)
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Receive(context.Background(), make([]byte, 8))
			errs <- err
		}()
	}
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, c.Close())
	wg.Wait()
	close(errs)
	for err := range errs {
		require.ErrorIs(t, err, os.ErrClosed)
	}
	require.NoError(t, c.Close(), "idempotent")
	_, err = c.TryReceive(make([]byte, 8))
	require.ErrorIs(t, err, os.ErrClosed)
	st, err := p.Stat()
	require.NoError(t, err)
	assert.Len(t, st.Participants, 1, "the closed handle left the table")
}

func TestThreadBound(t *testing.T) {
	name, _ := create(t, os.O_WRONLY, ring.Config{Slots: 2, Size: 8})
	c := open(t, name, os.O_RDONLY, nil)
	buf := make([]byte, 8)
	testutil.ThreadBound(t, 1000, 30, func(ctx context.Context, i int) error {
		_, err := c.Next(ctx)
		_ = buf
		return err
	})
}

// TestIdleCostsNoCPU: a consumer blocked for a second spends (almost) no
// CPU time after its spin budget.
func TestIdleCostsNoCPU(t *testing.T) {
	name, _ := create(t, os.O_WRONLY, ring.Config{Slots: 2, Size: 8})
	c := open(t, name, os.O_RDONLY, nil)
	before := cpuTime(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := c.Next(ctx)
	require.True(t, errors.Is(err, ring.ErrDeadline))
	used := cpuTime(t) - before
	t.Logf("CPU time of a consumer idle for 1 s: %v", used)
	assert.Less(t, used, 50*time.Millisecond)
}

func cpuTime(t testing.TB) time.Duration {
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
