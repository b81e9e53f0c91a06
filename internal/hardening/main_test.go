//go:build linux && cgo

package hardening

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/posixipc/posixipc/binding/fifo"
	"github.com/posixipc/posixipc/binding/flock"
	"github.com/posixipc/posixipc/binding/mq"
	"github.com/posixipc/posixipc/binding/pthread"
	"github.com/posixipc/posixipc/binding/sem"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/binding/sig"
	"github.com/posixipc/posixipc/binding/sysvmsg"
	"github.com/posixipc/posixipc/binding/sysvsem"
	"github.com/posixipc/posixipc/internal/peer"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/posixipc/posixipc/internal/testutil/ringvictim"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// Offsets in the struct posixipc_sync at offset 0 of every test segment
// (crt/posixipc_layout.h): a and b are equal whenever the mutex is free, the
// ledger counts the semaphore units held by processes.
const (
	offA      = pthread.LayoutA
	offB      = pthread.LayoutB
	offLedger = pthread.LayoutB + 8 // reserved[0]
)

// The test binary doubles as the Go helper process (testutil's one
// convention: testutil.RunHelperSwitch, testutil.HelperCommand).
func TestMain(m *testing.M) {
	testutil.RunHelperSwitch(helper)
	goleak.VerifyTestMain(m)
}

// helper runs one Go peer; the modes mirror crt/faultpeer.c's commands.
func helper(mode string, args []string) int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "helper:", err); return 1 }
	say := func(s string) { fmt.Println(s) }
	ctx := context.Background()
	// blockUntilKilled waits for the kill; it returns when the test (which
	// holds our stdin) has gone, so an orphan does not linger.
	blockUntilKilled := func() int { io.Copy(io.Discard, os.Stdin); return 1 }
	attach := func(name string) (*shm.Segment, *pthread.Mutex, error) {
		seg, err := shm.Open(name)
		if err != nil {
			return nil, nil, err
		}
		m, err := pthread.MutexAt(seg, pthread.LayoutMutex)
		return seg, m, err
	}
	switch mode {
	case "mutex-hold":
		seg, m, err := attach(args[0])
		if err != nil {
			return fail(err)
		}
		if err := lockRepair(ctx, seg, m); err != nil {
			return fail(err)
		}
		atomic.AddUint64(u64(seg, offA), 1) // half an update
		say("ready")
		return blockUntilKilled()
	case "cond-wait":
		seg, m, err := attach(args[0])
		if err != nil {
			return fail(err)
		}
		c, err := pthread.CondAt(seg, pthread.LayoutCond)
		if err != nil {
			return fail(err)
		}
		if err := lockRepair(ctx, seg, m); err != nil {
			return fail(err)
		}
		say("waiting")
		for atomic.LoadUint64(u64(seg, pthread.LayoutTurn)) != 99 {
			if err := c.Wait(ctx, m); err != nil {
				return fail(err)
			}
		}
		m.Unlock()
		say("woken")
	case "sem-hold":
		s, err := sem.Open(args[0], 0, 0, 0)
		if err != nil {
			return fail(err)
		}
		seg, err := shm.Open(args[1])
		if err != nil {
			return fail(err)
		}
		if err := s.Wait(ctx); err != nil {
			return fail(err)
		}
		atomic.AddUint64(u64(seg, offLedger), 1)
		say("ready")
		return blockUntilKilled()
	case "pty-flood": // on a pseudoterminal: lines until killed
		for i := 0; ; i++ {
			fmt.Printf("line %d\n", i)
		}
	case "sig-flood": // PID SIG: sigqueue values 0, 1, ... until killed
		pid, _ := strconv.Atoi(args[0])
		s, _ := strconv.Atoi(args[1])
		for v := 0; ; v++ {
			for sig.Queue(pid, syscall.Signal(s), v) != nil {
				runtime.Gosched() // RLIMIT_SIGPENDING: let the receiver drain
			}
		}
	case "semset-hold":
		id, _ := strconv.Atoi(args[0])
		s, err := sysvsem.OpenID(id)
		if err != nil {
			return fail(err)
		}
		if err := s.Do(ctx, sysvsem.Op{Num: 0, Delta: -1, Flags: sysvsem.Undo}, sysvsem.Op{Num: 1, Delta: -1, Flags: sysvsem.Undo}); err != nil {
			return fail(err)
		}
		say("ready")
		return blockUntilKilled()
	case "msg-recv":
		id, _ := strconv.Atoi(args[0])
		q, err := sysvmsg.OpenID(id)
		if err != nil {
			return fail(err)
		}
		say("receiving")
		buf := make([]byte, 8192)
		n, _, err := q.Receive(ctx, buf, 0, 0)
		if err != nil {
			return fail(err)
		}
		say(string(buf[:n]))
	case "mq-send":
		q, err := mq.Open(args[0], mq.O_WRONLY, 0, nil)
		if err != nil {
			return fail(err)
		}
		say("sending")
		if err := q.Send(ctx, []byte(args[1]), 0); err != nil {
			return fail(err)
		}
		say("sent")
	case "mq-recv":
		q, err := mq.Open(args[0], mq.O_RDONLY, 0, nil)
		if err != nil {
			return fail(err)
		}
		buf := make([]byte, q.MsgSize())
		say("receiving")
		n, _, err := q.Receive(ctx, buf)
		if err != nil {
			return fail(err)
		}
		say(string(buf[:n]))
	case "fifo-write": // FIFO N: write N bytes (i % 251), then wait to be killed
		f, err := fifo.Open(ctx, args[0], os.O_WRONLY)
		if err != nil {
			return fail(err)
		}
		n, _ := strconv.Atoi(args[1])
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i % 251)
		}
		if _, err := f.Write(b); err != nil {
			return fail(err)
		}
		say("ready")
		return blockUntilKilled()
	case "fifo-read": // FIFO: open for reading, read nothing, wait to be killed
		if _, err := fifo.Open(ctx, args[0], os.O_RDONLY); err != nil {
			return fail(err)
		}
		say("ready")
		return blockUntilKilled()
	case "flock-hold": // FILE: hold an exclusive flock until killed
		f, err := flock.Open(args[0])
		if err != nil {
			return fail(err)
		}
		if err := f.Lock(ctx, flock.Exclusive); err != nil {
			return fail(err)
		}
		say("ready")
		return blockUntilKilled()
	case "shm-create":
		_, err := shm.CreateWith(args[0], 4096, 0o600, func(*shm.Segment) error {
			say("ready") // inside the creation: the segment is not published yet
			blockUntilKilled()
			return errors.New("not killed")
		})
		return fail(err)
	case "soak":
		ms, _ := strconv.Atoi(args[4])
		n, err := soakWorker(args[0], args[1], args[2], args[3], time.Duration(ms)*time.Millisecond, say)
		if err != nil {
			return fail(err)
		}
		say(fmt.Sprintf("done %d", n))
	default:
		if status, ok := ringvictim.Run(mode, args); ok {
			return status
		}
		return fail(fmt.Errorf("unknown helper %q", mode))
	}
	return 0
}

// lockRepair locks m; after ErrOwnerDead it repairs the data (b = a) and
// marks the mutex consistent, the documented recovery.
func lockRepair(ctx context.Context, seg *shm.Segment, m *pthread.Mutex) error {
	err := m.Lock(ctx)
	if errors.Is(err, pthread.ErrOwnerDead) {
		fmt.Println("owner died")
		*u64(seg, offB) = *u64(seg, offA)
		err = m.MarkConsistent()
	}
	return err
}

// u64 returns the uint64 at off in seg.
func u64(seg *shm.Segment, off int) *uint64 {
	return (*uint64)(unsafe.Pointer(&seg.Bytes()[off]))
}

// syncSeg is a fresh segment with a struct posixipc_sync at offset 0 whose
// robust mutex and condvar Go initialised.
type syncSeg struct {
	name string
	seg  *shm.Segment
	m    *pthread.Mutex
	c    *pthread.Cond
}

func newSync(t testing.TB) *syncSeg {
	t.Helper()
	s := &syncSeg{name: testutil.Name("hard")}
	var err error
	s.seg, err = shm.Create(s.name, 4096, 0o600)
	require.NoError(t, err)
	t.Cleanup(func() {
		shm.Unlink(s.name)
		if err := s.seg.Close(); err != nil {
			t.Errorf("closing the segment: %v", err)
		}
	})
	s.m, err = pthread.NewMutex(s.seg, pthread.LayoutMutex, nil)
	require.NoError(t, err)
	t.Cleanup(func() { s.m.Close() })
	s.c, err = pthread.NewCond(s.seg, pthread.LayoutCond)
	require.NoError(t, err)
	t.Cleanup(func() { s.c.Close() })
	return s
}

func (s *syncSeg) u64(off int) *uint64 { return u64(s.seg, off) }

// newSem creates a named semaphore with value, unlinked at cleanup.
func newSem(t testing.TB, value int) (string, *sem.Sem) {
	t.Helper()
	name := testutil.Name("hsem")
	s, err := sem.Open(name, os.O_CREATE|os.O_EXCL, 0o600, value)
	require.NoError(t, err)
	t.Cleanup(func() {
		s.Close()
		sem.Unlink(name)
	})
	return name, s
}

// newQueue creates a queue of max messages of 64 bytes, unlinked at cleanup.
func newQueue(t testing.TB, max int) (string, *mq.Queue) {
	t.Helper()
	name := testutil.Name("hmq")
	q, err := mq.Create(name, 0o600, &mq.Attr{MaxMsg: max, MsgSize: 64})
	require.NoError(t, err)
	t.Cleanup(func() {
		q.Close()
		mq.Unlink(name)
	})
	return name, q
}

// proc is a running peer process (C or Go): testutil's Proc.
type proc = testutil.Proc

func startProc(t testing.TB, cmd *exec.Cmd) *proc { return testutil.Start(t, cmd) }

// startC runs crt/faultpeer with args.
func startC(t testing.TB, args ...string) *proc {
	t.Helper()
	c, err := peer.Command("faultpeer", args...)
	require.NoError(t, err)
	return startProc(t, c)
}

// startGo runs this test binary as the Go helper mode with args.
func startGo(t testing.TB, mode string, args ...string) *proc {
	t.Helper()
	return testutil.StartGo(t, mode, args...)
}

// startRing runs a ring victim (internal/testutil/ringvictim's modes):
// crt/ringpeer (lang "C") or the Go helper ("Go").
func startRing(t testing.TB, lang, mode, name string) *proc {
	t.Helper()
	if lang == "C" {
		c, err := peer.Command("ringpeer", mode, name)
		require.NoError(t, err)
		return startProc(t, c)
	}
	return startGo(t, mode, name)
}

// start runs the C peer (lang "C") or the Go helper ("Go") with the same
// command line.
func start(t testing.TB, lang, mode string, args ...string) *proc {
	t.Helper()
	if lang == "C" {
		return startC(t, append([]string{mode}, args...)...)
	}
	return startGo(t, mode, args...)
}
