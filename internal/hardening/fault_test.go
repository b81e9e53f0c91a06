//go:build linux && cgo

package hardening

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/fifo"
	"github.com/posixipc/posixipc/binding/flock"
	"github.com/posixipc/posixipc/binding/pthread"
	"github.com/posixipc/posixipc/binding/pty"
	"github.com/posixipc/posixipc/binding/ring"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/binding/sig"
	"github.com/posixipc/posixipc/binding/sysvmsg"
	"github.com/posixipc/posixipc/binding/sysvsem"
	"github.com/posixipc/posixipc/internal/peer"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// System call numbers (x86_64) at which a victim is killed.
const (
	sysPoll           = 7
	sysFutex          = 202
	sysMqTimedsend    = 242
	sysMqTimedreceive = 243
	sysPpoll          = 271
	sysMsgrcv         = 70
	sysSemtimedop     = 220
)

// faults counts the kills of the matrix that the survivors came through.
var faults atomic.Int64

// TestFaultMatrix kills (SIGKILL) a C peer or a Go helper process at each
// critical point and checks what the survivors see. Each row places the kill
// by synchronisation (a line the victim prints at the point, or the victim
// observed asleep in the blocking system call), never by sleeping.
func TestFaultMatrix(t *testing.T) {
	// A taken signal's records pipe stays for the life of the process
	// (binding/sig): make it before the descriptors are counted.
	if r, err := sig.Take(faultSignal()); err == nil {
		r.Close()
	}
	testutil.CheckFDs(t)
	rows := []struct {
		point string
		run   func(t *testing.T, victim string)
	}{
		{"holding a mutex", faultMutexHeld},
		{"in a condvar wait", faultCondWait},
		{"between sem_wait and sem_post", faultSemHeld},
		{"mid-send on a full queue", faultSendFull},
		{"mid-receive on an empty queue", faultReceiveEmpty},
		{"mid-create of a segment", faultCreate},
		{"holding System V semaphore units with SEM_UNDO", faultSemsetUndo},
		{"mid-msgrcv on an empty System V queue", faultMsgReceive},
		{"writing to a pseudoterminal", faultPtyWriter},
		{"mid-burst of realtime signals", faultSigSender},
		{"holding a ring loan", faultRingLoan},
		{"holding a batch of ring loans", faultRingBatch},
		{"holding a ring view", faultRingView},
		{"asleep in a ring receive", faultRingReceive},
		{"the one producer of an SPSC ring, holding a loan", faultSPSCLoan},
		{"the one consumer of an SPSC ring, holding a view", faultSPSCView},
		{"writing to a FIFO a Go reader waits on", faultFifoWriter},
		{"reading a FIFO a Go writer is blocked on", faultFifoReader},
		{"holding a file lock a Go waiter waits for", faultFlockHeld},
	}
	for _, r := range rows {
		for _, victim := range []string{"C", "Go"} {
			t.Run(fmt.Sprintf("%s/%s victim", r.point, victim), func(t *testing.T) {
				before := shmEntries(t)
				t.Cleanup(func() { assertNoNewShm(t, before) }) // runs after the others
				r.run(t, victim)
				if !t.Failed() {
					faults.Add(1)
				}
			})
		}
	}
	t.Logf("faults injected and survived: %d", faults.Load())
}

// otherLang is the language that is not victim's ("C" or "Go").
func otherLang(victim string) string {
	if victim == "C" {
		return "Go"
	}
	return "C"
}

// faultMutexHeld: the victim dies holding the robust mutex with its data
// half updated (a != b). The next holder gets ErrOwnerDead with the lock,
// repairs, marks consistent; afterwards both languages lock normally.
func faultMutexHeld(t *testing.T, victim string) {
	s := newSync(t)
	p := start(t, victim, "mutex-hold", s.name)
	p.Expect(t, "ready")
	p.Kill9(t)

	st, err := s.m.State()
	require.NoError(t, err)
	assert.True(t, st.OwnerDied, "the kernel marked the owner dead: %v", st)

	if victim == "C" {
		// The Go survivor recovers.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err := s.m.Lock(ctx)
		require.ErrorIs(t, err, pthread.ErrOwnerDead)
		assert.Equal(t, *s.u64(offA), *s.u64(offB)+1, "the dead holder's half update is visible")
		*s.u64(offB) = *s.u64(offA)
		require.NoError(t, s.m.MarkConsistent())
		require.NoError(t, s.m.Unlock())
	} else {
		// The C survivor recovers (it prints "owner died" and repairs).
		c := startC(t, "lock-count", s.name, "100")
		c.Expect(t, "owner died")
		c.Expect(t, "done 100")
		c.WaitOK(t)
	}
	// Everyone goes on: C and Go count under the mutex, nobody sees owner death.
	c := startC(t, "lock-count", s.name, "1000")
	for i := 0; i < 1000; i++ {
		require.NoError(t, s.m.Lock(context.Background()))
		*s.u64(pthread.LayoutCounter)++
		require.NoError(t, s.m.Unlock())
	}
	c.Expect(t, "done 1000")
	c.WaitOK(t)
	want := uint64(2000)
	if victim == "Go" {
		want += 100
	}
	assert.Equal(t, want, *s.u64(pthread.LayoutCounter))
	assert.Equal(t, *s.u64(offA), *s.u64(offB))
	st, err = s.m.State()
	require.NoError(t, err)
	assert.False(t, st.Locked || st.OwnerDied || st.NotRecoverable, "%v", st)
}

// faultCondWait: the victim dies inside pthread_cond_wait (the mutex free,
// the victim asleep on the condvar's futex). The mutex needs no recovery; the
// condvar is re-initialised while nobody waits (glibc keeps the dead waiter's
// reference), then a new waiter is woken.
func faultCondWait(t *testing.T, victim string) {
	s := newSync(t)
	p := start(t, victim, "cond-wait", s.name)
	p.Expect(t, "waiting")
	// The victim released the mutex, which it does only inside the wait.
	require.NoError(t, s.m.Lock(context.Background()))
	require.NoError(t, s.m.Unlock())
	waitFutexIn(t, p, s.name)
	p.Kill9(t)

	// The mutex was free: no owner death, no repair.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, s.m.Lock(ctx))
	require.NoError(t, s.m.Unlock())

	// Recovery: re-initialise the condvar while nobody waits on it.
	require.NoError(t, s.c.Close())
	c, err := pthread.NewCond(s.seg, pthread.LayoutCond)
	require.NoError(t, err)
	s.c = c
	t.Cleanup(func() { c.Close() })

	// A new waiter of the other language is woken normally.
	other := otherLang(victim)
	w := start(t, other, "cond-wait", s.name)
	w.Expect(t, "waiting")
	require.NoError(t, s.m.Lock(ctx))
	atomic.StoreUint64(s.u64(pthread.LayoutTurn), 99)
	require.NoError(t, s.c.Broadcast())
	require.NoError(t, s.m.Unlock())
	w.Expect(t, "woken")
	w.WaitOK(t)
}

// faultSemHeld: the victim dies between sem_wait and sem_post. Exactly its
// unit is lost: a survivor blocked in Wait stays blocked, the value is one
// less, and the ledger names the unit; the supervisor (this test) posts it
// back, which wakes the survivor.
func faultSemHeld(t *testing.T, victim string) {
	s := newSync(t)
	const units = 3
	name, sm := newSem(t, units)
	// The survivors hold units-1 of them; the victim takes the last one.
	for i := 0; i < units-1; i++ {
		require.NoError(t, sm.TryWait())
	}
	p := start(t, victim, "sem-hold", name, s.name)
	p.Expect(t, "ready")

	woke := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() { woke <- sm.Wait(ctx) }()
	p.Kill9(t)

	// The survivors give back theirs: the value is units-1, not units.
	for i := 0; i < units-1; i++ {
		require.NoError(t, sm.Post())
	}
	// The blocked waiter takes one of them; then exactly units-2 remain.
	require.NoError(t, <-woke)
	v, err := sm.Value()
	require.NoError(t, err)
	assert.Equal(t, units-2, v, "exactly one unit (the dead holder's) is lost")
	require.NoError(t, sm.Post()) // the waiter's
	v, err = sm.Value()
	require.NoError(t, err)
	require.Equal(t, units-1, v, "exactly one unit is lost")

	// Drain: units-1 succeed, the next would block.
	for i := 0; i < units-1; i++ {
		require.NoError(t, sm.TryWait())
	}
	require.ErrorIs(t, sm.TryWait(), syscall.EAGAIN)
	go func() { woke <- sm.Wait(ctx) }()

	// Recovery: the ledger says the dead process held one unit.
	ledger := atomic.SwapUint64(s.u64(offLedger), 0)
	require.Equal(t, uint64(1), ledger)
	for i := uint64(0); i < ledger; i++ {
		require.NoError(t, sm.Post())
	}
	require.NoError(t, <-woke, "the recovered unit wakes the blocked survivor")
	for i := 0; i < units; i++ {
		require.NoError(t, sm.Post())
	}
	v, err = sm.Value()
	require.NoError(t, err)
	assert.Equal(t, units, v, "recovered: every unit is back")
}

// faultSendFull: the victim dies blocked in a send on a full queue. The
// queued messages are received once each in order, the victim's never, and
// the queue goes on working for both languages.
func faultSendFull(t *testing.T, victim string) {
	name, q := newQueue(t, 10)
	for i := 0; i < 10; i++ {
		require.NoError(t, q.TrySend([]byte(fmt.Sprintf("m%d", i)), 0))
	}
	p := start(t, victim, "mq-send", name, "victim")
	p.Expect(t, "sending")
	p.WaitInSyscall(t, sysMqTimedsend, sysPoll, sysPpoll)
	p.Kill9(t)

	buf := make([]byte, 64)
	for i := 0; i < 10; i++ {
		n, _, err := q.TryReceive(buf)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("m%d", i), string(buf[:n]))
	}
	_, _, err := q.TryReceive(buf)
	require.ErrorIs(t, err, syscall.EAGAIN, "the dead sender's message must not appear")

	// Both languages send again through the same queue.
	for _, lang := range []string{"C", "Go"} {
		s := start(t, lang, "mq-send", name, "after-"+lang)
		s.Expect(t, "sending")
		s.Expect(t, "sent")
		s.WaitOK(t)
		n, _, err := q.Receive(context.Background(), buf)
		require.NoError(t, err)
		require.Equal(t, "after-"+lang, string(buf[:n]))
	}
}

// faultReceiveEmpty: the victim dies blocked in a receive on an empty queue;
// a message sent afterwards goes to the survivor, not to the dead.
func faultReceiveEmpty(t *testing.T, victim string) {
	name, q := newQueue(t, 10)
	p := start(t, victim, "mq-recv", name)
	p.Expect(t, "receiving")
	p.WaitInSyscall(t, sysMqTimedreceive, sysPoll, sysPpoll)
	p.Kill9(t)
	require.NoError(t, q.TrySend([]byte("x"), 0))
	buf := make([]byte, 64)
	n, _, err := q.TryReceive(buf)
	require.NoError(t, err)
	require.Equal(t, "x", string(buf[:n]))
	_, _, err = q.TryReceive(buf)
	require.ErrorIs(t, err, syscall.EAGAIN)
}

// faultCreate: the victim dies creating a segment. binding/shm (Go) publishes
// a segment whole or not at all: no name, no file left. A C creator killed
// between shm_open(O_CREAT) and ftruncate leaves a 0-byte object, which Open
// refuses with EAGAIN; once its creator is known dead, the survivor removes
// it and creates the segment.
func faultCreate(t *testing.T, victim string) {
	name := testutil.Name("hcreate")
	t.Cleanup(func() { shm.Unlink(name) })
	if victim == "C" {
		p := startC(t, "shm-create-partial", name)
		p.Expect(t, "ready")
		p.Kill9(t)
		_, err := shm.Open(name)
		require.ErrorIs(t, err, syscall.EAGAIN)
		assert.Contains(t, err.Error(), "not sized it yet")
		_, err = shm.CreateOrOpen(name, 4096, 0o600)
		require.ErrorIs(t, err, syscall.EAGAIN, "the 0-byte object is never used as is")
		require.NoError(t, shm.Unlink(name)) // its creator is dead: remove it
	} else {
		p := startGo(t, "shm-create", name)
		p.Expect(t, "ready")
		p.Kill9(t)
		_, err := shm.Open(name)
		require.ErrorIs(t, err, fs.ErrNotExist, "a half-made segment must not be visible")
		for _, e := range shmEntries(t) {
			assert.NotContains(t, e, name[1:], "nothing left in /dev/shm")
		}
	}
	seg, err := shm.CreateWith(name, 4096, 0o600, func(s *shm.Segment) error {
		_, err := s.WriteAt([]byte("whole"), 0)
		return err
	})
	require.NoError(t, err)
	require.NoError(t, seg.Close())
	seg, err = shm.OpenSize(name, 4096)
	require.NoError(t, err)
	b := make([]byte, 5)
	_, err = seg.ReadAt(b, 0)
	require.NoError(t, err)
	assert.Equal(t, "whole", string(b))
	require.NoError(t, seg.Close())
	require.NoError(t, shm.Unlink(name))
}

// waitFutexIn waits until a thread of p sleeps in futex(2) on an address
// inside its mapping of the segment name: it is asleep on the condvar.
func waitFutexIn(t testing.TB, p *proc, name string) {
	t.Helper()
	pid := p.Cmd.Process.Pid
	ok := testutil.Eventually(30*time.Second, func() bool {
		lo, hi := mapping(pid, name)
		if lo == 0 {
			return false
		}
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		for _, task := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/syscall", pid, task.Name()))
			if err != nil {
				continue
			}
			f := strings.Fields(string(b))
			if len(f) < 2 || f[0] != strconv.Itoa(sysFutex) {
				continue
			}
			addr, err := strconv.ParseUint(strings.TrimPrefix(f[1], "0x"), 16, 64)
			if err == nil && addr >= lo && addr < hi {
				return true
			}
		}
		return false
	})
	require.True(t, ok, "the victim never slept on the condvar; stderr: %s", p.Err)
}

// mapping returns the address range where process pid maps /dev/shm/name.
func mapping(pid int, name string) (lo, hi uint64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasSuffix(l, shm.Dir+name) && !strings.HasSuffix(l, shm.Dir+name+" (deleted)") {
			continue
		}
		r, _, _ := strings.Cut(l, " ")
		a, b, _ := strings.Cut(r, "-")
		lo, _ = strconv.ParseUint(a, 16, 64)
		hi, _ = strconv.ParseUint(b, 16, 64)
		return lo, hi
	}
	return 0, 0
}

// shmEntries lists /dev/shm.
func shmEntries(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir(shm.Dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// assertNoNewShm checks that /dev/shm holds no entry of this process that
// was not there before (other test binaries may run at the same time).
func assertNoNewShm(t testing.TB, before []string) {
	t.Helper()
	had := map[string]bool{}
	for _, n := range before {
		had[n] = true
	}
	mine := fmt.Sprintf("-%d-", os.Getpid())
	for _, n := range shmEntries(t) {
		if !had[n] && strings.Contains(n, mine) {
			t.Errorf("left in /dev/shm: %s", n)
		}
	}
}

// TestCondvarDeadWaiterHazard shows why faultCondWait re-initialises the
// condvar: with glibc before 2.41, once a waiter is killed inside
// pthread_cond_wait, signals return while nobody else waits, but as soon as
// a new waiter arrives every pthread_cond_signal blocks forever (glibc waits
// for the dead waiter to leave its group) and the new waiter is never woken.
// The signalling C peer is bounded by alarm(2): SIGALRM proves it blocked.
func TestCondvarDeadWaiterHazard(t *testing.T) {
	if v := glibcVersion(t); v >= 241 {
		t.Skipf("glibc %d.%d handles a dead condvar waiter", v/100, v%100)
	}
	s := newSync(t)
	w1 := startC(t, "cond-wait", s.name)
	w1.Expect(t, "waiting")
	require.NoError(t, s.m.Lock(context.Background()))
	require.NoError(t, s.m.Unlock())
	waitFutexIn(t, w1, s.name)
	w1.Kill9(t)

	sig := startC(t, "cond-signal", s.name, "3", "10")
	sig.Expect(t, "signalled 3") // nobody waits: signals return
	sig.WaitOK(t)

	w2 := startC(t, "cond-wait", s.name)
	w2.Expect(t, "waiting")
	require.NoError(t, s.m.Lock(context.Background()))
	require.NoError(t, s.m.Unlock())
	waitFutexIn(t, w2, s.name)
	sig = startC(t, "cond-signal", s.name, "1", "2")
	err := sig.Cmd.Wait()
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "pthread_cond_signal returned (%v): has glibc changed?", err)
	ws := ee.Sys().(syscall.WaitStatus)
	require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGALRM, "%v; stderr: %s", err, sig.Err)
	select {
	case l := <-w2.Lines:
		t.Fatalf("the new waiter said %q", l)
	default:
	}
}

// glibcVersion returns the C library's version as major*100+minor
// (getconf GNU_LIBC_VERSION: "glibc 2.36").
func glibcVersion(t testing.TB) int {
	out, err := exec.Command("getconf", "GNU_LIBC_VERSION").Output()
	require.NoError(t, err)
	var major, minor int
	_, err = fmt.Sscanf(strings.TrimSpace(string(out)), "glibc %d.%d", &major, &minor)
	require.NoError(t, err, "%q", out)
	return major*100 + minor
}

// faultSemsetUndo: the victim dies holding one unit of each of two
// semaphores, taken atomically with SEM_UNDO. The kernel gives both back:
// a survivor blocked in Do for the same two units gets them, and nothing
// is lost.
func faultSemsetUndo(t *testing.T, victim string) {
	s, err := sysvsem.Open(sysvsem.Private, os.O_CREATE, 0o600, []int{1, 1})
	require.NoError(t, err)
	t.Cleanup(func() { s.Remove(); s.Close() })
	p := start(t, victim, "semset-hold", strconv.Itoa(s.ID()))
	p.Expect(t, "ready")
	v, err := s.Values()
	require.NoError(t, err)
	require.Equal(t, []int{0, 0}, v, "the victim holds both units")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make(chan error, 1)
	go func() { got <- s.Do(ctx, sysvsem.Op{Num: 0, Delta: -1}, sysvsem.Op{Num: 1, Delta: -1}) }()
	require.True(t, testutil.Eventually(10*time.Second, func() bool { n, _ := s.WaitingCount(0); return n == 1 }))
	p.Kill9(t)
	require.NoError(t, <-got, "the survivor gets the dead holder's units")
	require.NoError(t, s.Do(ctx, sysvsem.Op{Num: 0, Delta: 1}, sysvsem.Op{Num: 1, Delta: 1}))
	v, err = s.Values()
	require.NoError(t, err)
	assert.Equal(t, []int{1, 1}, v, "every unit is back")
}

// faultMsgReceive: the victim dies blocked in msgrcv. It took nothing: the
// next message is received once, by a survivor of the other language.
func faultMsgReceive(t *testing.T, victim string) {
	q, err := sysvmsg.Open(sysvmsg.Private, os.O_CREATE, 0o600)
	require.NoError(t, err)
	t.Cleanup(func() { q.Remove(); q.Close() })
	id := strconv.Itoa(q.ID())
	p := start(t, victim, "msg-recv", id)
	p.Expect(t, "receiving")
	p.WaitInSyscall(t, sysMsgrcv, sysSemtimedop, sysFutex, sysPpoll, sysPoll)
	p.Kill9(t)

	other := otherLang(victim)
	w := start(t, other, "msg-recv", id)
	w.Expect(t, "receiving")
	require.NoError(t, q.Send(context.Background(), 1, []byte("after the death")))
	w.Expect(t, "after the death")
	w.WaitOK(t)
	st, err := q.Stat()
	require.NoError(t, err)
	assert.Equal(t, 0, st.QNum, "received once, by the survivor")
}

// faultPtyWriter: the program on a pseudoterminal dies mid-output. The
// master reads every line it wrote, whole and in order, then io.EOF: no
// hang, no descriptor left.
func faultPtyWriter(t *testing.T, victim string) {
	var cmd *exec.Cmd
	if victim == "C" {
		c, err := peer.Command("ptypeer", "flood")
		require.NoError(t, err)
		cmd = c
	} else {
		cmd = testutil.HelperCommand("pty-flood")
	}
	p, err := pty.Start(cmd, nil)
	require.NoError(t, err)
	defer p.Close()
	sc := bufio.NewScanner(p)
	next := 0
	for next < 1000 && sc.Scan() {
		require.Equal(t, fmt.Sprintf("line %d", next), strings.TrimRight(sc.Text(), "\r"))
		next++
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	done := make(chan error, 1)
	go func() {
		for sc.Scan() {
			l := strings.TrimRight(sc.Text(), "\r")
			if l != fmt.Sprintf("line %d", next) && !strings.HasPrefix(fmt.Sprintf("line %d", next), l) {
				done <- fmt.Errorf("line %d: %q", next, l)
				return
			}
			next++
		}
		done <- sc.Err() // nil: io.EOF ended it
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("the master read did not end after the writer died")
	}
	cmd.Wait()
	t.Logf("%d lines read, then io.EOF", next)
}

// faultSigSender: a process sending realtime signals with values 0, 1, ...
// dies mid-burst. The receiver got each value at most once and no gap
// except at the end, and goes on receiving from the next sender.
func faultSigSender(t *testing.T, victim string) {
	s := faultSignal()
	r, err := sig.Take(s)
	require.NoError(t, err)
	defer r.Close()
	args := []string{strconv.Itoa(os.Getpid()), strconv.Itoa(int(s))}
	var p *proc
	if victim == "C" {
		p = startC(t, append([]string{"sig-flood"}, args...)...)
	} else {
		p = startGo(t, "sig-flood", args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seen := map[int]bool{}
	for len(seen) < 500 {
		in, err := r.Receive(ctx)
		require.NoError(t, err)
		require.False(t, seen[in.Value], "value %d twice", in.Value)
		seen[in.Value] = true
	}
	p.Kill9(t)
	for { // what was queued before the death
		dctx, dcancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		in, err := r.Receive(dctx)
		dcancel()
		if err != nil {
			require.ErrorIs(t, err, sig.ErrDeadline)
			break
		}
		require.False(t, seen[in.Value], "value %d twice", in.Value)
		seen[in.Value] = true
	}
	for v := 0; v < len(seen); v++ {
		require.True(t, seen[v], "value %d missing: the values are 0..%d, no gap", v, len(seen)-1)
	}
	require.NoError(t, sig.Queue(os.Getpid(), s, -1))
	in, err := r.Receive(ctx)
	require.NoError(t, err)
	assert.Equal(t, -1, in.Value, "the receiver goes on")
	assert.Zero(t, r.Lost())
}

// faultSignal is the signal of the mid-burst rows.
func faultSignal() syscall.Signal { return sig.RTMin() + 13 }

// newRing creates a queue ring of 4 slots for a row; cleanup removes it.
func newRing(t *testing.T) (string, *ring.Ring) {
	return newRingAs(t, os.O_WRONLY, ring.Queue)
}

// newRingAs is newRing for a creator opened with flag, on a ring of mode.
func newRingAs(t *testing.T, flag int, mode ring.Mode) (string, *ring.Ring) {
	name := testutil.Name("fault-ring")
	p, err := ring.Create(name, flag, 0o600, ring.Config{Slots: 4, Size: 64, Mode: mode})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close(); ring.Remove(name) })
	return name, p
}

// drain receives n records from a new consumer of the ring within 10 s.
func drain(t *testing.T, name string, n int) []string {
	c, err := ring.Open(name, os.O_RDONLY, 0, nil)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	buf := make([]byte, 64)
	for i := 0; i < n; i++ {
		rec, err := c.Receive(ctx, buf)
		require.NoError(t, err, "after %v", got)
		got = append(got, string(buf[:rec.N]))
	}
	_, err = c.TryReceive(buf)
	require.ErrorIs(t, err, syscall.EAGAIN, "nothing more: the dead loan was not delivered")
	return got
}

// faultRingLoan: the victim dies with a slot loaned and written, not
// committed. The
// consumers are not wedged: every record committed before and after it
// arrives, in order, and the half-written one never does; the ring is
// whole afterwards (all four slots fill and drain again).
func faultRingLoan(t *testing.T, victim string) {
	name, p := newRing(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, p.Send(ctx, []byte("r0")))
	v := startRing(t, victim, "loan-hold", name)
	v.Expect(t, "loaned 1")
	require.NoError(t, p.Send(ctx, []byte("r2")))
	v.Kill9(t)
	assert.Equal(t, []string{"r0", "r2"}, drain(t, name, 2))
	for i := 0; i < 4; i++ {
		require.NoError(t, p.Send(ctx, []byte(fmt.Sprint("again", i))))
	}
	assert.Equal(t, []string{"again0", "again1", "again2", "again3"}, drain(t, name, 4))
	st, err := ring.Inspect(name)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), st.Reclaimed)
}

// faultRingBatch: the victim dies holding a batch of three loans (one
// LoanBatch or pir_loan_batch), written, not committed, behind a record
// and ahead of a producer blocked on the full ring. The blocked producer
// goes on, the consumers get the record before the batch and every one
// after it, never the dead loans.
func faultRingBatch(t *testing.T, victim string) {
	name, p := newRing(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, p.Send(ctx, []byte("r0")))
	v := startRing(t, victim, "batch-hold", name)
	v.Expect(t, "loaned 1 3")
	done := make(chan error, 1)
	go func() { done <- p.Send(ctx, []byte("r4")) }() // waits for room: r0's slot
	time.Sleep(20 * time.Millisecond)
	v.Kill9(t)
	assert.Equal(t, []string{"r0", "r4"}, drain(t, name, 2))
	require.NoError(t, <-done)
	st, err := ring.Inspect(name)
	require.NoError(t, err)
	assert.Equal(t, uint64(3), st.Reclaimed)
}

// faultRingView: the victim dies holding a view of the oldest record on a
// full ring. A blocked producer goes on (the viewed record counts as
// delivered: at most once), and the records after it arrive once each.
func faultRingView(t *testing.T, victim string) { ringViewCase(t, victim, ring.Queue) }

// ringViewCase is faultRingView on a ring of mode; in SPSC mode the
// victim is the one consumer, whose role is free after its death.
func ringViewCase(t *testing.T, victim string, mode ring.Mode) {
	name, p := newRingAs(t, os.O_WRONLY, mode)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < 4; i++ {
		require.NoError(t, p.Send(ctx, []byte(fmt.Sprint("r", i))))
	}
	v := startRing(t, victim, "view-hold", name)
	v.Expect(t, "ready")
	v.Expect(t, "viewing 0 r0")
	if mode == ring.SPSC {
		_, err := ring.Open(name, os.O_RDONLY, 0, nil)
		require.ErrorIs(t, err, ring.ErrBusy, "the live victim is the consumer")
	}
	done := make(chan error, 1)
	go func() { done <- p.Send(ctx, []byte("r4")) }()
	time.Sleep(20 * time.Millisecond)
	v.Kill9(t)
	require.NoError(t, <-done, "the producer went on after the viewer died")
	assert.Equal(t, []string{"r1", "r2", "r3", "r4"}, drain(t, name, 4))
}

// faultSPSCLoan: the victim is the one producer of an SPSC ring and dies
// with a slot loaned and written, not committed, while the Go consumer
// waits for it. Its role passes to the next producer, the consumer skips
// the dead loan and gets every record the new one sends, in order.
func faultSPSCLoan(t *testing.T, victim string) {
	name, c := newRingAs(t, os.O_RDONLY, ring.SPSC)
	v := startRing(t, victim, "loan-hold", name)
	v.Expect(t, "loaned 0")
	_, err := ring.Open(name, os.O_WRONLY, 0, nil)
	require.ErrorIs(t, err, ring.ErrBusy, "the live victim is the producer")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 64)
		rec, err := c.Receive(ctx, buf)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(buf[:rec.N])
	}()
	time.Sleep(20 * time.Millisecond)
	v.Kill9(t)
	p, err := ring.Open(name, os.O_WRONLY, 0, nil)
	require.NoError(t, err, "the dead producer's role is free")
	defer p.Close()
	for i := 0; i < 5; i++ { // the ring is whole again: 4 queued after the first
		require.NoError(t, p.Send(ctx, []byte(fmt.Sprint("after", i))))
		if i == 0 {
			assert.Equal(t, "after0", <-got)
		}
	}
	buf := make([]byte, 64)
	for i := 1; i < 5; i++ {
		rec, err := c.Receive(ctx, buf)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint("after", i), string(buf[:rec.N]))
	}
	st, err := ring.Inspect(name)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), st.Reclaimed)
}

// faultSPSCView: the victim is the one consumer of a full SPSC ring and
// dies holding a view of its oldest record. The blocked Go producer goes
// on, and the next consumer (its role is free) gets the records after the
// viewed one, once each.
func faultSPSCView(t *testing.T, victim string) { ringViewCase(t, victim, ring.SPSC) }

// faultRingReceive: the victim dies asleep in the ring's futex wait. The
// survivors are not affected: the other language's consumer gets the
// next record, and the table shows the victim dead until its entry is
// reused.
func faultRingReceive(t *testing.T, victim string) {
	name, p := newRing(t)
	v := startRing(t, victim, "recv-one", name)
	v.Expect(t, "receiving")
	v.WaitInSyscall(t, sysFutex)
	v.Kill9(t)
	st, err := ring.Inspect(name)
	require.NoError(t, err)
	dead := 0
	for _, pt := range st.Participants {
		if !pt.Alive {
			dead++
		}
	}
	assert.Equal(t, 1, dead, "the victim shows as dead: %+v", st.Participants)
	other := otherLang(victim)
	w := startRing(t, other, "recv-one", name)
	w.Expect(t, "receiving")
	require.NoError(t, p.Send(context.Background(), []byte("after the death")))
	w.Expect(t, "after the death")
	w.WaitOK(t)
}

// faultFifoWriter: the victim wrote 100,000 bytes into a FIFO and dies
// while a Go reader is blocked in it (its blocking read(2) on its own
// description, or the poll). The reader gets every byte, in order, then
// EOF (no writer is left: its own extra description is a reader's), and
// a new writer of the other language reaches it again.
func faultFifoWriter(t *testing.T, victim string) {
	path := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, fifo.Make(path, 0o600))
	const n = 100000
	v := start(t, victim, "fifo-write", path, strconv.Itoa(n))
	r, err := fifo.Open(context.Background(), path, os.O_RDONLY)
	require.NoError(t, err)
	defer r.Close()
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(r)
		got <- b
	}()
	v.Expect(t, "ready")
	time.Sleep(20 * time.Millisecond) // the reader drains and blocks
	v.Kill9(t)
	var b []byte
	select {
	case b = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the reader did not see EOF after the writer's death")
	}
	require.Len(t, b, n)
	for i := range b {
		if b[i] != byte(i%251) {
			t.Fatalf("byte %d is %d, want %d", i, b[i], i%251)
		}
	}
	// A new writer: the same File reads on.
	other := otherLang(victim)
	w := start(t, other, "fifo-write", path, "10")
	w.Expect(t, "ready")
	buf := make([]byte, 10)
	_, err = io.ReadFull(r, buf)
	require.NoError(t, err)
	assert.Equal(t, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, buf)
	w.Kill9(t)
}

// faultFifoReader: the victim holds a FIFO open for reading and never
// reads; a Go writer fills the pipe and blocks, and the victim dies. The
// write returns EPIPE (Go survives the SIGPIPE of a write from C), with
// what it wrote counted.
func faultFifoReader(t *testing.T, victim string) {
	path := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, fifo.Make(path, 0o600))
	v := start(t, victim, "fifo-read", path)
	w, err := fifo.Open(context.Background(), path, os.O_WRONLY) // meets the victim's open
	require.NoError(t, err)
	defer w.Close()
	v.Expect(t, "ready")
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := w.Write(make([]byte, 1<<20))
		done <- result{n, err}
	}()
	time.Sleep(20 * time.Millisecond) // the pipe is full: the writer waits
	v.Kill9(t)
	select {
	case r := <-done:
		assert.ErrorIs(t, r.err, syscall.EPIPE)
		assert.Greater(t, r.n, 0, "the pipe took some before it filled")
		assert.Less(t, r.n, 1<<20)
	case <-time.After(10 * time.Second):
		t.Fatal("the writer did not see EPIPE after the reader's death")
	}
}

// faultFlockHeld: the victim dies holding an exclusive flock that a Go
// File waits for; the kernel releases it and the waiter gets it.
func faultFlockHeld(t *testing.T, victim string) {
	path := filepath.Join(t.TempDir(), "lock")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	v := start(t, victim, "flock-hold", path)
	v.Expect(t, "ready")
	f, err := flock.Open(path)
	require.NoError(t, err)
	defer f.Close()
	require.ErrorIs(t, f.TryLock(flock.Exclusive), syscall.EWOULDBLOCK)
	done := make(chan error, 1)
	go func() { done <- f.Lock(context.Background(), flock.Exclusive) }()
	time.Sleep(20 * time.Millisecond)
	v.Kill9(t)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter did not get the lock after the holder's death")
	}
	require.NoError(t, f.Unlock())
}
