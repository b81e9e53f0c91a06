//go:build linux && cgo

package sem_test

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/sem"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sem.At refuses bytes glibc would abort on, and a sem_t a peer scribbles
// over later makes Post, TryWait and Wait fail with EINVAL instead of
// aborting the process (reliability #6).
func TestGarbageSemaphore(t *testing.T) {
	seg, _ := newSegment(t, 4096)
	_, err := seg.WriteAt(bytes.Repeat([]byte{0xff}, sem.Size), 0)
	require.NoError(t, err)
	_, err = sem.At(seg, 0)
	require.ErrorIs(t, err, syscall.EINVAL)

	s, err := sem.Init(seg, 64, 1)
	require.NoError(t, err)
	defer s.Close()
	_, err = seg.WriteAt(bytes.Repeat([]byte{0x5a}, sem.Size), 64)
	require.NoError(t, err)
	assert.ErrorIs(t, s.Post(), syscall.EINVAL)
	assert.ErrorIs(t, s.TryWait(), syscall.EINVAL)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, s.Wait(ctx), syscall.EINVAL)
}

// A sem.NAME file of 0 bytes (a peer's shm_open that was never sized) is an
// EAGAIN at Open, not a SIGBUS at the first Post (reliability #8).
func TestZeroByteSemFile(t *testing.T) {
	n := testutil.Name("sem0")
	path := shm.Dir + "/sem." + n[1:]
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	defer os.Remove(path)
	_, err := sem.Open(n, 0, 0, 0)
	assert.ErrorIs(t, err, syscall.EAGAIN)
	_, err = sem.Open(n, os.O_CREATE, 0o600, 1)
	assert.ErrorIs(t, err, syscall.EAGAIN)
}

// A deadline too far to represent is no deadline (reliability #13).
func TestSemFarDeadline(t *testing.T) {
	seg, _ := newSegment(t, 4096)
	s, err := sem.Init(seg, 0, 1)
	require.NoError(t, err)
	defer s.Close()
	far, cancel := context.WithDeadline(context.Background(), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	defer cancel()
	require.NoError(t, s.Wait(far))
	ctx, cancel2 := context.WithCancel(far)
	go func() { time.Sleep(50 * time.Millisecond); cancel2() }()
	assert.ErrorIs(t, s.Wait(ctx), context.Canceled)
}

// Unnamed semaphores dropped without Close are cleaned up: they no longer
// pin their segment, which Close then unmaps.
func TestDroppedSemCleanedUp(t *testing.T) {
	n := testutil.Name("semdrop")
	seg, err := shm.Create(n, 4096, 0o600)
	require.NoError(t, err)
	defer shm.Unlink(n)
	for i := 0; i < 8; i++ {
		_, err := sem.Init(seg, int64(i*sem.Size), 1)
		require.NoError(t, err)
	}
	require.ErrorIs(t, seg.Close(), syscall.EBUSY, "pinned while the handles live")
	ok := testutil.Eventually(5*time.Second, func() bool { runtime.GC(); return seg.Close() == nil })
	assert.True(t, ok, "the dropped handles still pin the segment")
}
