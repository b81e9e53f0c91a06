//go:build linux && cgo

package main

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/require"
)

func TestShmCLI(t *testing.T) {
	n := testutil.Name("clishm")
	t.Cleanup(func() { shm.Unlink(n) })
	bare := strings.TrimPrefix(n, "/")

	r := cli(t, "", "shm", "create", bare, "--size", "4096", "--mode", "0640", "--excl")
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, "", "shm", "create", n, "--size", "4096", "--excl")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "exists")
	r = cli(t, "", "shm", "create", n, "--size", "8192")
	require.Equal(t, 1, r.code, "never grows an existing segment")
	require.Contains(t, r.stderr, "smaller")
	r = cli(t, "", "shm", "create", n, "--size", "1024")
	require.Equal(t, 0, r.code, r.stderr)

	r = cli(t, "", "shm", "stat", n, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var info map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &info))
	require.Equal(t, n, info["name"])
	require.Equal(t, float64(4096), info["size"])
	require.Equal(t, "0640", info["mode"])
	r = cli(t, "", "shm", "stat", bare)
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "size  4096")

	require.Equal(t, 0, cli(t, "", "shm", "write", n, "--offset", "10", "hello").code)
	r = cli(t, "from stdin\x00\x01", "shm", "write", n, "--offset", "100")
	require.Equal(t, 0, r.code, r.stderr)
	out, err := runPeerOut("shmpeer", "read", n, "10", "5")
	require.NoError(t, err)
	require.Equal(t, "hello", out, "the C peer reads what the CLI wrote")
	_, err = runPeerOut("shmpeer", "write", n, "200", "written by C")
	require.NoError(t, err)
	r = cli(t, "", "shm", "read", n, "--offset", "200", "--len", "12")
	require.Equal(t, cliResult{"written by C", "", 0}, r)
	r = cli(t, "", "shm", "read", n, "--offset", "100", "--len", "12")
	require.Equal(t, "from stdin\x00\x01", r.stdout)
	r = cli(t, "", "shm", "read", n, "--offset", "4000")
	require.Equal(t, 0, r.code)
	require.Len(t, r.stdout, 96, "default: to the end")

	// Past the end: exit 1, nothing written.
	r = cli(t, "", "shm", "read", n, "--offset", "4090", "--len", "7")
	require.Equal(t, 1, r.code)
	require.Empty(t, r.stdout)
	require.Contains(t, r.stderr, "past the end")
	require.Equal(t, 1, cli(t, "", "shm", "read", n, "--offset", "5000").code)
	require.Equal(t, 1, cli(t, "", "shm", "write", n, "--offset", "4095", "xy").code)

	for _, args := range [][]string{
		{"shm"}, {"shm", "create", n}, {"shm", "create", n, "--size", "0"}, {"shm", "read", n, "--offset", "-1"},
		{"shm", "read", n, "--len", "-2"}, {"shm", "write"}, {"shm", "stat", n, "--bogus"}, {"shm", "rm"},
	} {
		r = cli(t, "", args...)
		require.Equal(t, 2, r.code, "%v: %s", args, r.stderr)
	}
	require.Equal(t, 0, cli(t, "", "shm", "rm", n).code)
	r = cli(t, "", "shm", "stat", n)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "No such file")
	require.Equal(t, 1, cli(t, "", "shm", "rm", n).code)
}

func TestShmDemoStep(t *testing.T) {
	var lines []string
	err := demoShm(func(f string, a ...any) { lines = append(lines, f) })
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(lines), 5)
	_, err = os.Stat("/dev/shm/posixipc-demo-shm-" + strconv.Itoa(os.Getpid()))
	require.ErrorIs(t, err, os.ErrNotExist)
}
