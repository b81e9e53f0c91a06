//go:build linux && cgo

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/posixipc/posixipc/binding/mq"
	"github.com/posixipc/posixipc/internal/peer"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCLIMessageQueue(t *testing.T) {
	name := testutil.Name("cli")
	bare := strings.TrimPrefix(name, "/")
	t.Cleanup(func() { mq.Unlink(name) })

	r := cli(t, "", "mq", "create", bare, "--maxmsg", "4", "--msgsize", "32", "--mode", "0640", "--excl")
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, "", "mq", "create", name, "--excl")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "File exists")

	assert.Equal(t, 0, cli(t, "", "mq", "send", bare, "--prio", "2", "two").code)
	assert.Equal(t, 0, cli(t, "from stdin\x00\xff", "mq", "send", name, "--prio", "8").code)

	r = cli(t, "", "mq", "attr", name, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.JSONEq(t, `{"name":"`+name+`","maxmsg":4,"msgsize":32,"curmsgs":2,"flags":0,"nonblock":false}`, r.stdout)
	assert.True(t, strings.HasPrefix(r.stdout, `{"name":`), "field order: %s", r.stdout)

	r = cli(t, "", "mq", "recv", bare, "-n", "2", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 2)
	assert.JSONEq(t, `{"prio":8,"size":12,"base64":"ZnJvbSBzdGRpbgD/"}`, lines[0])
	assert.JSONEq(t, `{"prio":2,"size":3,"text":"two"}`, lines[1])

	// C sends, the CLI receives the raw bytes plus a newline
	p, err := peer.Path("mqpeer")
	require.NoError(t, err)
	out, err := exec.Command(p, "send", name, "1", "from C").CombinedOutput()
	require.NoError(t, err, "%s", out)
	r = cli(t, "", "mq", "recv", name)
	assert.Equal(t, "from C\n", r.stdout)

	// timeouts and would-block: 75
	r = cli(t, "", "mq", "recv", name, "--timeout", "30ms")
	assert.Equal(t, 75, r.code, r.stderr)
	assert.Equal(t, 75, cli(t, "", "mq", "recv", name, "--nonblock").code)
	for i := 0; i < 4; i++ {
		require.Equal(t, 0, cli(t, "", "mq", "send", name, "x").code)
	}
	assert.Equal(t, 75, cli(t, "", "mq", "send", name, "--nonblock", "y").code)
	assert.Equal(t, 75, cli(t, "", "mq", "send", name, "--timeout", "20ms", "y").code)

	r = cli(t, "", "mq", "send", name, strings.Repeat("z", 33))
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "Message too long")

	// errors and usage
	assert.Equal(t, 2, cli(t, "", "mq").code)
	assert.Equal(t, 2, cli(t, "", "mq", "send").code)
	assert.Equal(t, 2, cli(t, "", "mq", "create", name, "--mode", "999").code)
	assert.Equal(t, 2, cli(t, "", "mq", "recv", name, "-n", "0").code)
	r = cli(t, "", "mq", "create", "a/b")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "invalid IPC name")
	r = cli(t, "", "mq", "create", name+"-big", "--maxmsg", "1000", "--msgsize", "16")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "msg_max")

	assert.Equal(t, 0, cli(t, "", "mq", "rm", bare).code)
	r = cli(t, "", "mq", "rm", bare)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "No such file or directory")
}

func TestCLINotify(t *testing.T) {
	name := testutil.Name("clinotify")
	q, err := mq.Create(name, 0o600, &mq.Attr{MaxMsg: 4, MsgSize: 32})
	require.NoError(t, err)
	t.Cleanup(func() { q.Close(); mq.Unlink(name) })

	for _, args := range [][]string{{"mq", "notify", name}, {"mq", "notify", name, "--signal"}} {
		cmd := exec.Command(cliPath, append(args, "--timeout", "10s")...)
		stderrPipe, err := cmd.StderrPipe()
		require.NoError(t, err)
		var out strings.Builder
		cmd.Stdout = &out
		require.NoError(t, cmd.Start())
		line := make([]byte, 200)
		n, _ := stderrPipe.Read(line) // "registered for ..."
		require.Contains(t, string(line[:n]), "registered")
		require.NoError(t, q.TrySend([]byte("hi"), 0))
		require.NoError(t, cmd.Wait())
		assert.Contains(t, out.String(), "notified "+name)
		_, _, err = q.TryReceive(make([]byte, 32))
		require.NoError(t, err)
	}
	r := cli(t, "", "mq", "notify", name, "--timeout", "30ms")
	assert.Equal(t, 75, r.code)
}

func TestCLILs(t *testing.T) {
	name := testutil.Name("clils")
	q, err := mq.Create(name, 0o640, &mq.Attr{MaxMsg: 4, MsgSize: 32})
	require.NoError(t, err)
	t.Cleanup(func() { q.Close(); mq.Unlink(name) })
	require.NoError(t, q.TrySend([]byte("12345"), 0))

	if mqueueMount() == "" {
		// mount an mqueue file system in a temp dir so queues can be listed
		dir := t.TempDir()
		if err := syscall.Mount("none", dir, "mqueue", 0, ""); err != nil {
			t.Skipf("cannot mount an mqueue file system here: %v", err)
		}
		t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	}
	r := cli(t, "", "ls", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var found *lsEntry
	var all []lsEntry
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &all), r.stdout)
	for i, e := range all {
		if e.Type == "mq" && e.Name == name {
			found = &all[i]
		}
	}
	require.NotNil(t, found, "queue %s not listed:\n%s", name, r.stdout)
	assert.Equal(t, "0640", found.Mode)
	assert.Equal(t, int64(5), found.Size)
	require.NotNil(t, found.Messages)
	assert.Equal(t, 1, *found.Messages, "the queue's attributes are fields")
	require.NotNil(t, found.NotifyPID)
	assert.Equal(t, 0, *found.NotifyPID)
	assert.Equal(t, os.Getuid(), found.UID)

	r = cli(t, "", "ls")
	assert.Contains(t, r.stdout, name)
}

func TestCLIDemo(t *testing.T) {
	r := cli(t, "", "demo")
	require.Equal(t, 0, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	assert.Contains(t, r.stdout, `C   <- queue   prio 9  "URGENT: disk full"`)
	assert.Contains(t, r.stdout, "Go was notified")
	assert.Contains(t, r.stdout, "32 at a time (NextBatch, ReleaseBatch")
	assert.Contains(t, r.stdout, "demo finished")
}

func TestCLIHelp(t *testing.T) {
	r := cli(t, "", "help")
	assert.Equal(t, 0, r.code)
	for _, c := range []string{"mq", "ls", "demo"} {
		assert.Contains(t, r.stdout, "  "+c)
	}
	assert.Equal(t, 2, cli(t, "").code)
	assert.Equal(t, 2, cli(t, "", "nosuch").code)
}
