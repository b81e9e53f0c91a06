//go:build linux && cgo

// Package sig sends and receives signals that carry data, as C daemons use
// them: sigqueue(3) (or pidfd_send_signal(2)) with an integer value, and a
// receiver that gets each signal's siginfo (code, sender's pid and uid,
// value), which Go's os/signal never passes on (it delivers the number
// only).
//
// # Model
//
// Queue and QueuePidfd send. Take takes one signal over from the Go
// runtime for this process: it installs a C handler (SA_SIGINFO |
// SA_ONSTACK | SA_RESTART, as Go's os/signal documentation asks of
// non-Go handlers in a cgo program) that writes one fixed-size record per
// signal to a pipe with write(2), which is async-signal-safe; Receive reads
// the records, in the order the handler wrote them, through the module's
// waiter kit as every blocking call of the module waits (internal/stream:
// one goroutine per Receiver waits inside C in a blocking read(2) of its
// own open file description of the pipe, the others park in Go; the
// context's end, or Close, kicks it). Realtime signals queue in the kernel (up to RLIMIT_SIGPENDING per
// user), so none is lost between sender and handler; the pipe holds
// about 43,000 records, and a record the handler cannot write (the pipe is
// full because nobody Receives) is counted, not silently dropped (Lost).
// Each signal ever taken keeps its pipe (two descriptors) for the life of
// the process, so that a handler still running when the signal is given
// back never writes to a closed (and reused) descriptor.
// Standard signals (SIGUSR1, ...) do not queue: two sent before the
// handler runs arrive as one, as in C. Close gives the signal back (the
// disposition Take replaced, normally the Go runtime's).
//
// # Rules (Go's os/signal documentation, for programs that use cgo)
//
// Only signals the Go runtime does not rely on may be taken: the realtime
// signals SIGRTMIN..SIGRTMAX (glibc's SIGRTMIN, above the two it keeps for
// threads and set*id), SIGUSR1, SIGUSR2, SIGHUP, SIGTERM, SIGALRM,
// SIGVTALRM, SIGWINCH, SIGIO and SIGPWR. Never SIGURG (goroutine
// preemption), SIGPROF (profiling), SIGPIPE, SIGCHLD or the synchronous
// signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS), which the
// runtime turns into panics; SIGKILL and SIGSTOP cannot be caught at all.
// A signal already taken (by this package, or by another C handler) is
// refused with EBUSY.
//
// Order. Signals that come one at a time (each after the previous one was
// handled) are received in the order they were sent. In a burst, the
// kernel dequeues a signal's instances in order but may hand two of them
// to two threads at once, whose handlers then race to write: records of a
// burst can swap places (none is lost or doubled; the storm test counts
// how many swap). Strict order would need every thread but one to block
// the signal, and a thread's signal mask is inherited by every program it
// starts (os/exec), so the C peers a Go program runs would find the signal
// blocked: not done. A sender that needs strict order in bursts numbers
// its values.
//
// Not detectable: whether os/signal's Notify also watches the signal. The
// runtime installs its handler for every signal at start-up whether or not
// Notify is called, and keeps no public record of which ones Notify wants;
// while this package holds a signal, os/signal's channels for it receive
// nothing. Do not watch a taken signal with os/signal.
//
// # Trust
//
// A signal's pid and uid are filled in by the kernel for sigqueue, kill
// and mq_notify (a process cannot forge another's pid through sigqueue);
// the value is whatever the sender chose. A process of the same user (or
// root) can send any signal at any rate: a receiver must treat values as
// input.
package sig

import (
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/internal/errs"
	"github.com/posixipc/posixipc/internal/stream"
	"golang.org/x/sys/unix"
)

// The si_code values a receiver sees most (siginfo.h).
const (
	CodeUser  = 0  // SI_USER: kill(2), raise
	CodeQueue = -1 // SI_QUEUE: sigqueue(3), pidfd_send_signal with SI_QUEUE
	CodeTimer = -2 // SI_TIMER: a POSIX timer expired
	CodeMesgq = -3 // SI_MESGQ: an mq_notify(3) notification (mq.Queue.NotifySignalValue)
	CodeAsync = -4 // SI_ASYNCIO
	CodeTkill = -6 // SI_TKILL: tgkill(2)
)

// ErrDeadline is wrapped by the error of a Receive whose context deadline
// passed (the same value in every package).
var ErrDeadline = errs.Deadline

// LimitError reports a system limit that stopped a call, and the setting
// to raise.
type LimitError = errs.LimitError

// Info is one received signal: its siginfo as the kernel filled it in.
type Info struct {
	Signo syscall.Signal
	Code  int // si_code: CodeQueue, CodeMesgq, CodeUser, ...
	Pid   int // the sender's process (in this process's pid namespace)
	UID   int // the sender's real user id
	Value int // si_value.sival_int: the sender's value (sigqueue, mq_notify)
}

// RTMin and RTMax return the realtime signal range as glibc numbers it
// (SIGRTMIN excludes the two glibc keeps for itself).
func RTMin() syscall.Signal { return syscall.Signal(posixipc.SIGRTMIN()) }

// RTMax returns SIGRTMAX.
func RTMax() syscall.Signal { return syscall.Signal(posixipc.SIGRTMAX()) }

// Parse reads a signal: a number ("44"), a name with or without "SIG"
// ("USR1", "SIGTERM"), or a realtime one as glibc numbers them ("RTMIN",
// "RTMIN+5", "SIGRTMAX-2").
func Parse(s string) (syscall.Signal, error) {
	bad := func(why string) (syscall.Signal, error) {
		return 0, fmt.Errorf("signal %q: %s: %w", s, why, syscall.EINVAL)
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > int(RTMax()) {
			return bad(fmt.Sprintf("want 1 to %d", int(RTMax())))
		}
		return syscall.Signal(n), nil
	}
	u := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	for _, rt := range []struct {
		name string
		base syscall.Signal
		sign int
	}{{"RTMIN", RTMin(), 1}, {"RTMAX", RTMax(), -1}} {
		rest, ok := strings.CutPrefix(u, rt.name)
		if !ok {
			continue
		}
		off := 0
		if rest != "" {
			op := map[int]byte{1: '+', -1: '-'}[rt.sign]
			if rest[0] != op {
				return bad(fmt.Sprintf("want %s%cN", rt.name, op))
			}
			n, err := strconv.Atoi(rest[1:])
			if err != nil || n < 0 {
				return bad(fmt.Sprintf("want %s%cN", rt.name, op))
			}
			off = n
		}
		sig := int(rt.base) + rt.sign*off
		if sig < int(RTMin()) || sig > int(RTMax()) {
			return bad(fmt.Sprintf("outside RTMIN..RTMAX (%d..%d)", int(RTMin()), int(RTMax())))
		}
		return syscall.Signal(sig), nil
	}
	if n := unix.SignalNum("SIG" + u); n != 0 {
		return n, nil
	}
	return bad("no such signal")
}

// Name returns a signal's name: "SIGUSR1", "SIGRTMIN+5" (realtime signals
// counted from glibc's SIGRTMIN), or the number.
func Name(sig syscall.Signal) string {
	if sig >= RTMin() && sig <= RTMax() {
		if sig == RTMin() {
			return "SIGRTMIN"
		}
		return fmt.Sprintf("SIGRTMIN+%d", int(sig-RTMin()))
	}
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return strconv.Itoa(int(sig))
}

// Queue sends sig with value to process pid (sigqueue(3)): a C handler
// installed with SA_SIGINFO finds value in si_value.sival_int, si_code
// SI_QUEUE. A realtime signal is queued; when the receiver's user has
// RLIMIT_SIGPENDING signals pending, Queue fails with a *LimitError
// wrapping EAGAIN.
func Queue(pid int, sig syscall.Signal, value int) error {
	if err := checkSend(sig, value); err != nil {
		return os.NewSyscallError("sigqueue", err)
	}
	return os.NewSyscallError("sigqueue", sendErr(posixipc.Sigqueue(pid, int(sig), value)))
}

// QueuePidfd is Queue to the process of pidfd (pidfd_send_signal(2) with a
// SI_QUEUE siginfo): no pid reuse can misdirect it.
func QueuePidfd(pidfd int, sig syscall.Signal, value int) error {
	if err := checkSend(sig, value); err != nil {
		return os.NewSyscallError("pidfd_send_signal", err)
	}
	return os.NewSyscallError("pidfd_send_signal", sendErr(posixipc.PidfdSigqueue(pidfd, int(sig), value)))
}

func checkSend(sig syscall.Signal, value int) error {
	if sig <= 0 || sig > RTMax() {
		return fmt.Errorf("signal %d: want 1 to %d: %w", int(sig), int(RTMax()), syscall.EINVAL)
	}
	if int64(value) != int64(int32(value)) {
		return fmt.Errorf("value %d: sival_int holds 32 bits: %w", value, syscall.EINVAL)
	}
	return nil
}

func sendErr(err error) error {
	if err == syscall.EAGAIN {
		var rl unix.Rlimit
		lim := "unknown"
		if unix.Getrlimit(unix.RLIMIT_SIGPENDING, &rl) == nil {
			lim = strconv.FormatUint(rl.Cur, 10)
		}
		return &LimitError{Errno: syscall.EAGAIN, Setting: "RLIMIT_SIGPENDING (ulimit -i)",
			Detail: fmt.Sprintf("the receiving user has RLIMIT_SIGPENDING = %s signals queued already", lim)}
	}
	return err
}

// takeable are the signals Take accepts besides SIGRTMIN..SIGRTMAX.
var takeable = map[syscall.Signal]bool{
	unix.SIGUSR1: true, unix.SIGUSR2: true, unix.SIGHUP: true, unix.SIGTERM: true, unix.SIGALRM: true,
	unix.SIGVTALRM: true, unix.SIGWINCH: true, unix.SIGIO: true, unix.SIGPWR: true,
}

// checkTake refuses the signals the Go runtime relies on.
func checkTake(sig syscall.Signal) error {
	if (sig >= RTMin() && sig <= RTMax()) || takeable[sig] {
		return nil
	}
	why := "the Go runtime relies on it"
	switch sig {
	case unix.SIGKILL, unix.SIGSTOP:
		why = "it cannot be caught"
	case unix.SIGURG:
		why = "the Go runtime preempts goroutines with it"
	case unix.SIGPROF:
		why = "the Go runtime's profiler uses it"
	case unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE, unix.SIGILL, unix.SIGTRAP, unix.SIGSYS:
		why = "the Go runtime turns it into a panic"
	case 32, 33:
		why = "glibc keeps it for threads and set*id"
	}
	if sig <= 0 || sig > RTMax() {
		why = fmt.Sprintf("want 1 to %d", int(RTMax()))
	}
	return fmt.Errorf("signal %s: %s (take SIGRTMIN..SIGRTMAX, SIGUSR1 or SIGUSR2): %w", Name(sig), why, syscall.EINVAL)
}

var (
	takenMu sync.Mutex
	taken   = map[syscall.Signal]bool{}
	pipes   = map[syscall.Signal][2]int{} // each signal's records pipe, kept for good
)

// Receiver holds a taken signal and reads its records. It is safe for
// concurrent use; Receives run one at a time.
type Receiver struct {
	sig  syscall.Signal
	f    *os.File       // a duplicate of the read end of the signal's pipe
	s    *stream.Stream // reads it through the waiter kit
	once sync.Once
	buf  [posixipc.SigRecordSize]byte
	cl   runtime.Cleanup
}

// dropped is what the cleanup of a Receiver dropped without Close needs.
type dropped struct {
	sig syscall.Signal
	f   *os.File
	s   *stream.Stream
}

// give gives sig back (a Receiver closed or dropped).
func give(sig syscall.Signal) {
	takenMu.Lock()
	defer takenMu.Unlock()
	if taken[sig] {
		posixipc.SigGive(int(sig))
		delete(taken, sig)
	}
}

// pipeSize is the capacity asked for the records' pipe (the default limit
// of an unprivileged process, /proc/sys/fs/pipe-max-size).
const pipeSize = 1 << 20

// pipeOf returns sig's records pipe, made on first use and kept: a handler
// still running on another thread when the signal is given back may write
// one more record, and must never find its descriptor closed (and reused).
// Records left from an earlier Receiver are drained. Call with takenMu.
func pipeOf(sig syscall.Signal) ([2]int, error) {
	if p, ok := pipes[sig]; ok {
		var b [4096]byte
		for {
			if n, err := unix.Read(p[0], b[:]); n <= 0 || err != nil {
				break
			}
		}
		return p, nil
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return p, os.NewSyscallError("pipe2", err)
	}
	unix.FcntlInt(uintptr(p[1]), unix.F_SETPIPE_SZ, pipeSize) // best effort: the default 64 KiB also works
	pipes[sig] = p
	return p, nil
}

// Take takes sig over from the Go runtime (see the package doc for the
// rules) and returns its Receiver: from now on every sig this process gets
// is a record for Receive. It fails with EINVAL for a signal that may not
// be taken and EBUSY for one already taken.
func Take(sig syscall.Signal) (*Receiver, error) {
	if err := checkTake(sig); err != nil {
		return nil, os.NewSyscallError("sigaction", err)
	}
	takenMu.Lock()
	defer takenMu.Unlock()
	if taken[sig] {
		return nil, os.NewSyscallError("sigaction", fmt.Errorf("signal %s is taken already (Close its Receiver first): %w", Name(sig), syscall.EBUSY))
	}
	if h, ok := foreignHandler(sig); ok {
		return nil, os.NewSyscallError("sigaction", fmt.Errorf("signal %s has a handler that is not the Go runtime's (%#x): %w", Name(sig), h, syscall.EBUSY))
	}
	p, err := pipeOf(sig)
	if err != nil {
		return nil, err
	}
	rfd, err := unix.FcntlInt(uintptr(p[0]), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err)
	}
	if err := posixipc.SigTake(int(sig), p[1]); err != nil {
		unix.Close(rfd)
		return nil, os.NewSyscallError("sigaction", err)
	}
	taken[sig] = true
	f := os.NewFile(uintptr(rfd), "sig:"+Name(sig))
	r := &Receiver{sig: sig, f: f, s: stream.New(f, rfd, os.O_RDONLY, true)}
	r.cl = runtime.AddCleanup(r, func(r dropped) {
		r.s.Close()
		r.f.Close()
		give(r.sig)
	}, dropped{r.sig, r.f, r.s})
	return r, nil
}

// foreignHandler reports a handler of sig that is neither SIG_DFL, SIG_IGN
// nor the Go runtime's (the one SIGURG has, which the runtime always
// installs).
func foreignHandler(sig syscall.Signal) (uintptr, bool) {
	h, err := handlerOf(sig)
	if err != nil || h <= 1 {
		return 0, false
	}
	goh, err := handlerOf(unix.SIGURG)
	if err != nil || h == goh {
		return 0, false
	}
	return h, true
}

// handlerOf returns sig's sa_handler (rt_sigaction with no new action).
func handlerOf(sig syscall.Signal) (uintptr, error) {
	var old [4]uintptr // struct kernel_sigaction: handler, flags, restorer, mask
	_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&old[0])), 8, 0, 0)
	if e != 0 {
		return 0, e
	}
	return old[0], nil
}

// Signal returns the taken signal.
func (r *Receiver) Signal() syscall.Signal { return r.sig }

// Receive returns the next signal, blocking until one comes, ctx is done
// (an error wrapping ctx.Err(); a passed deadline also matches
// syscall.ETIMEDOUT) or the Receiver is closed (os.ErrClosed). See the
// package doc for the order.
func (r *Receiver) Receive(ctx context.Context) (Info, error) {
	// The handler writes whole records (less than PIPE_BUF: atomic), so a
	// read of one record's size gets one whole record.
	n, err := r.s.ReadContext(ctx, r.buf[:])
	if err == nil && n != len(r.buf) {
		err = fmt.Errorf("a %d-byte read of %d-byte records: %w", n, len(r.buf), syscall.EPROTO)
	}
	if err != nil {
		return Info{}, &fs.PathError{Op: "read", Path: "sig:" + Name(r.sig), Err: err}
	}
	e := binary.NativeEndian
	b := r.buf[:]
	return Info{
		Signo: syscall.Signal(int32(e.Uint32(b[0:]))), Code: int(int32(e.Uint32(b[4:]))),
		Pid: int(int32(e.Uint32(b[8:]))), UID: int(int32(e.Uint32(b[12:]))), Value: int(int32(e.Uint32(b[16:]))),
	}, nil
}

// Lost returns how many signals arrived while the pipe was full (nobody
// Received for about 43,000 signals) since the last call: they were
// counted, not recorded.
func (r *Receiver) Lost() int { return posixipc.SigLost(int(r.sig)) }

// Close gives the signal back (the disposition Take replaced) and wakes a
// blocked Receive (os.ErrClosed). Records not yet received are dropped. It
// is idempotent.
func (r *Receiver) Close() error {
	r.once.Do(func() {
		r.cl.Stop()
		give(r.sig)
		r.s.Close() // kicks a waiting Receive, waits for it to leave
		r.f.Close()
	})
	return nil
}

// Notify takes sig and delivers its signals on the returned channel, in
// the order Receive gives them, until ctx is done: then the signal is given back and the channel
// closed. The channel has room for buffer signals; while it is full,
// further ones wait in the pipe (about 43,000 more).
func Notify(ctx context.Context, sig syscall.Signal, buffer int) (<-chan Info, error) {
	r, err := Take(sig)
	if err != nil {
		return nil, err
	}
	ch := make(chan Info, max(buffer, 0))
	go func() {
		defer close(ch)
		defer r.Close()
		for {
			in, err := r.Receive(ctx)
			if err != nil {
				return
			}
			select {
			case ch <- in:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}
