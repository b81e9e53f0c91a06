//go:build linux && cgo

package gate

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/posixipc/posixipc/internal/errs"
)

// ReadContext runs read, a read of f through the Go runtime poller, until
// it returns or ctx is done, one caller at a time through g: ctx's
// deadline becomes f's read deadline and its cancellation sets a deadline
// in the past, and both are cleared before it returns, so nothing is lost
// (bytes not read stay for the next read). An expiry that ctx caused is
// returned as the bare context error (errs.Deadline for a passed
// deadline), as is os.ErrClosed when g is closed; read's other errors come
// as read returned them.
func ReadContext(ctx context.Context, g *Gate, f *os.File, read func() (int, error)) (int, error) {
	if err := g.Enter(ctx); err != nil {
		return 0, errs.Of(err)
	}
	defer g.Leave()
	dl, hasDl := ctx.Deadline()
	if hasDl {
		f.SetReadDeadline(dl)
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Unix(1, 0)); close(fired) })
	n, err := read()
	if !stop() {
		<-fired // its deadline is set: clear it only after
	}
	f.SetReadDeadline(time.Time{})
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		// Ours, not a deadline the caller set: the context's.
		switch {
		case ctx.Err() == context.Canceled:
			err = context.Canceled
		case hasDl && !time.Now().Before(dl):
			err = errs.Deadline
		}
	}
	return n, err
}
