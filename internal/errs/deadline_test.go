//go:build linux && cgo

package errs_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/fifo"
	"github.com/posixipc/posixipc/binding/flock"
	"github.com/posixipc/posixipc/binding/mq"
	"github.com/posixipc/posixipc/binding/pthread"
	"github.com/posixipc/posixipc/binding/pty"
	"github.com/posixipc/posixipc/binding/sem"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/binding/sig"
	"github.com/posixipc/posixipc/binding/sysvmsg"
	"github.com/posixipc/posixipc/binding/sysvsem"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every blocking call of the module reports a passed context deadline the
// same way: a *fs.PathError matching context.DeadlineExceeded and
// syscall.ETIMEDOUT, whose Timeout() is true.
func TestEveryBlockingCallReportsDeadlinesAlike(t *testing.T) {
	short := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), 20*time.Millisecond)
	}
	check := func(t *testing.T, err error) {
		t.Helper()
		require.Error(t, err)
		var pe *fs.PathError
		assert.True(t, errors.As(err, &pe), "%T %v", err, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorIs(t, err, syscall.ETIMEDOUT)
		assert.True(t, os.IsTimeout(err), "%v", err)
	}

	t.Run("mq", func(t *testing.T) {
		n := testutil.Name("dl")
		q, err := mq.Create(n, 0o600, &mq.Attr{MaxMsg: 1, MsgSize: 8})
		require.NoError(t, err)
		defer mq.Unlink(n)
		defer q.Close()
		ctx, cancel := short()
		defer cancel()
		_, _, err = q.Receive(ctx, make([]byte, 8))
		check(t, err)
	})
	t.Run("sem", func(t *testing.T) {
		n := testutil.Name("dl")
		s, err := sem.Open(n, os.O_CREATE|os.O_EXCL, 0o600, 0)
		require.NoError(t, err)
		defer sem.Unlink(n)
		defer s.Close()
		ctx, cancel := short()
		defer cancel()
		check(t, s.Wait(ctx))
	})
	t.Run("pthread", func(t *testing.T) {
		n := testutil.Name("dl")
		seg, err := shm.Create(n, 4096, 0o600)
		require.NoError(t, err)
		defer shm.Unlink(n)
		defer seg.Close()
		m, err := pthread.NewMutex(seg, 0, nil)
		require.NoError(t, err)
		defer m.Close()
		other, err := pthread.MutexAt(seg, 0)
		require.NoError(t, err)
		defer other.Close()
		locked, release := make(chan struct{}), make(chan struct{})
		go func() {
			other.Lock(context.Background())
			close(locked)
			<-release
			other.Unlock()
			close(locked)
		}()
		<-locked
		locked = make(chan struct{})
		ctx, cancel := short()
		defer cancel()
		check(t, m.Lock(ctx))
		close(release)
		<-locked
	})
	t.Run("flock", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "lock")
		a, err := flock.Open(p)
		require.NoError(t, err)
		defer a.Close()
		b, err := flock.Open(p)
		require.NoError(t, err)
		defer b.Close()
		require.NoError(t, a.TryLock(flock.Exclusive))
		ctx, cancel := short()
		defer cancel()
		check(t, b.Lock(ctx, flock.Exclusive))
	})
	t.Run("fifo", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "fifo")
		require.NoError(t, fifo.Make(p, 0o600))
		ctx, cancel := short()
		defer cancel()
		_, err := fifo.Open(ctx, p, os.O_WRONLY)
		check(t, err)
	})
	t.Run("fifo SetReadDeadline", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "fifo")
		require.NoError(t, fifo.Make(p, 0o600))
		r, err := fifo.Open(context.Background(), p, os.O_RDWR)
		require.NoError(t, err)
		defer r.Close()
		require.NoError(t, r.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
		_, err = r.Read(make([]byte, 4))
		check(t, err)
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.ErrorIs(t, err, fifo.ErrDeadline)
	})
	t.Run("sysvmsg", func(t *testing.T) {
		q, err := sysvmsg.Open(sysvmsg.Private, os.O_CREATE, 0o600)
		require.NoError(t, err)
		defer q.Close()
		defer q.Remove()
		ctx, cancel := short()
		defer cancel()
		_, _, err = q.Receive(ctx, make([]byte, 8), 0, 0)
		check(t, err)
	})
	t.Run("sysvsem", func(t *testing.T) {
		s, err := sysvsem.Open(sysvsem.Private, os.O_CREATE, 0o600, []int{0})
		require.NoError(t, err)
		defer s.Close()
		defer s.Remove()
		ctx, cancel := short()
		defer cancel()
		check(t, s.Do(ctx, sysvsem.Op{Num: 0, Delta: -1}))
	})
	t.Run("pty", func(t *testing.T) {
		p, err := pty.Open()
		require.NoError(t, err)
		defer p.Close()
		ctx, cancel := short()
		defer cancel()
		_, err = p.ReadContext(ctx, make([]byte, 8))
		check(t, err)
	})
	t.Run("sig", func(t *testing.T) {
		r, err := sig.Take(sig.RTMin() + 2)
		require.NoError(t, err)
		defer r.Close()
		ctx, cancel := short()
		defer cancel()
		_, err = r.Receive(ctx)
		check(t, err)
	})
	// one value, exported by every package whose calls wait
	for _, e := range []error{mq.ErrDeadline, sem.ErrDeadline, pthread.ErrDeadline, fifo.ErrDeadline, flock.ErrDeadline,
		sysvmsg.ErrDeadline, sysvsem.ErrDeadline, pty.ErrDeadline, sig.ErrDeadline} {
		assert.Equal(t, mq.ErrDeadline, e)
	}
}
