//go:build linux && cgo

package main

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/posixipc/posixipc/internal/bench"

	"github.com/posixipc/posixipc/binding/sem"
	"github.com/posixipc/posixipc/internal/peer"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/require"
)

func TestSemCLI(t *testing.T) {
	n := testutil.Name("clisem")
	t.Cleanup(func() { sem.Unlink(n) })
	bare := strings.TrimPrefix(n, "/")

	r := cli(t, "", "sem", "create", bare, "--value", "2", "--mode", "0600", "--excl")
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, "", "sem", "create", n, "--excl")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "exists")
	r = cli(t, "", "sem", "create", n) // without --excl: opens it
	require.Equal(t, 0, r.code, r.stderr)
	st, err := os.Stat("/dev/shm/sem." + bare)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	r = cli(t, "", "sem", "value", n)
	require.Equal(t, cliResult{"2\n", "", 0}, r)
	r = cli(t, "", "sem", "post", n, "-n", "3")
	require.Equal(t, 0, r.code, r.stderr)
	out, err := runPeerOut("sempeer", "value", n)
	require.NoError(t, err)
	require.Equal(t, "5\n", out, "the C peer sees what the CLI posted")
	require.Equal(t, 0, cli(t, "", "sem", "wait", n).code)
	require.Equal(t, 0, cli(t, "", "sem", "wait", n, "--timeout", "1s").code)
	require.Equal(t, 0, cli(t, "", "sem", "wait", n, "--nonblock").code)
	require.Equal(t, "2\n", cli(t, "", "sem", "value", n).stdout)

	_, err = runPeerOut("sempeer", "wait", n, "2")
	require.NoError(t, err)
	r = cli(t, "", "sem", "wait", n, "--nonblock")
	require.Equal(t, 75, r.code)
	r = cli(t, "", "sem", "wait", n, "--timeout", "50ms")
	require.Equal(t, 75, r.code)
	require.Contains(t, r.stderr, "deadline exceeded")

	// A CLI wait released by a C post.
	cmd, err := peer.Command("sempeer", "post", n, "1", "0")
	require.NoError(t, err)
	go func() { cmd.Run() }()
	r = cli(t, "", "sem", "wait", n, "--timeout", "10s")
	require.Equal(t, 0, r.code, r.stderr)

	// Usage errors: 2.
	for _, args := range [][]string{
		{"sem"}, {"sem", "frob", n}, {"sem", "post", n, "-n", "0"}, {"sem", "post"},
		{"sem", "wait", n, "--timeout", "-1s"}, {"sem", "create", n, "--value", "-1"},
		{"sem", "create", n, "--mode", "999"}, {"sem", "value", n, "extra"}, {"sem", "wait", n, "--bogus"},
	} {
		r = cli(t, "", args...)
		require.Equal(t, 2, r.code, "%v: %s", args, r.stderr)
	}
	// Errors: 1.
	r = cli(t, "", "sem", "value", "a/b")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "invalid IPC name")
	r = cli(t, "", "sem", "rm", n)
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, "", "sem", "rm", n)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "No such file")
	r = cli(t, "", "sem", "post", n)
	require.Equal(t, 1, r.code)
}

func TestSemDemoStep(t *testing.T) {
	var lines []string
	err := demoSem(func(f string, a ...any) { lines = append(lines, f) })
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(lines), 8)
	ents, _ := os.ReadDir("/dev/shm")
	for _, e := range ents {
		require.NotContains(t, e.Name(), "posixipc-demo-sem-"+strconv.Itoa(os.Getpid()))
	}
}

// The sem and shm rows of `posixipc bench` run end to end (tiny sizes).
func TestSemShmBenchJSON(t *testing.T) {
	r := cli(t, "", "bench", "--json", "--only", "sem,shm", "--rounds", "1", "--block", "20", "--quick")
	require.Equal(t, 0, r.code, r.stderr)
	var rep bench.Report
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	require.Empty(t, rep.Skipped)
	configs := map[string]bench.Row{}
	for _, row := range rep.RoundTrips {
		require.Equal(t, "sem", row.Primitive)
		require.Equal(t, int64(20), row.N)
		require.Greater(t, row.P50, 0.0)
		configs[row.Config] = row
	}
	for _, c := range []string{"c-c", "go-c", "go-go", "cgo"} {
		require.Contains(t, configs, c)
	}
	require.Greater(t, configs["go-c"].P50VsCgo, 0.0)
	require.Len(t, rep.Throughput, 3)
	for _, tp := range rep.Throughput {
		require.Equal(t, "shm", tp.Primitive)
		require.Greater(t, tp.MBps, 0.0)
	}
}
