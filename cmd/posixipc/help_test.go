package main

import (
	"strings"
	"testing"
	"time"

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
