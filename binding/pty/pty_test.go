//go:build linux && cgo

package pty_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/pty"
	"github.com/posixipc/posixipc/internal/peer"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func peerCmd(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	c, err := peer.Command("ptypeer", args...)
	require.NoError(t, err)
	return c
}

// lines reads p line by line into a channel (CR stripped).
func lines(p *pty.PTY) <-chan string {
	ch := make(chan string, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(p)
		for sc.Scan() {
			ch <- strings.TrimRight(sc.Text(), "\r")
		}
	}()
	return ch
}

func next(t testing.TB, ch <-chan string) string {
	t.Helper()
	select {
	case l, ok := <-ch:
		require.True(t, ok, "the program's output ended")
		return l
	case <-time.After(10 * time.Second):
		t.Fatal("no output from the program")
	}
	return ""
}

func TestCPeerSeesATerminal(t *testing.T) {
	testutil.CheckFDs(t)
	cmd := peerCmd(t, "check")
	p, err := pty.Start(cmd, &pty.Size{Rows: 33, Cols: 101})
	require.NoError(t, err)
	defer p.Close()
	assert.True(t, strings.HasPrefix(p.Name(), "/dev/pts/"), p.Name())
	out := lines(p)
	assert.Equal(t, "tty 1 1 1", next(t, out))
	assert.Equal(t, "size 33 101", next(t, out))
	assert.Equal(t, "sid OK", next(t, out), "the slave is its controlling terminal")
	assert.Equal(t, "raw", next(t, out))
	_, err = p.Write([]byte("hello"))
	require.NoError(t, err)
	assert.Equal(t, "echo:hello", next(t, out), "raw mode: no echo by the terminal, the program's own")
	_, err = p.Write([]byte("q"))
	require.NoError(t, err)
	assert.Equal(t, "echo:q", next(t, out))
	require.NoError(t, cmd.Wait())
	for range out { // then io.EOF ends the scanner
	}
}

// Everything a program writes just before it exits is read, then io.EOF.
func TestOutputBeforeExitIsReadCompletely(t *testing.T) {
	for _, n := range []int{1, 4095, 65536, 300000} {
		cmd := peerCmd(t, "burst", strconvI(n))
		p, err := pty.Start(cmd, nil)
		require.NoError(t, err)
		var got bytes.Buffer
		_, err = io.Copy(&got, p)
		require.NoError(t, err, "io.Copy ends with io.EOF, not EIO")
		require.NoError(t, cmd.Wait())
		p.Close()
		require.Equal(t, n, got.Len(), "bytes of a %d-byte burst", n)
		for i, b := range got.Bytes() {
			if b != byte('a'+i%26) {
				t.Fatalf("byte %d of %d is %q", i, n, b)
			}
		}
	}
}

func strconvI(n int) string { return strconv.Itoa(n) }

func TestWindowSizeAndSIGWINCH(t *testing.T) {
	cmd := peerCmd(t, "winch")
	p, err := pty.Start(cmd, &pty.Size{Rows: 10, Cols: 20})
	require.NoError(t, err)
	defer p.Close()
	out := lines(p)
	assert.Equal(t, "ready", next(t, out))
	s, err := p.GetSize()
	require.NoError(t, err)
	assert.Equal(t, pty.Size{Rows: 10, Cols: 20}, s)
	require.NoError(t, p.SetSize(pty.Size{Rows: 50, Cols: 132}))
	assert.Equal(t, "size 50 132", next(t, out))
	require.NoError(t, cmd.Wait())
}

func TestColourOnlyOnATerminal(t *testing.T) {
	cmd := peerCmd(t, "color", "hi")
	p, err := pty.Start(cmd, nil)
	require.NoError(t, err)
	defer p.Close()
	b, _ := io.ReadAll(p)
	require.NoError(t, cmd.Wait())
	assert.Contains(t, string(b), "\x1b[31mhi\x1b[0m")
	plain, err := peerCmd(t, "color", "hi").Output()
	require.NoError(t, err)
	assert.Equal(t, "hi\n", string(plain))
}

func TestReadContextAndDeadlinesLoseNothing(t *testing.T) {
	p, err := pty.Open()
	require.NoError(t, err)
	defer p.Close()
	tty, err := p.OpenSlave()
	require.NoError(t, err)
	defer tty.Close()
	_, err = pty.MakeRaw(rawFd(t, tty))
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := p.ReadContext(ctx, make([]byte, 8)); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not reach ReadContext")
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer dcancel()
	_, err = p.ReadContext(dctx, make([]byte, 8))
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	// what is written now is all there for the next read
	_, err = tty.Write([]byte("kept"))
	require.NoError(t, err)
	buf := make([]byte, 8)
	n, err := p.ReadContext(context.Background(), buf)
	require.NoError(t, err)
	assert.Equal(t, "kept", string(buf[:n]))

	require.NoError(t, p.SetReadDeadline(time.Now().Add(10*time.Millisecond)))
	_, err = p.Read(buf)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
}

func TestCloseWakesReaderAndIsIdempotent(t *testing.T) {
	p, err := pty.Open()
	require.NoError(t, err)
	tty, err := p.OpenSlave()
	require.NoError(t, err)
	defer tty.Close()
	errc := make(chan error, 2)
	go func() { _, err := p.Read(make([]byte, 8)); errc <- err }()
	go func() { _, err := p.ReadContext(context.Background(), make([]byte, 8)); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, p.Close())
	require.NoError(t, p.Close())
	for i := 0; i < 2; i++ {
		select {
		case err := <-errc:
			assert.ErrorIs(t, err, os.ErrClosed)
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not wake a reader")
		}
	}
	_, err = p.Write([]byte("x"))
	assert.ErrorIs(t, err, os.ErrClosed)
}

func TestRawAndNoEchoRestore(t *testing.T) {
	p, err := pty.Open()
	require.NoError(t, err)
	defer p.Close()
	tty, err := p.OpenSlave()
	require.NoError(t, err)
	defer tty.Close()
	fd := rawFd(t, tty)
	assert.True(t, pty.IsTerminal(fd))
	assert.False(t, pty.IsTerminal(int(mustDevNull(t).Fd())))

	// echo on (the default): what the master writes comes back
	_, err = p.Write([]byte("ab\n"))
	require.NoError(t, err)
	echo := make([]byte, 16)
	require.NoError(t, p.SetReadDeadline(time.Now().Add(2*time.Second)))
	var got []byte
	for !strings.Contains(string(got), "ab\r\n") { // the echo may come in pieces
		n, err := p.Read(echo)
		require.NoError(t, err, "echo so far %q", got)
		got = append(got, echo[:n]...)
	}
	drain(tty)

	st, err := pty.NoEcho(fd)
	require.NoError(t, err)
	_, err = p.Write([]byte("secret\n"))
	require.NoError(t, err)
	require.NoError(t, p.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, err = p.Read(echo)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "no echo")
	line := make([]byte, 16)
	n, err := tty.Read(line)
	require.NoError(t, err)
	assert.Equal(t, "secret\n", string(line[:n]), "the program still reads its input")
	require.NoError(t, pty.Restore(fd, st))

	raw, err := pty.MakeRaw(fd)
	require.NoError(t, err)
	_, err = p.Write([]byte("x")) // raw: the byte reaches the reader at once, no newline needed
	require.NoError(t, err)
	n, err = tty.Read(line)
	require.NoError(t, err)
	assert.Equal(t, "x", string(line[:n]))
	require.NoError(t, pty.Restore(fd, raw))
	assert.Error(t, pty.Restore(fd, nil))
	_, err = pty.MakeRaw(int(mustDevNull(t).Fd()))
	assert.ErrorIs(t, err, syscall.ENOTTY)
}

func drain(f *os.File) {
	f.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	io.Copy(io.Discard, f)
	f.SetReadDeadline(time.Time{})
}

func mustDevNull(t testing.TB) *os.File {
	f, err := os.Open(os.DevNull)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

func TestStartErrorsUndo(t *testing.T) {
	testutil.CheckFDs(t)
	_, err := pty.Start(exec.Command("/nonexistent/program"), nil)
	require.Error(t, err)
	assert.True(t, errors.Is(err, fs.ErrNotExist), "%v", err)
}

// rawFd returns f's descriptor without switching it to blocking mode (as
// f.Fd would).
func rawFd(t testing.TB, f *os.File) int {
	t.Helper()
	rc, err := f.SyscallConn()
	require.NoError(t, err)
	var fd int
	require.NoError(t, rc.Control(func(u uintptr) { fd = int(u) }))
	return fd
}

// FuzzSize: any window size set on a terminal reads back as set.
func FuzzSize(f *testing.F) {
	f.Add(uint16(24), uint16(80), uint16(0), uint16(0))
	f.Add(uint16(0), uint16(0), uint16(1), uint16(1))
	f.Add(uint16(65535), uint16(65535), uint16(65535), uint16(65535))
	p, err := pty.Open()
	require.NoError(f, err)
	f.Cleanup(func() { p.Close() })
	f.Fuzz(func(t *testing.T, rows, cols, x, y uint16) {
		s := pty.Size{Rows: rows, Cols: cols, X: x, Y: y}
		require.NoError(t, p.SetSize(s))
		got, err := p.GetSize()
		require.NoError(t, err)
		require.Equal(t, s, got)
	})
}

// FollowSize copies this process's terminal size (here another
// pseudoterminal stands for it) at each SIGWINCH.
func TestFollowSize(t *testing.T) {
	own, err := pty.Open()
	require.NoError(t, err)
	defer own.Close()
	ownTTY, err := own.OpenSlave()
	require.NoError(t, err)
	defer ownTTY.Close()
	require.NoError(t, own.SetSize(pty.Size{Rows: 11, Cols: 22}))

	p, err := pty.Open()
	require.NoError(t, err)
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(t, p.FollowSize(ctx, rawFd(t, ownTTY)))
	s, err := p.GetSize()
	require.NoError(t, err)
	assert.Equal(t, pty.Size{Rows: 11, Cols: 22}, s, "copied at once")

	require.NoError(t, own.SetSize(pty.Size{Rows: 40, Cols: 120}))
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGWINCH)) // as the terminal's resize would
	assert.True(t, testutil.Eventually(5*time.Second, func() bool {
		s, _ := p.GetSize()
		return s == pty.Size{Rows: 40, Cols: 120}
	}), "followed on SIGWINCH")
	cancel()
}

// TestManyBlockedReadersHoldNoThreads: Read and ReadContext wait through
// the waiter kit: 200 goroutines blocked on one master add a bounded
// number of threads, several ReadContexts wait at once (each under its
// own context), and Close ends them all with os.ErrClosed.
func TestManyBlockedReadersHoldNoThreads(t *testing.T) {
	p, err := pty.Open()
	require.NoError(t, err)
	const n = 200
	before := testutil.Threads()
	errc := make(chan error, n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < n; i++ {
		go func() {
			var err error
			if i%2 == 0 {
				_, err = p.Read(make([]byte, 8))
			} else {
				_, err = p.ReadContext(ctx, make([]byte, 8))
			}
			errc <- err
		}()
	}
	time.Sleep(100 * time.Millisecond)
	grew := testutil.Threads() - before
	assert.Less(t, grew, testutil.RuntimeThreads(), "%d blocked reads added %d threads", n, grew)
	select {
	case err := <-errc:
		t.Fatalf("a read returned while nothing was written: %v", err)
	default:
	}
	require.NoError(t, p.Close())
	for i := 0; i < n; i++ {
		select {
		case err := <-errc:
			require.ErrorIs(t, err, os.ErrClosed)
		case <-time.After(5 * time.Second):
			t.Fatalf("%d reads still blocked after Close", n-i)
		}
	}
}

// TestReadContextsEachUnderTheirOwn: two ReadContexts wait at once; the
// cancelled one returns its context's error and takes nothing, the other
// gets the bytes.
func TestReadContextsEachUnderTheirOwn(t *testing.T) {
	p, tty := rawPair(t)

	short, cancel := context.WithCancel(context.Background())
	errShort := make(chan error, 1)
	go func() { _, err := p.ReadContext(short, make([]byte, 8)); errShort <- err }()
	got := make(chan string, 1)
	go func() {
		b := make([]byte, 8)
		n, err := p.ReadContext(context.Background(), b)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(b[:n])
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-errShort:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("the cancelled ReadContext did not return")
	}
	_, err := tty.Write([]byte("hi"))
	require.NoError(t, err)
	select {
	case s := <-got:
		assert.Equal(t, "hi", s)
	case <-time.After(5 * time.Second):
		t.Fatal("the other ReadContext got nothing")
	}
}

// rawPair opens a pseudoterminal and its slave in raw mode, closed at the
// test's end.
func rawPair(t *testing.T) (*pty.PTY, *os.File) {
	p, err := pty.Open()
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	tty, err := p.OpenSlave()
	require.NoError(t, err)
	t.Cleanup(func() { tty.Close() })
	_, err = pty.MakeRaw(int(mustFd(t, tty)))
	require.NoError(t, err)
	return p, tty
}

// mustFd returns f's descriptor without switching it to blocking mode.
func mustFd(t *testing.T, f *os.File) uintptr {
	rc, err := f.SyscallConn()
	require.NoError(t, err)
	var fd uintptr
	require.NoError(t, rc.Control(func(d uintptr) { fd = d }))
	return fd
}

// TestDroppedPTYCleanedUp: a PTY dropped without Close, after a wait made
// its waiter (an eventfd), leaves no descriptor behind once collected.
func TestDroppedPTYCleanedUp(t *testing.T) {
	before := testutil.FDs()
	for i := 0; i < 10; i++ {
		p, err := pty.Open()
		require.NoError(t, err)
		require.NoError(t, p.SetReadDeadline(time.Now().Add(5*time.Millisecond)))
		_, err = p.Read(make([]byte, 1)) // waits in C: the waiter exists
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	}
	ok := testutil.Eventually(5*time.Second, func() bool { runtime.GC(); return testutil.FDs() <= before })
	assert.True(t, ok, "descriptors: %d before, %d after", before, testutil.FDs())
}

// TestReadWriteDoNotAllocate: a round trip through the terminal (raw mode)
// allocates nothing.
func TestReadWriteDoNotAllocate(t *testing.T) {
	p, tty := rawPair(t)
	msg, buf := []byte("12345678"), make([]byte, 8)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := tty.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(p, buf); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}
