//go:build linux && cgo

package shm_test

import (
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"

	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/name"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/require"
)

// FuzzCreate: any name and size give a segment of that size or a clear
// error; never a crash or a leftover object.
func FuzzCreate(f *testing.F) {
	for _, seed := range []struct {
		n    string
		size int
	}{{"a", 1}, {"/a", 4096}, {"a/b", 10}, {"x\x00", 10}, {strings.Repeat("n", 240), 100},
		{".", 1}, {"ok", 0}, {"ok", -1}, {"ok", 1 << 47}, {"ok", 1<<20 + 3}} {
		f.Add(seed.n, seed.size)
	}
	f.Fuzz(func(t *testing.T, n string, size int) {
		full := testutil.FuzzName(n)
		s, err := shm.Create(full, size, 0o600)
		_, cerr := name.Canonical(full)
		switch {
		case cerr != nil:
			require.ErrorIs(t, err, errors.Unwrap(cerr))
		case size <= 0 || size > 1<<46:
			require.ErrorIs(t, err, syscall.EINVAL)
		case size > 1<<30:
			// Big: the system may refuse; it must say so, not crash.
			if err == nil {
				s.Close()
				require.NoError(t, shm.Unlink(full))
			}
		default:
			require.NoError(t, err)
			require.Equal(t, size, s.Size())
			o, err := shm.OpenSize(full, size)
			require.NoError(t, err)
			require.Equal(t, size, o.Size())
			require.NoError(t, o.Close())
			require.NoError(t, s.Close())
			require.NoError(t, shm.Unlink(full))
		}
	})
}

// FuzzReadAt: any offset and length give io.ReaderAt/WriterAt results or
// EINVAL, never a panic.
func FuzzReadAt(f *testing.F) {
	const size = 4096
	n := testutil.Name("fuzzrd")
	s, err := shm.Create(n, size, 0o600)
	require.NoError(f, err)
	f.Cleanup(func() { s.Close(); shm.Unlink(n) })
	for _, seed := range [][2]int64{{0, 10}, {4090, 10}, {4096, 1}, {-1, 1}, {1 << 62, 8}, {8, 0}, {4088, 8}, {4089, 8}} {
		f.Add(seed[0], int(seed[1]))
	}
	f.Fuzz(func(t *testing.T, off int64, l int) {
		l = int(uint(l) % (2 * size))
		buf := make([]byte, l)
		k, err := s.ReadAt(buf, off)
		switch {
		case off < 0 || off > size:
			require.ErrorIs(t, err, syscall.EINVAL)
		case int64(l) > size-off:
			require.ErrorIs(t, err, io.EOF)
			require.Equal(t, int(size-off), k)
		default:
			require.NoError(t, err)
			require.Equal(t, l, k)
		}
		_, err = s.WriteAt(buf, off)
		if off < 0 || off > size || int64(l) > size-off {
			require.ErrorIs(t, err, syscall.EINVAL)
		} else {
			require.NoError(t, err)
		}
		_, err = s.LoadUint64(off)
		if off < 0 || off > size-8 || off%8 != 0 {
			require.ErrorIs(t, err, syscall.EINVAL)
		} else {
			require.NoError(t, err)
		}
	})
}
