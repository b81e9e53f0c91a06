//go:build linux && cgo

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/sysvmsg"
	"github.com/posixipc/posixipc/binding/sysvsem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMsgCLI(t *testing.T) {
	r := cli(t, "", "msg", "create", "--private")
	require.Equal(t, 0, r.code, r.stderr)
	id := strings.TrimSpace(r.stdout)
	qid, err := strconv.Atoi(id)
	require.NoError(t, err, "create prints the msqid alone: %q", r.stdout)
	t.Cleanup(func() { cli(t, "", "msg", "rm", id) })

	require.Equal(t, 0, cli(t, "", "msg", "send", id, "--type", "3", "three").code)
	require.Equal(t, 0, cli(t, "", "msg", "send", id, "--type", "1", "one").code)
	out, err := runPeerOut("sysvpeer", "msg-recv", id, "3")
	require.NoError(t, err)
	assert.Equal(t, "ready\n3 three\n", out, "the C peer reads what the CLI sent")

	r = cli(t, "", "msg", "recv", id, "--json")
	require.Equal(t, cliResult{`{"type":1,"size":3,"text":"one"}` + "\n", "", 0}, r)

	r = cli(t, "", "msg", "recv", id, "--nonblock")
	assert.Equal(t, 75, r.code, r.stderr)
	r = cli(t, "", "msg", "recv", id, "--timeout", "50ms")
	assert.Equal(t, 75, r.code, r.stderr)

	// selectors
	for _, typ := range []string{"5", "2", "9"} {
		require.Equal(t, 0, cli(t, "", "msg", "send", id, "--type", typ, "t"+typ).code)
	}
	assert.Equal(t, "t2\n", cli(t, "", "msg", "recv", id, "--type", "-4").stdout)
	assert.Equal(t, "t9\n", cli(t, "", "msg", "recv", id, "--type", "5", "--except").stdout)
	assert.Equal(t, "t5\n", cli(t, "", "msg", "recv", id).stdout)

	// too long without --noerror: exit 1 and the message stays
	require.Equal(t, 0, cli(t, "", "msg", "send", id, "--type", "1", "0123456789").code)
	r = cli(t, "", "msg", "recv", id, "--size", "4")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "longer than the 4-byte buffer")
	assert.Equal(t, "0123\n", cli(t, "", "msg", "recv", id, "--size", "4", "--noerror").stdout)

	r = cli(t, "", "msg", "stat", id, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st))
	for _, k := range []string{"id", "key", "qnum", "qbytes", "lspid", "lrpid", "mode", "uid"} {
		assert.Contains(t, st, k)
	}
	assert.Equal(t, float64(qid), st["id"])
	assert.Equal(t, "0600", st["mode"])

	// a CLI recv released by a C sender
	go func() {
		time.Sleep(50 * time.Millisecond)
		runPeerOut("sysvpeer", "msg-send", id, "7", "late")
	}()
	assert.Equal(t, "late\n", cli(t, "", "msg", "recv", id, "--type", "7", "--timeout", "10s").stdout)

	// usage errors
	assert.Equal(t, 2, cli(t, "", "msg", "send", id, "x").code, "--type is required")
	assert.Equal(t, 2, cli(t, "", "msg", "send", id, "--type", "0", "x").code)
	assert.Equal(t, 2, cli(t, "", "msg", "create").code)
	assert.Equal(t, 2, cli(t, "", "msg", "create", "--private", "--key", "5").code)
	assert.Equal(t, 2, cli(t, "", "msg", "recv", "abc").code)
	assert.Equal(t, 2, cli(t, "", "msg", "recv", id, "--except").code)

	require.Equal(t, 0, cli(t, "", "msg", "rm", id).code)
	r = cli(t, "", "msg", "stat", id)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "no message queue has this id")
}

func TestMsgCLIByKeyAndPath(t *testing.T) {
	key := 0x5d000000 | os.Getpid()&0xffffff
	r := cli(t, "", "msg", "create", "--key", "0x"+strconv.FormatInt(int64(key), 16), "--perm", "0640", "--excl")
	require.Equal(t, 0, r.code, r.stderr)
	id := strings.TrimSpace(r.stdout)
	t.Cleanup(func() { cli(t, "", "msg", "rm", id) })
	r = cli(t, "", "msg", "create", "--key", strconv.Itoa(key), "--excl")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "File exists")
	r = cli(t, "", "msg", "create", "--key", strconv.Itoa(key))
	assert.Equal(t, id+"\n", r.stdout, "without --excl: the existing queue")
	q, err := sysvmsg.OpenID(mustAtoi(t, id))
	require.NoError(t, err)
	defer q.Close()
	info, err := q.Stat()
	require.NoError(t, err)
	assert.Equal(t, key, info.Key)
	assert.Equal(t, os.FileMode(0o640), info.Mode)

	dir := t.TempDir()
	r = cli(t, "", "msg", "create", "--path", dir, "--proj", "7")
	require.Equal(t, 0, r.code, r.stderr)
	pid := strings.TrimSpace(r.stdout)
	t.Cleanup(func() { cli(t, "", "msg", "rm", pid) })
	out, err := exec.Command("ipcs", "-q", "-i", pid).CombinedOutput()
	if err == nil {
		assert.Contains(t, string(out), "msqid="+pid, "ipcs sees the queue the CLI made")
	}
	assert.Equal(t, 2, cli(t, "", "msg", "create", "--path", dir).code, "--path needs --proj")
}

func mustAtoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(s))
	require.NoError(t, err)
	return n
}

func TestSemsetCLI(t *testing.T) {
	r := cli(t, "", "semset", "create", "--private", "--nsems", "2", "--values", "1,0")
	require.Equal(t, 0, r.code, r.stderr)
	id := strings.TrimSpace(r.stdout)
	t.Cleanup(func() { cli(t, "", "semset", "rm", id) })

	assert.Equal(t, "1 0\n", cli(t, "", "semset", "get", id).stdout)
	require.Equal(t, 0, cli(t, "", "semset", "op", id, "0:-1", "1:+1").code)
	out, err := runPeerOut("sysvpeer", "sem-get", id, "2")
	require.NoError(t, err)
	assert.Equal(t, "0 1\n", out, "the C peer sees the atomic op")

	r = cli(t, "", "semset", "op", id, "0:-1", "--nonblock")
	assert.Equal(t, 75, r.code)
	r = cli(t, "", "semset", "op", id, "0:-1", "1:-1", "--timeout", "50ms")
	assert.Equal(t, 75, r.code)
	assert.Equal(t, "0 1\n", cli(t, "", "semset", "get", id).stdout, "a timed-out op changed nothing")

	// --undo --hold: the unit is held while the process lives, and given
	// back by the kernel when it is killed.
	cmd := exec.Command(cliPath, "semset", "op", id, "1:-1", "--undo", "--hold", "1m")
	require.NoError(t, cmd.Start())
	s, err := sysvsem.OpenID(mustAtoi(t, id))
	require.NoError(t, err)
	defer s.Close()
	require.Eventually(t, func() bool { v, _ := s.Value(1); return v == 0 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()
	require.Eventually(t, func() bool { v, _ := s.Value(1); return v == 1 }, 10*time.Second, 5*time.Millisecond)

	r = cli(t, "", "semset", "get", id, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var g struct{ Values, Pids, Ncnt, Zcnt []int }
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &g))
	assert.Equal(t, []int{0, 1}, g.Values)
	assert.Len(t, g.Pids, 2)
	assert.Len(t, g.Ncnt, 2)
	assert.Len(t, g.Zcnt, 2)

	require.Equal(t, 0, cli(t, "", "semset", "set", id, "0=5", "1=2").code)
	assert.Equal(t, "5 2\n", cli(t, "", "semset", "get", id).stdout)

	assert.Equal(t, 2, cli(t, "", "semset", "op", id, "0-1").code)
	assert.Equal(t, 2, cli(t, "", "semset", "set", id, "0:1").code)
	assert.Equal(t, 2, cli(t, "", "semset", "create", "--private").code, "--nsems is required")
	assert.Equal(t, 2, cli(t, "", "semset", "create", "--private", "--nsems", "2", "--values", "1").code)
	r = cli(t, "", "semset", "op", id, "7:-1")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "semaphore 7")

	r = cli(t, "", "ls", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"nsems": 2`)
	r = cli(t, "", "ls")
	assert.Contains(t, r.stdout, "NSEMS")
	assert.Contains(t, r.stdout, "id="+id)

	require.Equal(t, 0, cli(t, "", "semset", "rm", id).code)
	assert.Equal(t, 1, cli(t, "", "semset", "get", id).code)
}
