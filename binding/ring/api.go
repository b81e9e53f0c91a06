//go:build linux && cgo

package ring

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"syscall"

	"github.com/posixipc/posixipc/internal/gate"
	"github.com/posixipc/posixipc/internal/mem"
)

// A Loan is a slot lent to a producer: fill Bytes, then Commit (or Abort).
// Its memory is the segment's: valid until Commit, Abort or Close, and
// nothing of it may be kept after that.
type Loan struct {
	r   *Ring
	pos uint64
}

// Bytes returns the slot's payload, SlotSize bytes, to fill.
func (l Loan) Bytes() []byte {
	if l.r == nil {
		return nil
	}
	return l.r.payload(l.pos, l.r.g.size)
}

// Seq returns the record's position: the count of records produced into
// the ring before it.
func (l Loan) Seq() uint64 { return l.pos }

// Commit publishes the first n bytes of the loan as one record. It fails
// with an error wrapping syscall.EINVAL when n is outside [0, SlotSize]
// (the loan stays out), ErrReclaimed when the slot was taken over, and
// os.ErrClosed after Close.
func (l Loan) Commit(n int) error { return l.r.commit(l.pos, n, false) }

// Abort gives the loan up: no record is published (in Queue and SPSC mode
// the slot passes to the consumers as skipped).
func (l Loan) Abort() error { return l.r.commit(l.pos, 0, true) }

// A View is a record lent to a consumer: read Bytes, then Release. Its
// memory is the segment's: valid until Release or Close.
type View struct {
	r    *Ring
	pos  uint64
	n    uint32
	lost uint64
}

// Bytes returns the record.
func (v View) Bytes() []byte {
	if v.r == nil {
		return nil
	}
	return v.r.payload(v.pos, v.n)
}

// Seq returns the record's position in the ring (records produced before
// it).
func (v View) Seq() uint64 { return v.pos }

// Lost returns how many records this subscriber lost just before this one
// (Broadcast with Overwrite: it fell more than a ring behind). Always 0
// in Queue and SPSC mode.
func (v View) Lost() uint64 { return v.lost }

// Release gives the record back. In Broadcast mode with Overwrite it
// fails with ErrOverrun when the producer wrote over the record while it
// was viewed: what Bytes showed may be torn (the cursor moves on anyway).
func (v View) Release() error { return v.r.release(v) }

// Record describes a record copied out by Receive.
type Record struct {
	N    int    // its length
	Seq  uint64 // its position in the ring
	Lost uint64 // Broadcast: records lost just before it
}

func (r *Ring) pathErr(op string, err error) error {
	if err == os.ErrClosed {
		return &fs.PathError{Op: op, Path: r.name, Err: os.ErrClosed}
	}
	return &fs.PathError{Op: op, Path: r.name, Err: err}
}

var (
	errNotProducer = fmt.Errorf("the handle was not opened to produce (O_WRONLY or O_RDWR): %w", syscall.EBADF)
	errNotConsumer = fmt.Errorf("the handle was not opened to consume (O_RDONLY or O_RDWR): %w", syscall.EBADF)
	errFull        = fmt.Errorf("the ring is full: %w", syscall.EAGAIN)
	errEmpty       = fmt.Errorf("the ring has no record: %w", syscall.EAGAIN)
	errLoanOut     = fmt.Errorf("the producer handle's loan is still out (Commit or Abort it): %w", ErrBusy)
	errViewOut     = fmt.Errorf("the subscriber handle's view is still out (Release it): %w", ErrBusy)
)

// Loan lends the producer the next slot, waiting for one within ctx when
// the ring is full and its policy is Block (Fail: an error wrapping
// syscall.EAGAIN at once). A broadcast producer has one loan at a time; a
// queue or SPSC producer may hold several.
func (r *Ring) Loan(ctx context.Context) (Loan, error) {
	if !r.send {
		return Loan{}, r.pathErr("ring_loan", errNotProducer)
	}
	if !r.k.Closed() { // the fast path: a slot is free
		pos, err := r.loanTry()
		if err == nil {
			return Loan{r, pos}, nil
		}
		if err != gate.WouldBlock {
			return Loan{}, r.pathErr("ring_loan", err)
		}
	}
	var pos uint64
	try := func() (err error) {
		pos, err = r.loanTry()
		return err
	}
	if err := r.produce(ctx, try); err != nil {
		return Loan{}, r.pathErr("ring_loan", err)
	}
	return Loan{r, pos}, nil
}

// loanTry is one attempt of Loan, under the fault guard.
func (r *Ring) loanTry() (pos uint64, err error) {
	defer catch(&err, debug.SetPanicOnFault(true))
	return r.loan()
}

// loan takes a slot (one attempt).
func (r *Ring) loan() (uint64, error) {
	if r.g.mode != uint32(Broadcast) {
		return r.qLoan()
	}
	r.pmu.Lock()
	defer r.pmu.Unlock()
	if r.loanOut {
		return 0, errLoanOut
	}
	pos, err := r.bLoan()
	if err == nil {
		r.loanOut = true
	}
	return pos, err
}

// produce runs a producer's try: at once in Fail mode, else through the
// waiter kit.
func (r *Ring) produce(ctx context.Context, try func() error) error {
	if r.g.full == uint32(Fail) {
		return r.once(try, errFull)
	}
	stuck := r.qStuckProducer
	if r.g.mode == uint32(Broadcast) {
		stuck = r.bStuckProducer
	}
	return r.wait(ctx, &waitFor{key: keyRoom, try: try, stuck: stuck})
}

// once makes one attempt of try, with would as the error for WouldBlock.
// A call that does not wait checks the closed bit only (see Close: the
// mapping outlives every call that holds the handle).
func (r *Ring) once(try func() error, would error) error {
	if r.k.Closed() {
		return os.ErrClosed
	}
	err := try()
	if err == gate.WouldBlock {
		return would
	}
	return err
}

func (r *Ring) commit(pos uint64, n int, abort bool) (err error) {
	op := "ring_commit"
	if abort {
		op = "ring_abort"
	}
	if r == nil {
		return &fs.PathError{Op: op, Path: "", Err: syscall.EINVAL}
	}
	if n < 0 || n > int(r.g.size) {
		return r.pathErr(op, fmt.Errorf("length %d is outside the %d-byte slot: %w", n, r.g.size, syscall.EINVAL))
	}
	if r.k.Closed() {
		return r.pathErr(op, os.ErrClosed)
	}
	defer catch(&err, debug.SetPanicOnFault(true))
	if r.g.mode != uint32(Broadcast) {
		err = r.qCommit(pos, n, abort)
	} else {
		r.pmu.Lock()
		if abort {
			r.bAbort(pos)
		} else {
			err = r.bCommit(pos, n)
		}
		r.loanOut = false
		r.pmu.Unlock()
	}
	if err != nil {
		return r.pathErr(op, err)
	}
	return nil
}

// Send copies p into the next slot and commits it: Loan, copy, Commit in
// one call. A p longer than SlotSize is an error wrapping
// syscall.EMSGSIZE.
func (r *Ring) Send(ctx context.Context, p []byte) error {
	if err := r.checkSend(p); err != nil {
		return err
	}
	if err := r.produce(ctx, func() error { return r.sendOnce(p) }); err != nil {
		return r.pathErr("ring_send", err)
	}
	return nil
}

// TrySend is Send without waiting: an error wrapping syscall.EAGAIN when
// the ring is full.
func (r *Ring) TrySend(p []byte) error {
	if err := r.checkSend(p); err != nil {
		return err
	}
	if err := r.once(func() error { return r.sendOnce(p) }, errFull); err != nil {
		return r.pathErr("ring_send", err)
	}
	return nil
}

func (r *Ring) checkSend(p []byte) error {
	if !r.send {
		return r.pathErr("ring_send", errNotProducer)
	}
	if len(p) > int(r.g.size) {
		return r.pathErr("ring_send", fmt.Errorf("%d bytes do not fit a %d-byte slot: %w", len(p), r.g.size, syscall.EMSGSIZE))
	}
	return nil
}

// sendOnce is one attempt of Send.
func (r *Ring) sendOnce(p []byte) (err error) {
	defer catch(&err, debug.SetPanicOnFault(true))
	if r.g.mode != uint32(Broadcast) {
		pos, err := r.qLoan()
		if err != nil {
			return err
		}
		copy(r.payload(pos, r.g.size), p)
		return r.qCommit(pos, len(p), false)
	}
	r.pmu.Lock()
	defer r.pmu.Unlock()
	if r.loanOut {
		return errLoanOut
	}
	pos, err := r.bLoan()
	if err != nil {
		return err
	}
	copy(r.payload(pos, r.g.size), p)
	return r.bCommit(pos, len(p))
}

// SendBatch sends the records of recs in order, as a Send of each would,
// and returns how many it sent: all of them, or those before the error
// that stopped it (the context's end, an error wrapping syscall.EAGAIN
// when the ring filled under the Fail policy, ...). It waits, within ctx,
// only while the ring is full. The records it finds room for at once go
// in together, under one fault guard and one turn of the handle, with one
// fence and at most one wake-up system call for all of them: for a stream
// of small records it costs much less per record than a Send of each. A
// record longer than SlotSize is an error wrapping syscall.EMSGSIZE, and
// nothing is sent.
func (r *Ring) SendBatch(ctx context.Context, recs [][]byte) (int, error) {
	for _, p := range recs {
		if err := r.checkSend(p); err != nil {
			return 0, err
		}
	}
	sent := 0
	for sent < len(recs) {
		k := 0
		try := func() (err error) {
			k, err = r.sendSome(recs[sent:])
			return err
		}
		err := r.produce(ctx, try)
		sent += k
		if err != nil {
			return sent, r.pathErr("ring_send", err)
		}
	}
	return sent, nil
}

// sendSome sends the first records of recs that there is room for (at
// least one, else WouldBlock): Queue and SPSC commit them with one fence.
func (r *Ring) sendSome(recs [][]byte) (n int, err error) {
	defer catch(&err, debug.SetPanicOnFault(true))
	if r.g.mode == uint32(Broadcast) {
		return eachUntilBlocked(len(recs), func(i int) error { return r.sendOnce(recs[i]) })
	}
	if r.g.excl {
		r.takeTurn(0)
		defer r.giveTurn(0)
	}
	for n < len(recs) {
		var pos uint64
		pos, err = r.qLoanTurn()
		if err == nil {
			p := recs[n]
			copy(r.payload(pos, r.g.size), p)
			err = r.qPut(pos, len(p), false, false)
		}
		if err != nil {
			break
		}
		n++
	}
	r.putsDone(n)
	return n, blockedAfter(n, err)
}

// eachUntilBlocked calls one(0), one(1), ... up to count calls, until one
// fails: it returns how many succeeded, and the error that stopped it
// unless that is WouldBlock after at least one (a batch's broadcast path,
// a record at a time).
func eachUntilBlocked(count int, one func(i int) error) (int, error) {
	for n := 0; n < count; n++ {
		if err := one(n); err != nil {
			return n, blockedAfter(n, err)
		}
	}
	return count, nil
}

// Next lends the consumer the next record, waiting for one within ctx. A
// broadcast subscriber has one view at a time; a queue or SPSC consumer may hold
// several.
func (r *Ring) Next(ctx context.Context) (View, error) {
	if !r.recv {
		return View{}, r.pathErr("ring_next", errNotConsumer)
	}
	if !r.k.Closed() { // the fast path: a record is there
		v, err := r.nextTry()
		if err == nil {
			return v, nil
		}
		if err != gate.WouldBlock {
			return View{}, r.pathErr("ring_next", err)
		}
	}
	var v View
	try := func() (err error) {
		v, err = r.nextTry()
		return err
	}
	if err := r.consume(ctx, try); err != nil {
		return View{}, r.pathErr("ring_next", err)
	}
	return v, nil
}

// nextTry is one attempt of Next, under the fault guard.
func (r *Ring) nextTry() (v View, err error) {
	defer catch(&err, debug.SetPanicOnFault(true))
	return r.next()
}

// next takes a record (one attempt).
func (r *Ring) next() (View, error) {
	if r.g.mode != uint32(Broadcast) {
		pos, n, err := r.qNext()
		return View{r: r, pos: pos, n: n}, err
	}
	r.cmu.Lock()
	defer r.cmu.Unlock()
	if r.viewOut {
		return View{}, errViewOut
	}
	pos, n, lost, err := r.bNext()
	r.addLost(lost)
	if err != nil {
		return View{}, err
	}
	r.viewOut = true
	return View{r: r, pos: pos, n: n, lost: lost}, nil
}

// addLost counts records this subscriber lost in its entry (Stat shows it).
func (r *Ring) addLost(lost uint64) {
	if lost > 0 {
		mem.Add64(r.ent64(r.self, entLost), lost)
	}
}

// consume runs a consumer's try through the waiter kit.
func (r *Ring) consume(ctx context.Context, try func() error) error {
	stuck := r.qStuckConsumer
	if r.g.mode == uint32(Broadcast) {
		stuck = func(bool) bool { return false }
	}
	return r.wait(ctx, &waitFor{key: keyData, try: try, stuck: stuck})
}

func (r *Ring) release(v View) (err error) {
	if r == nil {
		return &fs.PathError{Op: "ring_release", Path: "", Err: syscall.EINVAL}
	}
	if r.k.Closed() {
		return r.pathErr("ring_release", os.ErrClosed)
	}
	defer catch(&err, debug.SetPanicOnFault(true))
	if r.g.mode != uint32(Broadcast) {
		err = r.qRelease(v.pos)
	} else {
		r.cmu.Lock()
		if !r.viewOut {
			err = fmt.Errorf("no view is out: %w", syscall.EINVAL)
		} else {
			if !r.bValid(v.pos) {
				err = ErrOverrun
			}
			r.bRelease(v.pos)
			r.viewOut = false
		}
		r.cmu.Unlock()
	}
	if err != nil {
		return r.pathErr("ring_release", err)
	}
	return nil
}

// Receive copies the next record into buf, waiting for one within ctx:
// Next, copy, Release in one call. buf must hold SlotSize bytes (an error
// wrapping syscall.EMSGSIZE, and nothing taken). In Broadcast mode a
// record being overwritten while it is copied is never returned: it
// counts as lost and the next one is read.
func (r *Ring) Receive(ctx context.Context, buf []byte) (Record, error) {
	if err := r.checkReceive(buf); err != nil {
		return Record{}, err
	}
	var rec Record
	if err := r.consume(ctx, func() error { return r.receiveOnce(buf, &rec) }); err != nil {
		return Record{}, r.pathErr("ring_receive", err)
	}
	return rec, nil
}

// TryReceive is Receive without waiting: an error wrapping syscall.EAGAIN
// when there is no record.
func (r *Ring) TryReceive(buf []byte) (Record, error) {
	if err := r.checkReceive(buf); err != nil {
		return Record{}, err
	}
	var rec Record
	if err := r.once(func() error { return r.receiveOnce(buf, &rec) }, errEmpty); err != nil {
		return Record{}, r.pathErr("ring_receive", err)
	}
	return rec, nil
}

// ReceiveBatch copies records into bufs, in order, as a Receive into each
// would: it waits within ctx for the first, then takes as many more as
// are there at once, up to len(bufs), under one fault guard and one turn
// of the handle, with one fence and at most one wake-up system call for
// all of them. It returns how many it copied, with recs[i] describing
// bufs[i] (recs must be as long as bufs). Each buffer must hold SlotSize
// bytes (an error wrapping syscall.EMSGSIZE, and nothing taken).
func (r *Ring) ReceiveBatch(ctx context.Context, bufs [][]byte, recs []Record) (int, error) {
	if len(recs) < len(bufs) {
		return 0, r.pathErr("ring_receive", fmt.Errorf("%d records for %d buffers: %w", len(recs), len(bufs), syscall.EINVAL))
	}
	for _, b := range bufs {
		if err := r.checkReceive(b); err != nil {
			return 0, err
		}
	}
	if len(bufs) == 0 {
		return 0, nil
	}
	n := 0
	try := func() (err error) {
		n, err = r.receiveSome(bufs, recs)
		return err
	}
	if err := r.consume(ctx, try); err != nil {
		return n, r.pathErr("ring_receive", err)
	}
	return n, nil
}

// receiveSome copies the records there are into bufs (at least one, else
// WouldBlock): Queue and SPSC release them with one fence.
func (r *Ring) receiveSome(bufs [][]byte, recs []Record) (n int, err error) {
	defer catch(&err, debug.SetPanicOnFault(true))
	if r.g.mode == uint32(Broadcast) {
		return eachUntilBlocked(len(bufs), func(i int) error { return r.receiveOnce(bufs[i], &recs[i]) })
	}
	if r.g.excl {
		r.takeTurn(1)
		defer r.giveTurn(1)
	}
	for n < len(bufs) {
		var pos uint64
		var k uint32
		pos, k, err = r.qNextTurn()
		if err == nil {
			copy(bufs[n], r.payload(pos, k))
			recs[n] = Record{N: int(k), Seq: pos}
			err = r.qGive(pos, false)
		}
		if err != nil {
			break
		}
		n++
	}
	r.givesDone(n) // n counts the records given back
	return n, blockedAfter(n, err)
}

func (r *Ring) checkReceive(buf []byte) error {
	if !r.recv {
		return r.pathErr("ring_receive", errNotConsumer)
	}
	if len(buf) < int(r.g.size) {
		return r.pathErr("ring_receive", fmt.Errorf("a %d-byte buffer is smaller than the %d-byte slot: %w", len(buf), r.g.size, syscall.EMSGSIZE))
	}
	return nil
}

// receiveOnce is one attempt of Receive.
func (r *Ring) receiveOnce(buf []byte, rec *Record) (err error) {
	defer catch(&err, debug.SetPanicOnFault(true))
	if r.g.mode != uint32(Broadcast) {
		pos, n, err := r.qNext()
		if err != nil {
			return err
		}
		copy(buf, r.payload(pos, n))
		*rec = Record{N: int(n), Seq: pos}
		return r.qRelease(pos)
	}
	r.cmu.Lock()
	defer r.cmu.Unlock()
	if r.viewOut {
		return errViewOut
	}
	var lost uint64
	for {
		pos, n, l, err := r.bNext()
		lost += l
		if err != nil {
			r.addLost(lost)
			return err
		}
		copy(buf, r.payload(pos, n))
		if r.bValid(pos) {
			r.bRelease(pos)
			r.addLost(lost)
			*rec = Record{N: int(n), Seq: pos, Lost: lost}
			return nil
		}
		lost++ // torn while copied: skip it
		mem.Store64(r.ent64(r.self, entCursor), pos+1)
	}
}
