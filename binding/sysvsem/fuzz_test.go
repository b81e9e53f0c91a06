//go:build linux && cgo

package sysvsem_test

import (
	"context"
	"os"
	"syscall"
	"testing"

	"github.com/posixipc/posixipc/binding/sysvsem"
	"github.com/stretchr/testify/require"
)

// FuzzOps: any op either applies exactly (the value moves by Delta) or is
// refused (EINVAL for bad input, EAGAIN when it would block, ERANGE past
// ValueMax) and changes nothing; never a crash.
func FuzzOps(f *testing.F) {
	f.Add(0, -1, 0, 5)
	f.Add(1, 3, sysvsem.Undo, 0)
	f.Add(2, 0, 0, 0)
	f.Add(-1, 1, 0, 1)
	f.Add(0, 40000, 0, 1)
	f.Add(0, 1, 0x7, 1)
	f.Add(0, 1, 0, sysvsem.ValueMax)
	s, err := sysvsem.Open(sysvsem.Private, os.O_CREATE, 0o600, []int{0, 0})
	require.NoError(f, err)
	f.Cleanup(func() { s.Remove(); s.Close() })
	f.Fuzz(func(t *testing.T, num, delta, flags, start int) {
		if start < 0 || start > sysvsem.ValueMax {
			return
		}
		require.NoError(t, s.SetValues([]int{start, start}))
		err := s.Do(context.Background(), sysvsem.Op{Num: num, Delta: delta, Flags: flags | sysvsem.NoWait})
		v, verr := s.Values()
		require.NoError(t, verr)
		switch {
		case num < 0 || num > 1 || delta < -sysvsem.ValueMax || delta > sysvsem.ValueMax || flags&^(sysvsem.NoWait|sysvsem.Undo) != 0:
			require.ErrorIs(t, err, syscall.EINVAL)
		case start+delta < 0 || (delta == 0 && start != 0):
			require.ErrorIs(t, err, syscall.EAGAIN)
		case start+delta > sysvsem.ValueMax:
			require.ErrorIs(t, err, syscall.ERANGE)
		default:
			require.NoError(t, err)
			require.Equal(t, start+delta, v[num])
			return
		}
		require.Equal(t, []int{start, start}, v, "a refused op changed nothing")
	})
}
