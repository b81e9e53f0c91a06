//go:build linux && cgo

package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/posixipc/posixipc/binding/sig"
	"github.com/posixipc/posixipc/internal/peer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSigCLI(t *testing.T) {
	// wait, then a C sender: the fields come out as JSON
	w := exec.Command(cliPath, "sig", "wait", "RTMIN+12", "--json", "--timeout", "20s")
	errp, err := w.StderrPipe()
	require.NoError(t, err)
	var out strings.Builder
	w.Stdout = &out
	require.NoError(t, w.Start())
	line, err := bufio.NewReader(errp).ReadString('\n')
	require.NoError(t, err)
	f := strings.Fields(line)
	require.Equal(t, "ready", f[0], line)
	require.Equal(t, strconv.Itoa(w.Process.Pid), f[1])
	s, err := sig.Parse("RTMIN+12")
	require.NoError(t, err)
	c, err := peer.Command("sigpeer", "send", f[1], strconv.Itoa(int(s)), "-77")
	require.NoError(t, err)
	require.NoError(t, c.Run())
	require.NoError(t, w.Wait())
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(out.String()), &got), out.String())
	assert.Equal(t, float64(s), got["signo"])
	assert.Equal(t, "SIGRTMIN+12", got["name"])
	assert.Equal(t, float64(sig.CodeQueue), got["code"])
	assert.Equal(t, float64(c.Process.Pid), got["pid"])
	assert.Equal(t, float64(os.Getuid()), got["uid"])
	assert.Equal(t, float64(-77), got["value"])

	// send reaches a C SA_SIGINFO handler with its value
	rcv, err := peer.Command("sigpeer", "recv", strconv.Itoa(int(s)), "1")
	require.NoError(t, err)
	rout, err := rcv.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, rcv.Start())
	br := bufio.NewReader(rout)
	ready, err := br.ReadString('\n')
	require.NoError(t, err)
	pid := strings.Fields(ready)[1]
	r := cli(t, "", "sig", "send", pid, "SIGRTMIN+12", "--value", "5")
	require.Equal(t, 0, r.code, r.stderr)
	got2, err := br.ReadString('\n')
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(strings.TrimSpace(got2), " 5"), got2)
	assert.Contains(t, got2, strconv.Itoa(int(s))+" -1 ")
	rcv.Wait()

	r = cli(t, "", "sig", "wait", "USR2", "--timeout", "50ms")
	assert.Equal(t, 75, r.code)
	assert.Contains(t, r.stderr, "ready ")
	assert.Equal(t, 2, cli(t, "", "sig", "wait", "NOPE").code)
	assert.Equal(t, 2, cli(t, "", "sig", "send", "x", "USR1").code)
	assert.Equal(t, 2, cli(t, "", "sig", "send", "1", "USR1", "--value", "99999999999").code)
	assert.Equal(t, 1, cli(t, "", "sig", "wait", "URG").code)
}
