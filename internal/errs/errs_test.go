//go:build linux && cgo

package errs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestDeadline(t *testing.T) {
	err := fmt.Errorf("mq_receive /q: %w", Deadline)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, syscall.ETIMEDOUT)
	assert.False(t, errors.Is(err, context.Canceled))
	assert.True(t, os.IsTimeout(&os.PathError{Op: "x", Path: "y", Err: Deadline}))
	var te interface{ Timeout() bool }
	assert.True(t, errors.As(err, &te) && te.Timeout())

	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	assert.Equal(t, Deadline, Ctx(ctx))
	c2, cancel2 := context.WithCancel(context.Background())
	assert.NoError(t, Ctx(c2))
	cancel2()
	assert.Equal(t, context.Canceled, Ctx(c2))
}
