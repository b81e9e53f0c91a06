//go:build linux && cgo

package ring

// Zero-copy batches: loans and views taken and given back several at a
// time, each batch under one fault guard and one turn of the handle, and
// each giving back with one fence and at most one wake-up system call (as
// SendBatch and ReceiveBatch, without their copies). A Loan or View of a
// batch is an ordinary one: Commit, Abort or Release it alone if you like.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"syscall"

	"github.com/posixipc/posixipc/internal/gate"
)

// LoanBatch lends the producer up to len(loans) slots, in order, as a Loan
// of each would: it waits within ctx for the first (Fail: an error
// wrapping syscall.EAGAIN at once), then takes as many more as are free at
// once. It returns how many it lent, in loans[:n], with the error that
// stopped it, if any, after those. Fill them and give them back with
// CommitBatch (or each with Commit or Abort). A broadcast producer has one
// loan at a time, so in Broadcast mode a batch is one loan.
func (r *Ring) LoanBatch(ctx context.Context, loans []Loan) (int, error) {
	if !r.send {
		return 0, r.pathErr("ring_loan", errNotProducer)
	}
	if len(loans) == 0 {
		return 0, nil
	}
	n := 0
	try := func() (err error) {
		n, err = r.loanSome(loans)
		return err
	}
	if err := r.produce(ctx, try); err != nil {
		return n, r.pathErr("ring_loan", err)
	}
	return n, nil
}

// loanSome takes the free slots there are into loans (at least one, else
// WouldBlock).
func (r *Ring) loanSome(loans []Loan) (n int, err error) {
	defer catch(&err, debug.SetPanicOnFault(true))
	if r.g.mode == uint32(Broadcast) {
		pos, err := r.loan()
		if err != nil {
			return 0, err
		}
		loans[0] = Loan{r, pos}
		return 1, nil
	}
	if r.g.excl {
		r.takeTurn(0)
		defer r.giveTurn(0)
	}
	for n < len(loans) {
		var pos uint64
		if pos, err = r.qLoanTurn(); err != nil {
			break
		}
		loans[n] = Loan{r, pos}
		n++
	}
	return n, blockedAfter(n, err)
}

// CommitBatch publishes loans[i] with its first lens[i] bytes, in order, as
// a Commit of each would, with one fence and at most one wake-up system
// call for all of them. It returns how many it published: all, or those
// before the error that stopped it (ErrReclaimed for a loan taken over;
// the rest stay out). A length outside [0, SlotSize], a loan of another
// handle or fewer lengths than loans is an error wrapping syscall.EINVAL,
// and nothing is published.
func (r *Ring) CommitBatch(loans []Loan, lens []int) (int, error) {
	if r == nil {
		return 0, &fs.PathError{Op: "ring_commit", Path: "", Err: syscall.EINVAL}
	}
	if len(lens) < len(loans) {
		return 0, r.pathErr("ring_commit", fmt.Errorf("%d lengths for %d loans: %w", len(lens), len(loans), syscall.EINVAL))
	}
	for i, l := range loans {
		if l.r != r {
			return 0, r.pathErr("ring_commit", fmt.Errorf("loan %d is not this handle's: %w", i, syscall.EINVAL))
		}
		if lens[i] < 0 || lens[i] > int(r.g.size) {
			return 0, r.pathErr("ring_commit", fmt.Errorf("length %d of loan %d is outside the %d-byte slot: %w", lens[i], i, r.g.size, syscall.EINVAL))
		}
	}
	if r.g.mode == uint32(Broadcast) {
		for i, l := range loans {
			if err := r.commit(l.pos, lens[i], false); err != nil {
				return i, err
			}
		}
		return len(loans), nil
	}
	if r.k.Closed() {
		return 0, r.pathErr("ring_commit", os.ErrClosed)
	}
	n, err := r.commitSome(loans, lens)
	if err != nil {
		return n, r.pathErr("ring_commit", err)
	}
	return n, nil
}

// commitSome publishes loans (Queue and SPSC), fencing once.
func (r *Ring) commitSome(loans []Loan, lens []int) (n int, err error) {
	defer catch(&err, debug.SetPanicOnFault(true))
	for n < len(loans) {
		if err = r.qPut(loans[n].pos, lens[n], false, false); err != nil {
			break
		}
		n++
	}
	r.putsDone(n)
	return n, err
}

// NextBatch lends the consumer up to len(views) records, in order, as a
// Next of each would: it waits within ctx for the first, then takes as
// many more as are there at once. It returns how many it lent, in
// views[:n], with the error that stopped it, if any, after those. Read
// them and give them back with ReleaseBatch (or each with Release). A
// broadcast subscriber has one view at a time, so in Broadcast mode a
// batch is one view.
func (r *Ring) NextBatch(ctx context.Context, views []View) (int, error) {
	if !r.recv {
		return 0, r.pathErr("ring_next", errNotConsumer)
	}
	if len(views) == 0 {
		return 0, nil
	}
	n := 0
	try := func() (err error) {
		n, err = r.nextSome(views)
		return err
	}
	if err := r.consume(ctx, try); err != nil {
		return n, r.pathErr("ring_next", err)
	}
	return n, nil
}

// nextSome takes the records there are into views (at least one, else
// WouldBlock).
func (r *Ring) nextSome(views []View) (n int, err error) {
	defer catch(&err, debug.SetPanicOnFault(true))
	if r.g.mode == uint32(Broadcast) {
		v, err := r.next()
		if err != nil {
			return 0, err
		}
		views[0] = v
		return 1, nil
	}
	if r.g.excl {
		r.takeTurn(1)
		defer r.giveTurn(1)
	}
	for n < len(views) {
		var pos uint64
		var k uint32
		if pos, k, err = r.qNextTurn(); err != nil {
			break
		}
		views[n] = View{r: r, pos: pos, n: k}
		n++
	}
	return n, blockedAfter(n, err)
}

// ReleaseBatch gives views back, in order, as a Release of each would,
// with one fence and at most one wake-up system call for all of them. It
// returns how many it gave back: all, or those before the error that
// stopped it (ErrReclaimed for a view taken over; in Broadcast mode
// ErrOverrun, whose view is given back and counted). A view of another
// handle is an error wrapping syscall.EINVAL, and nothing is given back.
func (r *Ring) ReleaseBatch(views []View) (int, error) {
	if r == nil {
		return 0, &fs.PathError{Op: "ring_release", Path: "", Err: syscall.EINVAL}
	}
	for i, v := range views {
		if v.r != r {
			return 0, r.pathErr("ring_release", fmt.Errorf("view %d is not this handle's: %w", i, syscall.EINVAL))
		}
	}
	if r.g.mode == uint32(Broadcast) {
		for i, v := range views {
			if err := r.release(v); err != nil {
				if errors.Is(err, ErrOverrun) {
					i++
				}
				return i, err
			}
		}
		return len(views), nil
	}
	if r.k.Closed() {
		return 0, r.pathErr("ring_release", os.ErrClosed)
	}
	n, err := r.releaseSome(views)
	if err != nil {
		return n, r.pathErr("ring_release", err)
	}
	return n, nil
}

// releaseSome gives views back (Queue and SPSC), fencing once.
func (r *Ring) releaseSome(views []View) (n int, err error) {
	defer catch(&err, debug.SetPanicOnFault(true))
	for n < len(views) {
		if err = r.qGive(views[n].pos, false); err != nil {
			break
		}
		n++
	}
	r.givesDone(n)
	return n, err
}

// blockedAfter is a batch's error after n taken: WouldBlock after at least
// one is none (the batch is shorter).
func blockedAfter(n int, err error) error {
	if err == gate.WouldBlock && n > 0 {
		return nil
	}
	return err
}
