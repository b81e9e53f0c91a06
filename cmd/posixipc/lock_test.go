//go:build linux && cgo

package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posixipc/posixipc/internal/peer"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func lockpeer(t *testing.T) string {
	p, err := peer.Path("lockpeer")
	require.NoError(t, err)
	return p
}

// holdLock starts lockpeer holding a lock until the test ends or release.
func holdLock(t *testing.T, args ...string) (release func()) {
	c, err := peer.Command("lockpeer", args...)
	require.NoError(t, err)
	in, err := c.StdinPipe()
	require.NoError(t, err)
	out, err := c.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, c.Start())
	done := false
	release = func() {
		if !done {
			done = true
			in.Close()
			c.Wait()
		}
	}
	t.Cleanup(release)
	_, err = bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	return release
}

func TestLockCLIExitStatus(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lockfile")
	r := cli(t, "", "lock", p, "--", "sh", "-c", "echo held; exit 3")
	assert.Equal(t, 3, r.code, r.stderr)
	assert.Equal(t, "held\n", r.stdout)
	r = cli(t, "", "lock", p, "--", "true")
	assert.Equal(t, 0, r.code, r.stderr)
	r = cli(t, "", "lock", p, "--", "sh", "-c", "kill -9 $$")
	assert.Equal(t, 128+9, r.code, r.stderr)
	r = cli(t, "", "lock", p, "--", "/nonexistent/cmd")
	assert.Equal(t, 127, r.code)
	assert.Contains(t, r.stderr, "no such file")
	r = cli(t, "input\n", "lock", p, "--", "cat")
	assert.Equal(t, "input\n", r.stdout, "CMD gets the standard streams")
}

func TestLockCLIHoldsTheLock(t *testing.T) {
	lp := lockpeer(t)
	p := filepath.Join(t.TempDir(), "lockfile")
	// Whole file: a flock(2) lock, seen by a C flock.
	r := cli(t, "", "lock", p, "--", lp, "tryflock", p, "ex")
	assert.Equal(t, 3, r.code, "C's flock(LOCK_NB) is refused while posixipc holds the lock: %s", r.stdout+r.stderr)
	r = cli(t, "", "lock", p, "--shared", "--", lp, "tryflock", p, "sh")
	assert.Equal(t, 0, r.code, r.stdout+r.stderr)
	// --range: an OFD record lock, seen by a C fcntl lock (pid -1).
	r = cli(t, "", "lock", p, "--range", "0:10", "--", lp, "tryfcntl", p, "5", "1", "w")
	assert.Equal(t, 3, r.code)
	assert.Equal(t, "busy -1\n", r.stdout)
	r = cli(t, "", "lock", p, "--range", "0:10", "--", lp, "tryfcntl", p, "10", "1", "w")
	assert.Equal(t, 0, r.code, "outside the range")
	r = cli(t, "", "lock", p, "--range", "0:10", "--shared", "--", lp, "tryfcntl", p, "0", "10", "r")
	assert.Equal(t, 0, r.code, "shared with a C read lock")
}

func TestLockCLITimeout(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lockfile")
	release := holdLock(t, "flock", p, "ex")
	r := cli(t, "", "lock", p, "--timeout", "100ms", "--", "echo", "never")
	assert.Equal(t, exitTempErr, r.code, r.stderr)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "timed out")
	r = cli(t, "", "lock", p, "--timeout", "0", "--", "echo", "never")
	assert.Equal(t, exitTempErr, r.code, r.stderr)
	r = cli(t, "", "lock", p, "--shared", "--timeout", "0", "--", "echo", "never")
	assert.Equal(t, exitTempErr, r.code, r.stderr)
	release()
	r = cli(t, "", "lock", p, "--timeout", "1s", "--", "echo", "now")
	assert.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "now\n", r.stdout)

	release = holdLock(t, "fcntl", p, "100", "0", "w")
	r = cli(t, "", "lock", p, "--range", "150:1", "--timeout", "100ms", "--", "true")
	assert.Equal(t, exitTempErr, r.code, r.stderr)
	r = cli(t, "", "lock", p, "--range", "0:100", "--timeout", "100ms", "--", "true")
	assert.Equal(t, 0, r.code, r.stderr)
	release()
}

func TestLockCLIUsage(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lockfile")
	for _, args := range [][]string{
		{"lock", p},
		{"lock", p, "--"},
		{"lock", "--", "true"},
		{"lock", p, "--range", "5", "--", "true"},
		{"lock", p, "--range", "-1:5", "--", "true"},
		{"lock", p, "--timeout", "soon", "--", "true"},
		{"lock", p, "extra", "--", "true"},
	} {
		r := cli(t, "", args...)
		assert.Equal(t, exitUsage, r.code, "%v: %s", args, r.stderr)
	}
	r := cli(t, "", "help", "lock")
	assert.Contains(t, r.stdout, "--range START:LEN")
}

func TestFifoCLI(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	r := cli(t, "", "fifo", "make", p, "--mode", "0640")
	require.Equal(t, 0, r.code, r.stderr)
	st, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.ModeNamedPipe, st.Mode().Type())
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm()&^umask())
	r = cli(t, "", "fifo", "make", p)
	assert.Equal(t, exitErr, r.code)
	assert.Contains(t, strings.ToLower(r.stderr), "file exists")
	r = cli(t, "", "fifo", "make", p+"2", "--mode", "9")
	assert.Equal(t, exitUsage, r.code)
	r = cli(t, "", "fifo", "make")
	assert.Equal(t, exitUsage, r.code)
}

func umask() os.FileMode {
	p := filepath.Join(os.TempDir(), fmt.Sprintf("posixipc-umask-%d", os.Getpid()))
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL, 0o777)
	if err != nil {
		return 0
	}
	f.Close()
	defer os.Remove(p)
	st, _ := os.Stat(p)
	return 0o777 &^ st.Mode().Perm()
}

// TestDemoStreamsAndLocks runs this facility's demo steps (not the whole
// demo, whose other steps belong to other facilities).
func TestDemoStreamsAndLocks(t *testing.T) {
	testutil.CheckFDs(t)
	for _, s := range []struct {
		name string
		run  func(func(string, ...any)) error
		want string
	}{
		{"fifo", demoFIFO, "BYE"},
		{"popen", demoPopen, "signal: killed"},
		{"flock", demoFlock, "C flock(LOCK_NB) -> ok"},
	} {
		var b strings.Builder
		err := s.run(func(f string, a ...any) { fmt.Fprintf(&b, f+"\n", a...) })
		require.NoError(t, err, s.name)
		assert.Contains(t, b.String(), s.want, s.name)
	}
}
