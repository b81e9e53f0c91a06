//go:build linux && cgo

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/posixipc/posixipc/binding/ring"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRingCLI(t *testing.T) {
	name := fmt.Sprintf("/pit-cli-ring-%d", os.Getpid())
	t.Cleanup(func() { ring.Remove(name) })
	r := cli(t, "", "ring", "create", name, "--slots", "2", "--size", "16", "--tag", "0x2a")
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, "", "ring", "create", name, "--slots", "2", "--size", "16")
	assert.Equal(t, 1, r.code, "exists")

	// records persist between commands
	require.Equal(t, 0, cli(t, "", "ring", "send", name, "--tag", "42", "one").code)
	require.Equal(t, 0, cli(t, "", "ring", "send", name, "--tag", "42", "two").code)
	r = cli(t, "", "ring", "send", name, "--tag", "42", "--nonblock", "three")
	assert.Equal(t, 75, r.code, "full: %s", r.stderr)
	r = cli(t, "", "ring", "send", name, "--tag", "42", strings.Repeat("x", 17))
	assert.Equal(t, 1, r.code, "larger than a slot")
	assert.Contains(t, r.stderr, "do not fit a 16-byte slot")
	r = cli(t, "", "ring", "send", name, "one")
	assert.Equal(t, 1, r.code, "the tag must match")
	assert.Contains(t, r.stderr, "tag")

	r = cli(t, "", "ring", "stat", name, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st))
	assert.EqualValues(t, 2, st["slots"])
	assert.EqualValues(t, 16, st["size"])
	assert.Equal(t, "queue", st["mode"])
	assert.EqualValues(t, 2, st["queued"])
	assert.Empty(t, st["participants"], "the commands left")

	// a C peer consumes what the CLI sent, and sends what the CLI reads
	out, err := runPeerOut("ringpeer", "recv", name, "1")
	require.Error(t, err, "the C peer opens with tag 0: %s", out)
	r = cli(t, "", "ring", "recv", name, "--tag", "42", "-n", "2", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, `{"seq":0,"size":3,"text":"one"}`+"\n"+`{"seq":1,"size":3,"text":"two"}`+"\n", r.stdout)
	r = cli(t, "", "ring", "recv", name, "--tag", "42", "--timeout", "30ms")
	assert.Equal(t, 75, r.code, r.stderr)

	// a participant shows in stat, with its pid and life
	qn := name + "-q"
	t.Cleanup(func() { ring.Remove(qn) })
	require.Equal(t, 0, cli(t, "", "ring", "create", qn, "--slots", "4", "--size", "64", "--mode", "broadcast", "--full", "overwrite").code)
	h, err := ring.Open(qn, os.O_RDONLY, 0, nil)
	require.NoError(t, err)
	defer h.Close()
	r = cli(t, "", "ring", "stat", qn, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var bst struct {
		Mode         string `json:"mode"`
		Full         string `json:"full"`
		Participants []struct {
			Pid   int    `json:"pid"`
			Alive bool   `json:"alive"`
			Role  string `json:"role"`
		} `json:"participants"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &bst))
	assert.Equal(t, "broadcast", bst.Mode)
	assert.Equal(t, "overwrite", bst.Full)
	require.Len(t, bst.Participants, 1)
	assert.Equal(t, os.Getpid(), bst.Participants[0].Pid)
	assert.True(t, bst.Participants[0].Alive)
	assert.Equal(t, "consumer", bst.Participants[0].Role)
	out, err = runPeerOut("ringpeer", "send", qn, "3")
	require.NoError(t, err, out)
	r = cli(t, "", "ring", "stat", qn)
	require.Equal(t, 0, r.code, r.stderr)
	ls := cli(t, "", "ls", "--json")
	require.Equal(t, 0, ls.code, ls.stderr)
	assert.Contains(t, ls.stdout, `"type": "ring"`, "ls shows rings as rings")
	assert.Contains(t, r.stdout, "broadcast ring, 4 slots of 64 bytes")

	for _, bad := range [][]string{
		{"ring", "create", qn + "x", "--slots", "3", "--size", "8"},
		{"ring", "create", qn + "x", "--slots", "4"},
		{"ring", "create", qn + "x", "--slots", "4", "--size", "8", "--mode", "fanout"},
		{"ring", "create", qn + "x", "--slots", "4", "--size", "8", "--full", "overwrite"},
		{"ring", "recv", qn, "-n", "0"},
	} {
		r := cli(t, "", bad...)
		assert.NotEqual(t, 0, r.code, "%v", bad)
	}
	_, err = os.Stat("/dev/shm" + qn + "x")
	assert.True(t, os.IsNotExist(err), "a refused create leaves nothing")
	require.Equal(t, 0, cli(t, "", "ring", "rm", name, qn).code)
	_, err = ring.Inspect(name)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// TestRingSPSC: an SPSC ring made by the CLI carries records between
// separate invocations; while a producer lives, `ring send` is refused
// (the ring has one producer) with a message that says so.
func TestRingSPSC(t *testing.T) {
	name := fmt.Sprintf("/pit-cli-spsc-%d", os.Getpid())
	t.Cleanup(func() { ring.Remove(name) })
	r := cli(t, "", "ring", "create", name, "--slots", "4", "--size", "32", "--mode", "spsc")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, 0, cli(t, "", "ring", "send", name, "one").code)
	require.Equal(t, 0, cli(t, "", "ring", "send", name, "two").code)
	r = cli(t, "", "ring", "recv", name, "-n", "2")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "one\ntwo\n", r.stdout)
	r = cli(t, "", "ring", "stat", name, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"mode": "spsc"`)

	p, err := ring.Open(name, os.O_WRONLY, 0, nil)
	require.NoError(t, err)
	defer p.Close()
	r = cli(t, "", "ring", "send", name, "three")
	assert.NotEqual(t, 0, r.code)
	assert.Contains(t, r.stderr, "live producer")
}
