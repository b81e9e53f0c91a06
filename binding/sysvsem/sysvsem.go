//go:build linux && cgo

// Package sysvsem gives Go programs the System V semaphore sets that C
// programs use (semget, semop, semtimedop, semctl through the module's C
// shim): sets of counters changed by atomic groups of operations, with
// SEM_UNDO, so the kernel gives back the units of a process that dies.
//
// # Model
//
// A *Set is a handle on a set that belongs to the system: Close releases
// the handle (its C waiter state), Remove removes the set (IPC_RMID) for
// every process. A set is found by a key (an explicit number, shm.Ftok of a
// path and a project id, or Private for a new unnamed one) or by its id
// (OpenID), as ipcs prints it.
//
// Creation without the classic race. semget makes a set whose values are 0
// and whose sem_otime is 0; Open with os.O_CREATE makes it with
// IPC_CREAT|IPC_EXCL, sets the values (SETALL) and then performs one
// operation that changes nothing (so sem_otime is set): that marks the set
// initialised. A process that opens an existing set waits (up to
// InitTimeout) until sem_otime is set; a creator that died half-way is
// detected, not waited for: after SETALL, semctl GETPID names it and it is
// gone; before, the set stays uninitialised past InitTimeout. Both give
// ErrUninitialized (remove the set and create it again). A C peer that
// follows the same handshake (or the one in Stevens' UNIX Network
// Programming, which this is) interoperates.
//
// Operations. Do applies a group of Ops (take: Delta < 0, give: Delta > 0,
// wait for zero: Delta 0) atomically: all or none (semtimedop). Undo makes
// the kernel revert the op when this process exits, however it exits
// (kill -9 included). A Do that returns an error changed nothing.
//
// Waiting. Do first tries without waiting (IPC_NOWAIT on every op). When it
// must block, the call goes through the module's waiter kit
// (internal/gate): calls with the same ops share a gate, so at most one of
// them waits inside C and the others park in Go; calls with different ops
// wait side by side. At most gate.MaxInKernel waiters of the process are
// inside C at once (the others poll every 1 to 25 ms), so 1,000 blocked
// goroutines cost a bounded number of threads. The one inside C waits in
// semtimedop with the context's deadline (relative, on the monotonic
// clock) and is reached by cancellation through flags in C memory and a
// SIGURG sent to its thread: semtimedop is never restarted after a signal,
// so the interrupted call returns EINTR having changed nothing.
//
// Close is idempotent and safe while other goroutines wait: they return an
// error wrapping os.ErrClosed, and the C state is freed only after the last
// call in flight has left C. A handle dropped without Close is cleaned up.
//
// Errors are *fs.PathError wrapping syscall.Errno (or the context's
// error); a set removed while the handle is open gives errors matching
// ErrRemoved, syscall.EIDRM and syscall.EINVAL; system limits come as a
// *LimitError naming the setting (kernel.sem's SEMMSL, SEMMNS, SEMOPM,
// SEMMNI fields).
//
// # Trust
//
// The kernel holds the set: a peer with write permission can change any
// value at any time (SETVAL hands out units and clears undo records), or
// remove the set, but it cannot corrupt this process's memory. Values are
// always 0 to ValueMax.
//
// # When to prefer it over POSIX semaphores (binding/sem)
//
// A POSIX semaphore's units have no owner: a process killed while holding
// one leaves it taken for good. Take units with Undo from a System V set
// and the kernel gives them back at the holder's death. The price: every
// operation is a system call (a POSIX semaphore's uncontended post and
// wait stay in user space), and undo records are per process, not per
// thread or goroutine.
package sysvsem

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/internal/errs"
	"github.com/posixipc/posixipc/internal/gate"
	"github.com/posixipc/posixipc/internal/sysv"
	"golang.org/x/sys/unix"
)

// Private is the key of a new, unnamed set (IPC_PRIVATE): Open with it
// always creates (it needs os.O_CREATE); peers reach it by its id.
const Private = sysv.Private

// Op flags.
const (
	// NoWait makes an op that would block fail the whole Do at once with
	// an error wrapping syscall.EAGAIN (IPC_NOWAIT).
	NoWait = posixipc.IPC_NOWAIT
	// Undo makes the kernel revert the op when this process exits
	// (SEM_UNDO).
	Undo = posixipc.SEM_UNDO
)

// ValueMax is the largest value of a semaphore of a set (SEMVMX); an op's
// Delta is -ValueMax to ValueMax.
const ValueMax = 32767

// InitTimeout bounds how long Open waits for the creator of an existing set
// to initialise it.
const InitTimeout = 5 * time.Second

// ErrUninitialized is wrapped by Open's error for a set whose creator died
// (or stalled past InitTimeout) before initialising it.
var ErrUninitialized = errUninit{}

type errUninit struct{}

func (errUninit) Error() string {
	return "the set was created but never initialised (remove it and create it again)"
}

// ErrRemoved is wrapped by the errors of calls on a set that was removed
// while the handle was open. errors.Is matches it against syscall.EIDRM and
// syscall.EINVAL too.
var ErrRemoved = errs.Removed

// ErrDeadline is wrapped by the error of a call whose context deadline
// passed while it waited (the same value in every package).
var ErrDeadline = errs.Deadline

// LimitError reports a system limit that stopped a call, and the setting
// to raise.
type LimitError = errs.LimitError

// Op is one operation of a Do on semaphore Num of the set: Delta < 0 takes
// -Delta units (waiting until there are), Delta > 0 gives Delta units,
// Delta 0 waits until the value is 0. Flags: NoWait, Undo.
type Op struct {
	Num   int
	Delta int
	Flags int
}

// Set is a handle on a System V semaphore set. It is safe for concurrent
// use.
type Set struct {
	id    int
	nsems int
	name  string // "semid ID"
	k     *gate.Waiters

	errClosed error
	cleanup   runtime.Cleanup
}

// Open opens the set of key (semget). flag is 0 (the set must exist) or
// os.O_CREATE, optionally with os.O_EXCL (it must not exist); the access
// mode bits are accepted and ignored. When the call creates the set, it
// has len(values) semaphores set to values (each 0 to ValueMax) and
// permission perm, and it is initialised before any peer can use it (see
// the package doc); when the set exists, Open waits for its initialisation
// and values only bounds its size (at least len(values) semaphores). Key
// Private always creates a new set.
func Open(key int, flag int, perm os.FileMode, values []int) (*Set, error) {
	nm := sysv.KeyName(key)
	f, err := sysv.Flags(key, flag, perm)
	if err != nil {
		return nil, &fs.PathError{Op: "semget", Path: nm, Err: err}
	}
	for i, v := range values {
		if v < 0 || v > ValueMax {
			return nil, &fs.PathError{Op: "semget", Path: nm, Err: fmt.Errorf("value %d of semaphore %d: must be 0 to %d: %w", v, i, ValueMax, syscall.EINVAL)}
		}
	}
	if flag&os.O_CREATE != 0 {
		if len(values) == 0 {
			return nil, &fs.PathError{Op: "semget", Path: nm, Err: fmt.Errorf("a new set needs at least one value: %w", syscall.EINVAL)}
		}
		id, err := posixipc.Semget(key, len(values), f|unix.IPC_EXCL)
		if err == nil {
			return create(id, values)
		}
		if err != syscall.EEXIST || flag&os.O_EXCL != 0 {
			return nil, &fs.PathError{Op: "semget", Path: nm, Err: getErr(err, len(values))}
		}
	}
	id, err := posixipc.Semget(key, len(values), 0)
	if err != nil {
		return nil, &fs.PathError{Op: "semget", Path: nm, Err: getErr(err, len(values))}
	}
	return opened(id)
}

// Create creates a new set of key with values: Open(key,
// os.O_CREATE|os.O_EXCL, perm, values).
func Create(key int, perm os.FileMode, values []int) (*Set, error) {
	return Open(key, os.O_CREATE|os.O_EXCL, perm, values)
}

// OpenID returns a handle on the set whose id is id (as ipcs and ID print
// it), after checking that it exists (semctl IPC_STAT; an error matching
// fs.ErrNotExist when no set has that id). It does not wait
// for the initialisation handshake: an id comes from a process that made
// the set already (tools such as ipcmk never perform it).
func OpenID(id int) (*Set, error) {
	nm := sysv.IDName("semid", id)
	if id < 0 {
		return nil, &fs.PathError{Op: "semctl", Path: nm, Err: fmt.Errorf("id %d is negative: %w", id, syscall.EINVAL)}
	}
	st, err := posixipc.SemctlStat(id)
	if err != nil {
		return nil, &fs.PathError{Op: "semctl", Path: nm, Err: sysv.NoID("semaphore set", err)}
	}
	return newSet(id, int(st.NSems)), nil
}

// create initialises the new set id (SETALL, then an op that sets
// sem_otime), removing it when that fails.
func create(id int, values []int) (*Set, error) {
	nm := sysv.IDName("semid", id)
	v := make([]uint16, len(values))
	for i, x := range values {
		v[i] = uint16(x)
	}
	err := posixipc.SemctlSetall(id, v)
	if err == nil {
		// +1 then -1 (or -1 then +1 at ValueMax) on semaphore 0: a net
		// change of nothing that sets sem_otime, the "initialised" mark.
		ops := []posixipc.SemBuf{{Num: 0, Op: 1, Flg: unix.IPC_NOWAIT}, {Num: 0, Op: -1, Flg: unix.IPC_NOWAIT}}
		if values[0] == ValueMax {
			ops[0].Op, ops[1].Op = -1, 1
		}
		err = posixipc.Semop(id, ops)
	}
	if err != nil {
		posixipc.SemctlRmid(id)
		return nil, &fs.PathError{Op: "semctl", Path: nm, Err: err}
	}
	return newSet(id, len(values)), nil
}

// opened waits until the existing set id is initialised.
func opened(id int) (*Set, error) {
	nm := sysv.IDName("semid", id)
	start := time.Now()
	for d := 50 * time.Microsecond; ; d = min(2*d, 10*time.Millisecond) {
		st, err := posixipc.SemctlStat(id)
		if err != nil {
			return nil, &fs.PathError{Op: "semctl", Path: nm, Err: err}
		}
		if st.OTime != 0 {
			return newSet(id, int(st.NSems)), nil
		}
		// Not yet initialised: is its creator still there? (SETALL
		// records it as the last process, on Linux.)
		if pid, err := posixipc.SemctlGet(id, 0, posixipc.GETPID); err == nil && pid > 0 {
			if unix.Kill(pid, 0) == unix.ESRCH {
				return nil, &fs.PathError{Op: "semget", Path: nm, Err: fmt.Errorf("its creator, pid %d, died before initialising it: %w", pid, ErrUninitialized)}
			}
		}
		if time.Since(start) > InitTimeout {
			return nil, &fs.PathError{Op: "semget", Path: nm, Err: fmt.Errorf("not initialised after %v: %w", InitTimeout, ErrUninitialized)}
		}
		time.Sleep(d)
	}
}

func newSet(id, nsems int) *Set {
	s := &Set{id: id, nsems: nsems, name: sysv.IDName("semid", id), k: gate.NewWaiters(true)}
	s.errClosed = &fs.PathError{Op: "sem", Path: s.name, Err: os.ErrClosed}
	s.cleanup = runtime.AddCleanup(s, func(k *gate.Waiters) { k.Close() }, s.k)
	return s
}

const procSem = "/proc/sys/kernel/sem"

// semLimits reads kernel.sem: SEMMSL, SEMMNS, SEMOPM, SEMMNI (-1 when it
// cannot).
func semLimits() (msl, mns, opm, mni int) {
	msl, mns, opm, mni = -1, -1, -1, -1
	b, err := os.ReadFile(procSem)
	if err != nil {
		return
	}
	f := strings.Fields(string(b))
	if len(f) != 4 {
		return
	}
	p := func(s string) int {
		n, err := strconv.Atoi(s)
		if err != nil {
			return -1
		}
		return n
	}
	return p(f[0]), p(f[1]), p(f[2]), p(f[3])
}

// getErr names the limit behind a failed semget.
func getErr(err error, nsems int) error {
	msl, mns, _, mni := semLimits()
	switch err {
	case syscall.EINVAL:
		if msl >= 0 && nsems > msl {
			return &LimitError{Errno: syscall.EINVAL, Setting: procSem + " (SEMMSL, its first field)",
				Detail: fmt.Sprintf("%d semaphores in a set is above SEMMSL = %d", nsems, msl)}
		}
		return fmt.Errorf("the existing set has fewer than %d semaphores: %w", nsems, err)
	case syscall.ENOSPC:
		return &LimitError{Errno: syscall.ENOSPC, Setting: procSem + " (SEMMNI or SEMMNS, its fourth and second fields)",
			Detail: fmt.Sprintf("the system holds SEMMNI = %d sets or SEMMNS = %d semaphores already", mni, mns)}
	}
	return err
}

// ID returns the set's id (semid).
func (s *Set) ID() int { return s.id }

// Len returns the number of semaphores in the set.
func (s *Set) Len() int { return s.nsems }

// Name returns "semid ID", the name errors use.
func (s *Set) Name() string { return s.name }

// opBufs holds the C-layout copies of Do's ops (0 allocations per call).
var opBufs = sync.Pool{New: func() any { return new([maxPooled]posixipc.SemBuf) }}

const maxPooled = 32

// checkOps validates ops and writes them in C layout into b.
func (s *Set) checkOps(ops []Op, b []posixipc.SemBuf) error {
	if len(ops) == 0 {
		return fmt.Errorf("no operation: %w", syscall.EINVAL)
	}
	for i, o := range ops {
		switch {
		case o.Num < 0 || o.Num >= s.nsems:
			return fmt.Errorf("op %d: semaphore %d: the set has %d (0 to %d): %w", i, o.Num, s.nsems, s.nsems-1, syscall.EINVAL)
		case o.Delta < -ValueMax || o.Delta > ValueMax:
			return fmt.Errorf("op %d: delta %d: must be -%d to %d: %w", i, o.Delta, ValueMax, ValueMax, syscall.EINVAL)
		case o.Flags&^(NoWait|Undo) != 0:
			return fmt.Errorf("op %d: flags %#x: only NoWait and Undo are supported: %w", i, o.Flags, syscall.EINVAL)
		}
		b[i] = posixipc.SemBuf{Num: uint16(o.Num), Op: int16(o.Delta), Flg: int16(o.Flags)}
	}
	return nil
}

// key is the waiter key of ops (FNV-1a): equal for equal ops.
func key(b []posixipc.SemBuf) uint64 {
	h := uint64(14695981039346656037)
	for _, o := range b {
		for _, x := range [3]uint64{uint64(o.Num), uint64(uint16(o.Op)), uint64(uint16(o.Flg))} {
			h = (h ^ x) * 1099511628211
		}
	}
	return h
}

// Do applies ops atomically (semop/semtimedop): all of them, once they can
// all proceed, or none. It blocks until then, ctx is done (an error
// wrapping ctx.Err(); a passed deadline also matches syscall.ETIMEDOUT) or
// the handle is closed (os.ErrClosed). An op with NoWait that would block
// fails the Do at once (syscall.EAGAIN). A Do that returns an error changed
// nothing.
func (s *Set) Do(ctx context.Context, ops ...Op) error {
	var arr *[maxPooled]posixipc.SemBuf
	var b []posixipc.SemBuf
	if len(ops) <= maxPooled {
		arr = opBufs.Get().(*[maxPooled]posixipc.SemBuf)
		defer opBufs.Put(arr)
		b = arr[:len(ops)]
	} else {
		b = make([]posixipc.SemBuf, len(ops))
	}
	if err := s.checkOps(ops, b); err != nil {
		return &fs.PathError{Op: "semop", Path: s.name, Err: err}
	}
	nowait, gives := false, true
	for _, o := range b {
		nowait = nowait || o.Flg&unix.IPC_NOWAIT != 0
		gives = gives && o.Op > 0
	}
	var err error
	if nowait || gives { // the caller asked not to wait, or it cannot block: one call
		if !s.k.Acquire() {
			return s.errClosed
		}
		err = posixipc.Semop(s.id, b)
		s.k.Release()
	} else {
		err = s.k.Block(ctx, key(b),
			func() error {
				for i := range b {
					b[i].Flg |= unix.IPC_NOWAIT
				}
				e := posixipc.Semop(s.id, b)
				for i := range b {
					b[i].Flg &^= unix.IPC_NOWAIT
				}
				return e
			},
			func(w posixipc.Waiter, rel int64) error { return posixipc.SemopWait(w, s.id, b, rel) })
	}
	if err != nil {
		return s.opErr(err, len(ops))
	}
	return nil
}

func (s *Set) opErr(err error, n int) error {
	switch err {
	case os.ErrClosed:
		return s.errClosed
	case syscall.E2BIG:
		_, _, opm, _ := semLimits()
		err = &LimitError{Errno: syscall.E2BIG, Setting: procSem + " (SEMOPM, its third field)",
			Detail: fmt.Sprintf("%d ops in one call is above SEMOPM = %d", n, opm)}
	case syscall.ERANGE:
		err = fmt.Errorf("an op would take a value above %d (SEMVMX): %w", ValueMax, err)
	}
	return &fs.PathError{Op: "semop", Path: s.name, Err: s.gone(err)}
}

// gone maps the errors of a removed set to ErrRemoved.
func (s *Set) gone(err error) error {
	return sysv.Gone(err, func() error { _, e := posixipc.SemctlStat(s.id); return e })
}

// ctl runs one semctl call on the open handle, mapping its error.
func (s *Set) ctl(num int, f func() error) error {
	if num < -1 || num >= s.nsems {
		return &fs.PathError{Op: "semctl", Path: s.name, Err: fmt.Errorf("semaphore %d: the set has %d: %w", num, s.nsems, syscall.EINVAL)}
	}
	if !s.k.Acquire() {
		return s.errClosed
	}
	err := f()
	s.k.Release()
	if err != nil {
		return &fs.PathError{Op: "semctl", Path: s.name, Err: s.gone(err)}
	}
	return nil
}

func (s *Set) get(num, cmd int) (int, error) {
	var v int
	err := s.ctl(num, func() (e error) { v, e = posixipc.SemctlGet(s.id, num, cmd); return })
	return v, err
}

// Value returns the value of semaphore num (semctl GETVAL).
func (s *Set) Value(num int) (int, error) { return s.get(num, posixipc.GETVAL) }

// Pid returns the process of the last operation on semaphore num (semctl
// GETPID; SETVAL and SETALL count too), 0 for none.
func (s *Set) Pid(num int) (int, error) { return s.get(num, posixipc.GETPID) }

// WaitingCount returns how many processes wait for semaphore num to grow
// (semctl GETNCNT).
func (s *Set) WaitingCount(num int) (int, error) { return s.get(num, posixipc.GETNCNT) }

// ZeroWaitingCount returns how many processes wait for semaphore num to be
// 0 (semctl GETZCNT).
func (s *Set) ZeroWaitingCount(num int) (int, error) { return s.get(num, posixipc.GETZCNT) }

// SetValue sets semaphore num to v (semctl SETVAL): waiters are woken as
// the new value allows, and every process's undo record for it is cleared.
func (s *Set) SetValue(num, v int) error {
	if v < 0 || v > ValueMax {
		return &fs.PathError{Op: "semctl", Path: s.name, Err: fmt.Errorf("value %d: must be 0 to %d: %w", v, ValueMax, syscall.EINVAL)}
	}
	return s.ctl(num, func() error { return posixipc.SemctlSetval(s.id, num, v) })
}

// Values returns the values of every semaphore (semctl GETALL).
func (s *Set) Values() ([]int, error) {
	v := make([]uint16, s.nsems)
	if err := s.ctl(-1, func() error { return posixipc.SemctlGetall(s.id, v) }); err != nil {
		return nil, err
	}
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out, nil
}

// SetValues sets every semaphore (semctl SETALL); values has one entry per
// semaphore, each 0 to ValueMax. Undo records are cleared, as by SetValue.
func (s *Set) SetValues(values []int) error {
	if len(values) != s.nsems {
		return &fs.PathError{Op: "semctl", Path: s.name, Err: fmt.Errorf("%d values for %d semaphores: %w", len(values), s.nsems, syscall.EINVAL)}
	}
	v := make([]uint16, len(values))
	for i, x := range values {
		if x < 0 || x > ValueMax {
			return &fs.PathError{Op: "semctl", Path: s.name, Err: fmt.Errorf("value %d of semaphore %d: must be 0 to %d: %w", x, i, ValueMax, syscall.EINVAL)}
		}
		v[i] = uint16(x)
	}
	return s.ctl(-1, func() error { return posixipc.SemctlSetall(s.id, v) })
}

// Info is the state of a set (semctl IPC_STAT).
type Info struct {
	Key        int         // the key it was made with (Private: 0)
	ID         int         // semid
	NSems      int         // semaphores in the set
	Mode       os.FileMode // permission bits
	UID, GID   int         // owner
	CUID, CGID int         // creator
	OTime      time.Time   // of the last semop (zero: never)
	CTime      time.Time   // of the last change (creation, IPC_SET, SETVAL, SETALL)
}

// Stat returns the set's state (semctl IPC_STAT).
func (s *Set) Stat() (Info, error) {
	var st posixipc.SemStat
	if err := s.ctl(-1, func() (e error) { st, e = posixipc.SemctlStat(s.id); return }); err != nil {
		return Info{}, err
	}
	return Info{
		Key: int(int32(st.Key)), ID: s.id, NSems: int(st.NSems), Mode: sysv.Perm(st.Mode),
		UID: int(st.UID), GID: int(st.GID), CUID: int(st.CUID), CGID: int(st.CGID),
		OTime: sysv.Time(st.OTime), CTime: sysv.Time(st.CTime),
	}, nil
}

// SetMode sets the set's permission bits (semctl IPC_SET).
func (s *Set) SetMode(perm os.FileMode) error {
	if perm&^os.ModePerm != 0 {
		return &fs.PathError{Op: "semctl", Path: s.name, Err: fmt.Errorf("mode %v: only permission bits are allowed: %w", perm, syscall.EINVAL)}
	}
	return s.ctl(-1, func() error {
		st, err := posixipc.SemctlStat(s.id)
		if err != nil {
			return err
		}
		return posixipc.SemctlSet(s.id, st.UID, st.GID, int64(perm))
	})
}

// Remove removes the set (semctl IPC_RMID): every call blocked on it in any
// process fails (here with an error matching ErrRemoved and
// syscall.EIDRM). The handle stays open (Close it).
func (s *Set) Remove() error { return s.ctl(-1, func() error { return posixipc.SemctlRmid(s.id) }) }

// Close releases the handle: goroutines blocked in Do return an error
// wrapping os.ErrClosed, and the C state goes once every call in flight
// has left C. It is idempotent. The set itself stays (Remove).
func (s *Set) Close() error {
	if s.k.Close() {
		s.cleanup.Stop()
	}
	return nil
}
