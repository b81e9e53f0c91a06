//go:build linux && cgo

// Package ring is a zero-copy channel between processes, Go and C alike: a
// ring of fixed-size slots in one POSIX shared memory object, whose layout
// and algorithms crt/posixipc_ring.h implements for C (header-only C11),
// so a C program shares a ring with a Go program byte for byte.
//
// # Model
//
// A ring is created once (Create, or Open with os.O_CREATE) with its
// shape, a Config: a power-of-two slot count, a slot size, a Mode, a Full
// policy and a 64-bit type tag that every opener must name (a mismatch is
// ErrTag at Open, not corrupt data later). Its header is versioned
// (Magic, Version) and validated at Open; a ring being made by a C
// creator is waited for up to a second.
//
//   - Queue mode: one or more producers, one or more consumers; every
//     record is consumed once, in the order of its position (Seq). It is
//     a bounded multi-producer, multi-consumer queue of sequenced slots
//     (after Dmitry Vyukov's): a producer or consumer, in Go or C, pays
//     per record one compare-and-swap (the slot's claim: tail and head are
//     hints moved by plain stores) and one fenced store, never a lock, and
//     a system call only to wake a sleeper. Goroutines may share a handle.
//   - SPSC mode: the queue with one producer and one consumer at a time,
//     the fast path for a stream between two processes: a second producer
//     or consumer gets ErrBusy while the first lives (the header names
//     both; a dead one's role passes to the next that opens). Each side is
//     the one taker of its slots: the consumer claims a slot by a plain
//     store instead of the compare-and-swap, and the producer writes no
//     claim on the slot's line, which the consumer is reading (its loan is
//     the tail passing the slot; whoever takes a dead producer's role, or
//     frees it, passes its loans to the consumer as skipped). Goroutines
//     may still share a handle: they take turns at taking a slot by an
//     atomic word of the handle (not of the segment), and each side may
//     hold several loans or views. Slots, sequences, a consumer's claims
//     and the recovery of a dead consumer's view are the queue's.
//   - Broadcast mode: one producer (a second gets ErrBusy while the first
//     lives) and subscribers that each see every record from the moment
//     they join. A slot is a seqlock; with Overwrite a subscriber that
//     falls more than a ring behind is told how many records it lost
//     (View.Lost, Record.Lost) and never gets a torn record from Receive.
//   - Full policy, chosen at creation: Block (wait, within the context),
//     Fail (an error matching syscall.EAGAIN at once) or Overwrite
//     (Broadcast only: write over the oldest record).
//
// A *Ring is one participant: Open's access mode says whether it produces
// (os.O_WRONLY), consumes or subscribes (os.O_RDONLY) or both (os.O_RDWR,
// Queue and SPSC: an SPSC handle opened so is the ring's producer and
// consumer). Zero copy: Loan lends a slot of the mapping as a []byte to
// fill and Commit publishes it (Abort gives it up); Next lends a record
// and View.Release gives it back. Send and Receive copy. Loans and views
// are valid until Commit, Abort, Release or Close; a Queue or SPSC handle may
// hold several at once, a broadcast producer or subscriber one. No Go
// pointer is ever stored in the segment.
//
// Batches: SendBatch and ReceiveBatch (C: pir_send_batch,
// pir_receive_batch) copy many records per call; LoanBatch with
// CommitBatch and NextBatch with ReleaseBatch (C: pir_loan_batch,
// pir_commit_batch, pir_next_batch, pir_release_batch) do the same in
// place. Each moves its records in order, as a call for each would: the
// slots free, or the records there, at once go through under one fault
// guard and one turn of the handle, with one fence and at most one
// wake-up system call for all of them, instead of one of each per record.
// A batch's loans and views are ordinary ones (Commit or Release one
// alone if you like); a broadcast producer or subscriber has one at a
// time, so there a batch is one. Batches are the way to stream: a Go call
// on the segment pays the fault guard (debug.SetPanicOnFault and a
// deferred recover, which turn a truncated segment into an error) and, on
// an SPSC handle, the turn that lets goroutines share it, and with the
// other side keeping up those keep one call a record at about half of C's
// rate for small records (the README's benchmark reading has the
// figures); a batch pays them once.
//
// # Waiting
//
// A call that cannot proceed spins on the shared words for the handle's
// spin budget (DefaultSpin, SetSpin; 1 µs of it without yielding the CPU,
// then yielding between looks, so two spinners on one CPU do not burn it),
// by one goroutine per handle and direction; then it goes through the
// module's waiter kit (internal/gate): one goroutine per handle and
// direction sleeps on the direction's futex word in the segment
// (futex_waitv on it and the waiter's kick word, timed on CLOCK_MONOTONIC
// only by a deadline, in C: posixipc.RingWait), the
// others park in Go, and at most gate.MaxInKernel sleepers of the process
// hold a thread; past those, a sleeper counts itself in the same way and
// waits in the process's futex watch (gate.FutexWait: one thread sleeps in
// futex_waitv on the words of up to 127 such waits), except a broadcast
// producer waiting for room and a wait for a slot another participant
// holds (whose death only the sliced sleep in C sees): those poll with the
// kit's 1 to 25 ms backoff until a slot is free. A waker makes the
// FUTEX_WAKE system call only when the
// direction's waiter count says someone sleeps. An idle consumer costs no
// CPU after its spin budget. Every blocking call takes a context:
// cancellation and Close reach the sleeper (the kit's kick: its kick word
// ends the wait), and a cancelled call took or put nothing.
// A deadline too far to represent is no deadline.
//
// # Liveness and recovery
//
// Each participant takes an entry of the ring's participant table and
// holds an OFD write lock (F_OFD_SETLK) on byte e of the segment, e its
// entry, for as long as its handle is open: the kernel drops the lock when
// the process dies, however it dies, so a free lock means a gone owner
// (no pid reuse, across pid namespaces). Every slot taken by a queue
// participant is taken by a compare-and-swap of its claim word to the
// taker's name (the claim is the taking), so a slot is never taken over
// from the living. When a
// waiter finds the slot it waits for held (a loan not committed, a view
// not released), it checks the holder's lock every 10 ms and, when the
// holder is dead, takes the slot over: a dead producer's loan passes to
// the consumers as skipped, a dead consumer's view is released (the
// record counts as delivered: delivery is at most once), a dead
// subscriber no longer holds a Block producer back, and a dead
// broadcast producer is replaced by the next one that opens. A new
// participant that takes a dead one's entry reclaims what it held first.
// Nothing committed and not yet consumed is lost. Stat shows who is in
// the ring and whether they are alive; Inspect does so without joining.
//
// # Trust and safety
//
// Every process that can write the segment can break the ring: it is
// their memory too. Who can is set by the object's permission bits (Open
// takes perm; 0600 is one user) and, in containers, by the IPC and mount
// namespaces (/dev/shm). What this package guarantees against a peer that
// writes garbage or truncates the segment: the header is validated at
// Open (every field one a creator writes, the layout inside the mapping);
// every index is masked into the slot array; every record length is
// checked against the slot size; impossible values (a record longer than
// its slot, a sequence or cursor ahead of the tail) are ErrCorrupt
// (EUCLEAN) and the record is passed so the ring does not wedge; a wait on
// corrupt state still ends at its deadline, cancellation or Close; and
// every access of the package to the mapping runs under
// debug.SetPanicOnFault with fault-safe atomics (internal/mem), so a
// truncated segment gives errors wrapping syscall.EFAULT, never a SIGBUS.
// Creation reserves the backing store (fallocate, through binding/shm):
// a full /dev/shm is ENOSPC at Create, not SIGBUS later.
//
// Not made safe, by design: the memory of a Loan or View is the mapping
// itself (that is the zero copy). If a peer truncates the segment while
// the program reads or writes a loan or view, that access faults like any
// access to a truncated mapping (SIGBUS); a program that must survive
// such peers uses Send and Receive, or wraps its access in
// debug.SetPanicOnFault (TestTruncatedSegment shows both). A record
// being overwritten (Overwrite mode) while it is viewed may be torn:
// Release then reports ErrOverrun.
//
// # Threads and lifetimes
//
// A *Ring is safe for concurrent use. Close is idempotent: blocked calls
// return an error wrapping os.ErrClosed, the handle's loans are given up
// and its views released, its entry is freed, and the mapping is unmapped
// after the last call in flight has left; a handle dropped without Close
// is cleaned up the same way (its lock goes with its descriptor, so the
// others reclaim what it held). Remove unlinks the ring's name.
//
// Not supported: variable-size records larger than a slot (split them),
// growing a ring, more than one producer in Broadcast mode or more than one
// producer or consumer in SPSC mode, records that
// outlive the segment (it is memory: a reboot or Remove with no handle
// open ends them), and rings on other hosts.
package ring
