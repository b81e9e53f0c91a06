//go:build linux && cgo

// Package testutil holds helpers shared by the module's tests: unique object
// names, OS thread and file descriptor counts read from /proc, and cleanup of
// POSIX objects.
package testutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/internal/procstat"
)

var seq atomic.Int64

// Name returns a POSIX IPC name ("/...") unique to this process and call, so
// parallel test binaries never share an object by accident.
func Name(prefix string) string {
	return fmt.Sprintf("/pit-%s-%d-%d-%d", prefix, os.Getpid(), time.Now().UnixNano()%1e6, seq.Add(1))
}

// Threads returns the OS threads of this process (procstat.Threads).
func Threads() int { return procstat.Threads() }

// RuntimeThreads is how many threads the Go runtime itself may add to a
// process whose goroutines poll with timers and short system calls: a
// thread per P for goroutines woken at once, plus slack for its own and for
// system calls caught by sysmon. Thread-bound tests of polling waiters allow
// this on top of the threads the code under test may hold by design.
func RuntimeThreads() int { return runtime.GOMAXPROCS(0) + 12 }

// FDs returns the number of open file descriptors of this process.
func FDs() int { return procstat.FDs() }

// CheckFDs records the open descriptors now and, at cleanup, fails t if more
// are open (after giving closes in flight a moment to land).
func CheckFDs(t testing.TB) {
	t.Helper()
	// The runtime poller opens its own descriptors (epoll, eventfd) on first
	// use, for good: open them now, so they are not counted as a leak.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	before := FDs()
	t.Cleanup(func() {
		var now int
		for i := 0; i < 50; i++ {
			if now = FDs(); now <= before {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("file descriptors leaked: %d open before, %d after", before, now)
	})
}

// Eventually polls cond every 2 ms until it is true or d passes.
func Eventually(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		time.Sleep(2 * time.Millisecond)
	}
	return cond()
}

// Nobody is the uid and gid that Unprivileged runs commands as.
const Nobody = 65534

// Unprivileged makes cmd run as uid/gid Nobody (the caller must be root),
// so a test run as root can see EACCES from the other side. A program that
// Nobody cannot reach (in a private TMPDIR of mode 0700, say) is copied
// first into a directory it can reach, removed at cleanup.
func Unprivileged(t testing.TB, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	if !reachable(cmd.Path) {
		p := copyReachable(t, cmd.Path)
		cmd.Path = p
		if len(cmd.Args) > 0 {
			cmd.Args[0] = p
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: Nobody, Gid: Nobody}}
	return cmd
}

// ExecutableCopy copies the running test binary into a directory that
// Nobody may enter and returns its path, for helper processes run with
// Unprivileged. The copy is removed at cleanup.
func ExecutableCopy(t testing.TB) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return copyReachable(t, exe)
}

// reachable reports whether any user may run the program at path: it and
// every directory above it are executable by others.
func reachable(path string) bool {
	p, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	for {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return false
		}
		if p == "/" {
			return true
		}
		p = filepath.Dir(p)
	}
}

// copyReachable copies the program at src into a new directory that every
// user can reach: under $TMPDIR when it is reachable, else /tmp or /var/tmp.
func copyReachable(t testing.TB, src string) string {
	t.Helper()
	base := ""
	for _, d := range []string{os.TempDir(), "/tmp", "/var/tmp"} {
		if reachable(d) {
			base = d
			break
		}
	}
	if base == "" {
		t.Skip("no temporary directory that another uid can reach")
	}
	dir, err := os.MkdirTemp(base, "posixipc-helper")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b, err := os.ReadFile(src)
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if err == nil {
		err = os.WriteFile(dst, b, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// FuzzName puts a per-process prefix in front of a fuzzed IPC name, keeping
// a leading '/', so a fuzzer never touches another program's object. The
// empty name stays empty, so its error path is fuzzed too.
func FuzzName(n string) string {
	if n == "" {
		return ""
	}
	p := fmt.Sprintf("pifz%d-", os.Getpid())
	if rest, ok := strings.CutPrefix(n, "/"); ok {
		return "/" + p + rest
	}
	return p + n
}

// ThreadBound starts n goroutines blocked in block(ctx, i), checks that
// they cost at most max more OS threads of this process, then cancels ctx
// and checks that every one of them returned an error wrapping
// context.Canceled: cancellation reaches every waiter, in C or parked.
func ThreadBound(t testing.TB, n, max int, block func(ctx context.Context, i int) error) {
	t.Helper()
	base := Threads()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var canceled atomic.Int32
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errors.Is(block(ctx, i), context.Canceled) {
				canceled.Add(1)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	threads := Threads() - base
	t.Logf("%d blocked goroutines: %d more threads", n, threads)
	if threads > max {
		t.Errorf("%d blocked goroutines cost %d more threads, more than %d", n, threads, max)
	}
	cancel()
	wg.Wait()
	if got := canceled.Load(); got != int32(n) {
		t.Errorf("%d of %d waiters returned context.Canceled", got, n)
	}
}

// EndWaits starts n waits, wait(ctx, i), the even ones under a 100 ms
// deadline, and closes the odd ones' handles (closeOne(i)) 50 ms in: each
// must end within 5 s with an error wrapping os.ErrClosed or deadline (a
// process's waits past its slots in C included, whose idle waits must end
// too).
func EndWaits(t *testing.T, ctx context.Context, n int, wait func(ctx context.Context, i int) error, closeOne func(i int), deadline error) {
	t.Helper()
	errs := make(chan error, n)
	for i := range n {
		go func() {
			c := ctx
			if i%2 == 0 {
				var cancel context.CancelFunc
				c, cancel = context.WithTimeout(ctx, 100*time.Millisecond)
				defer cancel()
			}
			errs <- wait(c, i)
		}()
	}
	time.Sleep(50 * time.Millisecond)
	for i := 1; i < n; i += 2 {
		closeOne(i)
	}
	for range n {
		select {
		case err := <-errs:
			if !errors.Is(err, os.ErrClosed) && !errors.Is(err, deadline) {
				t.Errorf("a wait ended with %v, not a deadline or Close", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a deadline or Close did not end a wait")
		}
	}
}

// IdleOnce waits 300 ms (the waiter kit's 1 to 25 ms backoff would try
// about 12 times in it) and checks that idle(), a count of idle waits,
// moved from before by extra to 2*extra: the waits without a slot in C
// (extra of them) each waited about once where they wait (what), not in
// a polling loop. It returns the count.
func IdleOnce(t *testing.T, idle func() int64, before int64, extra int, what string) int64 {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	n := idle() - before
	if n < int64(extra) {
		t.Errorf("%d idle waits of %d waits without a slot: they do not wait in %s", n, extra, what)
	}
	if n > int64(2*extra) {
		t.Errorf("%d idle waits of %d waits without a slot in 300 ms: a polling loop, not a wait in %s", n, extra, what)
	}
	return n
}
