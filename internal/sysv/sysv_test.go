//go:build linux && cgo

package sysv

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"testing"

	"github.com/posixipc/posixipc/internal/errs"
	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"
)

func TestFlags(t *testing.T) {
	f, err := Flags(5, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o640)
	assert.NoError(t, err)
	assert.Equal(t, unix.IPC_CREAT|unix.IPC_EXCL|0o640, f)
	f, err = Flags(5, 0, 0)
	assert.NoError(t, err)
	assert.Equal(t, 0, f)
	for _, c := range []struct {
		key, flag int
		perm      os.FileMode
	}{
		{5, os.O_APPEND, 0o600}, {5, os.O_EXCL, 0o600}, {5, os.O_CREATE, os.ModeSetuid}, {Private, 0, 0o600},
	} {
		_, err := Flags(c.key, c.flag, c.perm)
		assert.ErrorIs(t, err, syscall.EINVAL, "%+v", c)
	}
}

func TestNames(t *testing.T) {
	assert.Equal(t, "private", KeyName(0))
	assert.Equal(t, "key 0x0000002a", KeyName(42))
	assert.Equal(t, "key 0xffffffff", KeyName(-1))
	assert.Equal(t, "semid 7", IDName("semid", 7))
	assert.True(t, Time(0).IsZero())
	assert.Equal(t, int64(5), Time(5).Unix())
}

func TestGoneAndNoID(t *testing.T) {
	gone := func() error { return syscall.EINVAL }
	here := func() error { return nil }
	assert.Equal(t, errs.Removed, Gone(syscall.EIDRM, here))
	assert.Equal(t, errs.Removed, Gone(syscall.EINVAL, gone))
	assert.Equal(t, syscall.EINVAL, Gone(syscall.EINVAL, here), "EINVAL for another reason stays")
	assert.Equal(t, syscall.EPERM, Gone(syscall.EPERM, gone))
	assert.ErrorIs(t, errs.Removed, syscall.EIDRM)
	assert.ErrorIs(t, errs.Removed, syscall.EINVAL)
	err := NoID("message queue", syscall.EINVAL)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.ErrorIs(t, err, syscall.EINVAL)
	assert.Contains(t, err.Error(), "no message queue has this id")
	assert.True(t, errors.Is(NoID("x", syscall.EACCES), syscall.EACCES))
}
