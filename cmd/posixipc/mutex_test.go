//go:build linux && cgo

package main

import (
	"bufio"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/internal/bench"

	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/peer"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMutexCLI(t *testing.T) {
	n := testutil.Name("climutex")
	t.Cleanup(func() { shm.Unlink(n) })
	require.Equal(t, 0, cli(t, "", "shm", "create", n, "--size", "4096", "--excl").code)

	r := cli(t, "", "mutex", "init", n, "--offset", "0")
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, "", "mutex", "state", n, "--offset", "0")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "unlocked (errorcheck, robust)\n", r.stdout)
	r = cli(t, "", "mutex", "lock", n, "--offset", "0", "--hold", "10ms")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "", r.stdout)

	// Usage and input errors.
	assert.Equal(t, 2, cli(t, "", "mutex", "lock", n).code, "no --offset")
	assert.Equal(t, 2, cli(t, "", "mutex", "frob", n, "--offset", "0").code)
	assert.Equal(t, 2, cli(t, "", "mutex", "init", n, "--offset", "0", "--type", "weird").code)
	r = cli(t, "", "mutex", "lock", n, "--offset", "4")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "alignment")
	r = cli(t, "", "mutex", "state", n, "--offset", "512")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "not an initialised process-shared mutex")
	assert.Equal(t, 1, cli(t, "", "mutex", "state", n+"-none", "--offset", "0").code)

	// A C peer holds it: --timeout expires with exit 75; then the peer is
	// killed and lock recovers it.
	cmd, err := peer.Command("pthreadpeer", "hold", n, "0")
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "locked\n", line)

	r = cli(t, "", "mutex", "state", n, "--offset", "0")
	assert.Contains(t, r.stdout, "locked by tid")
	r = cli(t, "", "mutex", "init", n, "--offset", "0")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "not re-initialising a mutex in use")
	t0 := time.Now()
	r = cli(t, "", "mutex", "lock", n, "--offset", "0", "--timeout", "100ms")
	assert.Equal(t, 75, r.code, r.stderr)
	assert.GreaterOrEqual(t, time.Since(t0), 100*time.Millisecond)

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()
	r = cli(t, "", "mutex", "state", n, "--offset", "0")
	assert.True(t, strings.HasPrefix(r.stdout, "unlocked, owner died (the next lock recovers it) (errorcheck, robust"), r.stdout)
	r = cli(t, "", "mutex", "lock", n, "--offset", "0")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "owner died\n", r.stdout)
	r = cli(t, "", "mutex", "state", n, "--offset", "0", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.True(t, strings.HasPrefix(r.stdout, `{"locked":false,`), r.stdout)
	assert.Contains(t, r.stdout, `"owner_died":false`)
	r = cli(t, "", "mutex", "lock", n, "--offset", "0", "--timeout", "1s")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "", r.stdout, "consistent again")

	require.Equal(t, 0, cli(t, "", "shm", "rm", n).code)
}

func TestMutexDemoStep(t *testing.T) {
	var step *demoStep
	for i := range demoSteps {
		if demoSteps[i].order == 40 {
			step = &demoSteps[i]
		}
	}
	require.NotNil(t, step)
	var lines []string
	require.NoError(t, step.run(func(f string, a ...any) { lines = append(lines, f) }))
	assert.NotEmpty(t, lines)
}

func TestCLIBenchPthread(t *testing.T) {
	r := cli(t, "", "bench", "--json", "--only", "pthread", "--rounds", "1", "--block", "20")
	require.Equal(t, 0, r.code, r.stderr)
	var rep bench.Report
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	configs := map[string]bench.Row{}
	for _, row := range rep.RoundTrips {
		configs[row.Config] = row
		assert.Equal(t, "pthread", row.Primitive)
		assert.Equal(t, int64(20), row.N)
		assert.Greater(t, row.P50, 0.0)
	}
	for _, c := range []string{"c-c", "go-c", "go-go", "cgo"} {
		require.Contains(t, configs, c)
	}
}
