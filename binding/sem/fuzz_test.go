//go:build linux && cgo

package sem_test

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/posixipc/posixipc/binding/sem"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/name"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/require"
)

// FuzzOpen: any name and value give either a semaphore (that the rule of
// internal/name accepts) or the rule's error; never a crash or a leftover.
func FuzzOpen(f *testing.F) {
	for _, seed := range []struct {
		n string
		v int
	}{{"a", 0}, {"/a", 1}, {"a/b", 0}, {"x\x00y", 0}, {strings.Repeat("n", 240), 3},
		{"..", 0}, {"ok", -1}, {"ok", sem.ValueMax + 1}, {"ok", sem.ValueMax}, {"\xff\n ", 7}} {
		f.Add(seed.n, seed.v)
	}
	f.Fuzz(func(t *testing.T, n string, v int) {
		full := testutil.FuzzName(n)
		s, err := sem.Open(full, os.O_CREATE|os.O_EXCL, 0o600, v)
		_, cerr := name.Canonical(full)
		switch {
		case cerr != nil:
			require.ErrorIs(t, err, errors.Unwrap(cerr))
		case v < 0 || v > sem.ValueMax:
			require.ErrorIs(t, err, syscall.EINVAL)
		default:
			require.NoError(t, err)
			got, err := s.Value()
			require.NoError(t, err)
			require.Equal(t, v, got)
			require.NoError(t, s.Close())
			require.NoError(t, sem.Unlink(full))
		}
	})
}

// FuzzAt: any offset either places a semaphore (aligned, inside) or is
// refused with EINVAL, and leaves the segment unpinned after Close.
func FuzzAt(f *testing.F) {
	const size = 4096
	n := testutil.Name("fuzzat")
	seg, err := shm.Create(n, size, 0o600)
	require.NoError(f, err)
	shm.Unlink(n) // at once: a fuzz worker stopped mid-input leaves nothing
	f.Cleanup(func() { seg.Close() })
	for _, off := range []int{0, 8, 4, -8, size - sem.Size, size - sem.Size + 8, size, 1 << 62, -1 << 63} {
		f.Add(off, 1)
	}
	f.Fuzz(func(t *testing.T, off int, v int) {
		ok := off >= 0 && off%sem.Align == 0 && off <= size-sem.Size
		s, err := sem.Init(seg, int64(off), v)
		initOK := ok && v >= 0 && v <= sem.ValueMax
		if !initOK {
			require.ErrorIs(t, err, syscall.EINVAL)
		} else {
			require.NoError(t, err)
			require.NoError(t, s.Destroy())
		}
		s, err = sem.At(seg, int64(off))
		if !initOK {
			// refused, or the bytes left there by an earlier input happen
			// to be a sem_t glibc can use
			if err != nil {
				require.ErrorIs(t, err, syscall.EINVAL)
				return
			}
			require.True(t, ok)
		} else {
			require.NoError(t, err)
		}
		require.NoError(t, s.Close())
		require.NoError(t, seg.Pin())
		seg.Unpin()
	})
}
