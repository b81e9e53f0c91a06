//go:build linux && cgo

package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every command and subcommand prints its synopsis and its flags with
// their texts for --help and -h, and exits 0.
func TestHelpEverywhere(t *testing.T) {
	lines := [][]string{
		{"mq", "create"}, {"mq", "send"}, {"mq", "recv"}, {"mq", "attr"}, {"mq", "notify"}, {"mq", "rm"},
		{"sem", "create"}, {"sem", "post"}, {"sem", "wait"}, {"sem", "value"}, {"sem", "rm"},
		{"shm", "create"}, {"shm", "write"}, {"shm", "read"}, {"shm", "stat"}, {"shm", "rm"},
		{"mutex", "init"}, {"mutex", "lock"}, {"mutex", "state"}, {"fifo", "make"},
		{"ls"}, {"lock"}, {"demo"}, {"version"}, {"cflags"}, {"bench"},
	}
	for _, cmd := range lines {
		for _, h := range []string{"--help", "-h"} {
			r := cli(t, "", append(cmd, h)...)
			require.Equal(t, 0, r.code, "%v %s: %s", cmd, h, r.stderr)
			assert.Contains(t, r.stdout, "posixipc "+strings.Join(cmd, " "), "%v %s", cmd, h)
			assert.NotContains(t, r.stderr, "help requested")
		}
	}
	r := cli(t, "", "mq", "send", "--help")
	assert.Contains(t, r.stdout, "--prio")
	assert.Contains(t, r.stdout, "priority, 0 to 32767", "the flag's own text")
	for _, g := range []string{"mq", "sem", "shm", "mutex", "fifo"} {
		r := cli(t, "", g, "--help")
		require.Equal(t, 0, r.code, g)
		assert.Contains(t, r.stdout, "posixipc "+g+" ")
		r = cli(t, "", g)
		assert.Equal(t, exitUsage, r.code, g)
		assert.NotContains(t, r.stderr, g+": "+g+":", "no doubled prefix")
	}
	assert.Equal(t, exitUsage, cli(t, "", "help", "nosuch").code)
	assert.Equal(t, exitUsage, cli(t, "", "nosuch").code)
	assert.Equal(t, 0, cli(t, "", "help", "mq").code)
}

// --timeout has one meaning everywhere: 0 tries once without waiting (exit
// 75 when it would block), absent waits for ever, a negative one is a usage
// error.
func TestTimeoutZeroTriesOnce(t *testing.T) {
	q := testutil.Name("clito")
	require.Equal(t, 0, cli(t, "", "mq", "create", q).code)
	defer cli(t, "", "mq", "rm", q)
	s := testutil.Name("clito")
	require.Equal(t, 0, cli(t, "", "sem", "create", s, "--value", "0").code)
	defer cli(t, "", "sem", "rm", s)
	for _, args := range [][]string{
		{"mq", "recv", q, "--timeout", "0"},
		{"sem", "wait", s, "--timeout", "0"},
	} {
		t0 := time.Now()
		r := cli(t, "", args...)
		assert.Equal(t, exitTempErr, r.code, "%v: %s", args, r.stderr)
		assert.Less(t, time.Since(t0), 2*time.Second, "%v did not wait", args)
		r = cli(t, "", append(args[:3:3], "--timeout", "-1s")...)
		assert.Equal(t, exitUsage, r.code, "%v -1s", args)
	}
	require.Equal(t, 0, cli(t, "", "mq", "send", q, "hi").code)
	r := cli(t, "", "mq", "recv", q, "--timeout", "0")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "hi\n", r.stdout)
}

// Sizes take units; zero sizes are errors, not the defaults; creating an
// object that exists with other attributes warns (and --excl fails).
func TestSizesAndCreateWarnings(t *testing.T) {
	for in, want := range map[string]int64{"4096": 4096, "4k": 4096, "4K": 4096, "4KiB": 4096, "4KB": 4000, "1M": 1 << 20, "1MiB": 1 << 20, "1MB": 1e6, "2G": 2 << 30} {
		got, err := parseSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "x", "-1", "4x", "1.5M", "99999999999G"} {
		_, err := parseSize(bad)
		assert.Error(t, err, bad)
	}
	q := testutil.Name("clisz")
	defer cli(t, "", "mq", "rm", q)
	assert.Equal(t, exitUsage, cli(t, "", "mq", "create", q, "--msgsize", "0").code)
	assert.Equal(t, exitUsage, cli(t, "", "mq", "create", q, "--maxmsg", "0").code)
	r := cli(t, "", "mq", "create", q, "--msgsize", "1k", "--maxmsg", "4")
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, "", "mq", "attr", q, "--json")
	assert.Contains(t, r.stdout, `"msgsize":1024`)
	r = cli(t, "", "mq", "create", q, "--msgsize", "2k")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stderr, "warning: "+q+" exists with msgsize 1024, not the 2048 asked")
	assert.NotEqual(t, 0, cli(t, "", "mq", "create", q, "--msgsize", "2k", "--excl").code)

	seg := testutil.Name("clisz")
	defer cli(t, "", "shm", "rm", seg)
	require.Equal(t, 0, cli(t, "", "shm", "create", seg, "--size", "8KiB").code)
	r = cli(t, "", "shm", "create", seg, "--size", "4k")
	assert.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "exists with 8192 bytes, not the 4096 asked")
	r = cli(t, "", "shm", "read", seg, "--offset", "4k", "--len", "1k")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Len(t, r.stdout, 1024)
}

// A message that begins with '-' is taken after "--".
func TestDashMessage(t *testing.T) {
	q := testutil.Name("clidash")
	require.Equal(t, 0, cli(t, "", "mq", "create", q).code)
	defer cli(t, "", "mq", "rm", q)
	r := cli(t, "", "mq", "send", q, "--prio", "2", "--", "-5 degrees")
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, "", "mq", "recv", q, "--timeout", "0")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "-5 degrees\n", r.stdout)
	assert.Contains(t, cli(t, "", "mq", "send", "--help").stdout, "a MESSAGE that begins with '-' goes after --")
}

// Every --json output uses snake_case keys (docs/cli-json.md).
func TestJSONKeys(t *testing.T) {
	s := testutil.Name("clijs")
	require.Equal(t, 0, cli(t, "", "sem", "create", s, "--value", "2").code)
	defer cli(t, "", "sem", "rm", s)
	q := testutil.Name("clijs")
	require.Equal(t, 0, cli(t, "", "mq", "create", q).code)
	defer cli(t, "", "mq", "rm", q)
	seg := testutil.Name("clijs")
	require.Equal(t, 0, cli(t, "", "shm", "create", seg, "--size", "4k").code)
	defer cli(t, "", "shm", "rm", seg)
	require.Equal(t, 0, cli(t, "", "mutex", "init", seg, "--offset", "0").code)
	for _, args := range [][]string{
		{"sem", "value", s, "--json"}, {"mq", "attr", q, "--json"}, {"shm", "stat", seg, "--json"},
		{"mutex", "state", seg, "--offset", "0", "--json"},
	} {
		r := cli(t, "", args...)
		require.Equal(t, 0, r.code, "%v: %s", args, r.stderr)
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &m), r.stdout)
		for k := range m {
			assert.Regexp(t, `^[a-z][a-z0-9_]*$`, k, "%v", args)
		}
	}
	r := cli(t, "", "sem", "value", s, "--json")
	assert.JSONEq(t, `{"name":"`+s+`","value":2}`, r.stdout)
}

// posixipc limits lists every limit of the README's table with its value.
func TestLimits(t *testing.T) {
	r := cli(t, "", "limits")
	require.Equal(t, 0, r.code, r.stderr)
	for _, name := range []string{"fs.mqueue.msg_max", "fs.mqueue.msgsize_max", "fs.mqueue.queues_max", "RLIMIT_MSGQUEUE", "/dev/shm", "SEM_VALUE_MAX", "PIPE_BUF"} {
		assert.Contains(t, r.stdout, name)
	}
	r = cli(t, "", "limits", "--json")
	var rows []map[string]string
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rows), r.stdout)
	b, err := os.ReadFile("/proc/sys/fs/mqueue/msg_max")
	require.NoError(t, err)
	found := false
	for _, row := range rows {
		if row["name"] == "fs.mqueue.msg_max" {
			found = true
			assert.Equal(t, strings.TrimSpace(string(b)), row["value"])
			assert.Contains(t, row["raise"], "sysctl")
		}
	}
	assert.True(t, found)
}

// rm takes several names, and --all --prefix P removes a test's leftovers.
func TestRmSeveral(t *testing.T) {
	p := testutil.Name("clirm")
	var names []string
	for i := 0; i < 3; i++ {
		n := p + "-" + strconv.Itoa(i)
		require.Equal(t, 0, cli(t, "", "shm", "create", n, "--size", "4k").code)
		names = append(names, n)
	}
	keep := testutil.Name("clikeep")
	require.Equal(t, 0, cli(t, "", "shm", "create", keep, "--size", "4k").code)
	defer cli(t, "", "shm", "rm", keep)
	r := cli(t, "", "shm", "rm", names[0], names[1])
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, exitUsage, cli(t, "", "shm", "rm", "--all").code, "--all needs --prefix")
	r = cli(t, "", "shm", "rm", "--all", "--prefix", p)
	require.Equal(t, 0, r.code, r.stderr)
	for _, n := range names {
		_, err := os.Stat("/dev/shm" + n)
		assert.True(t, os.IsNotExist(err), n)
	}
	_, err := os.Stat("/dev/shm" + keep)
	assert.NoError(t, err, "another prefix is kept")
	r = cli(t, "", "shm", "rm", keep, p+"-nosuch")
	assert.Equal(t, exitErr, r.code, "a name that does not exist is an error, the others are removed")
	_, err = os.Stat("/dev/shm" + keep)
	assert.True(t, os.IsNotExist(err))
}

// Shell completion and the man page come from the command table.
func TestCompletionAndMan(t *testing.T) {
	r := cli(t, "", "completion", "bash")
	require.Equal(t, 0, r.code, r.stderr)
	script := filepath.Join(t.TempDir(), "c.bash")
	require.NoError(t, os.WriteFile(script, []byte(r.stdout), 0o644))
	out, err := exec.Command("bash", "-c", `source "$1"; COMP_WORDS=(posixipc mq s); COMP_CWORD=2; _posixipc; echo "${COMPREPLY[@]}"
COMP_WORDS=(posixipc mq create --ms); COMP_CWORD=3; _posixipc; echo "${COMPREPLY[@]}"`, "bash", script).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "send\n--msgsize\n", string(out))
	for _, sh := range []string{"zsh", "fish"} {
		r := cli(t, "", "completion", sh)
		require.Equal(t, 0, r.code, sh)
		assert.Contains(t, r.stdout, "posixipc", sh)
		if path, err := exec.LookPath(sh); err == nil && sh == "fish" {
			f := filepath.Join(t.TempDir(), "c.fish")
			require.NoError(t, os.WriteFile(f, []byte(r.stdout), 0o644))
			out, err := exec.Command(path, "--no-execute", f).CombinedOutput()
			assert.NoError(t, err, "%s", out)
		}
	}
	assert.Equal(t, exitUsage, cli(t, "", "completion", "tcsh").code)

	r = cli(t, "", "man")
	require.Equal(t, 0, r.code, r.stderr)
	assert.True(t, strings.HasPrefix(r.stdout, ".TH POSIXIPC 1"), r.stdout[:40])
	for _, c := range []string{"mq", "sem", "shm", "ls", "limits", "lock"} {
		assert.Contains(t, r.stdout, ".B "+c+"\n")
	}
	if _, err := exec.LookPath("groff"); err == nil {
		cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-z")
		cmd.Stdin = strings.NewReader(r.stdout)
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err)
		assert.Empty(t, string(out), "groff warnings")
	}
}

// Errors in the C library's wording (strerror), and a shell user's remedy
// for an uninitialised mutex.
func TestErrorWording(t *testing.T) {
	assert.Equal(t, "No such file or directory", posixipc.Strerror(syscall.ENOENT))
	assert.Equal(t, "Connection timed out", posixipc.Strerror(syscall.ETIMEDOUT))
	r := cli(t, "", "mq", "rm", testutil.Name("nosuch"))
	assert.Equal(t, exitErr, r.code)
	assert.Contains(t, r.stderr, ": No such file or directory")
	seg := testutil.Name("cliw")
	require.Equal(t, 0, cli(t, "", "shm", "create", seg, "--size", "4k").code)
	defer cli(t, "", "shm", "rm", seg)
	r = cli(t, "", "mutex", "state", seg, "--offset", "0")
	assert.Equal(t, exitErr, r.code)
	assert.Contains(t, r.stderr, "posixipc mutex init "+seg+" --offset 0")
	assert.NotContains(t, r.stderr, "NewMutex")
}

// A mutex lock --hold holder stopped by SIGTERM unlocks and exits 143.
func TestMutexHoldSIGTERM(t *testing.T) {
	seg := testutil.Name("clisig")
	require.Equal(t, 0, cli(t, "", "shm", "create", seg, "--size", "4k").code)
	defer cli(t, "", "shm", "rm", seg)
	require.Equal(t, 0, cli(t, "", "mutex", "init", seg, "--offset", "0").code)
	cmd := exec.Command(cliPath, "mutex", "lock", seg, "--offset", "0", "--hold", "30s")
	require.NoError(t, cmd.Start())
	require.True(t, testutil.Eventually(5*time.Second, func() bool {
		return strings.HasPrefix(cli(t, "", "mutex", "state", seg, "--offset", "0").stdout, "locked")
	}))
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	err := cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 143, ee.ExitCode())
	assert.True(t, strings.HasPrefix(cli(t, "", "mutex", "state", seg, "--offset", "0").stdout, "unlocked"), "it unlocked")
}

// lock takes a flock lock on what it cannot open for writing, read-only,
// as flock(1) does: here a directory.
func TestLockReadOnly(t *testing.T) {
	dir := t.TempDir()
	r := cli(t, "", "lock", dir, "--", "echo", "locked")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "locked\n", r.stdout)
	r = cli(t, "", "lock", dir, "--shared", "--range", "0:0", "--", "echo", "shared")
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, "", "lock", dir, "--range", "0:0", "--", "echo", "never")
	assert.Equal(t, exitErr, r.code, "an exclusive range lock needs write access")

	// A file another uid may read but not write, locked by that uid.
	if os.Getuid() != 0 {
		t.Skip("the rest needs root to run the CLI as uid 65534")
	}
	f, err := os.CreateTemp("/tmp", "posixipc-ro")
	require.NoError(t, err)
	f.Close()
	defer os.Remove(f.Name())
	require.NoError(t, os.Chmod(f.Name(), 0o644))
	run := func(args ...string) (string, int) {
		cmd := testutil.Unprivileged(t, exec.Command(cliPath, args...))
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		require.NoError(t, err, "%s", out)
		return string(out), 0
	}
	out, code := run("lock", f.Name(), "--", "echo", "flock")
	assert.Equal(t, 0, code, out)
	assert.Equal(t, "flock\n", out)
	out, code = run("lock", f.Name(), "--shared", "--range", "0:0", "--", "echo", "shared")
	assert.Equal(t, 0, code, out)
	_, code = run("lock", f.Name(), "--range", "0:0", "--", "echo", "never")
	assert.Equal(t, exitErr, code, "an exclusive range lock needs write access")
}
