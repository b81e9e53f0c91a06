//go:build linux && cgo

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posixipc/posixipc/internal/bench"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// benchJSON runs `posixipc bench --json --quick --rounds 1 --block 10` for
// the named primitives and decodes the report.
func benchJSON(t *testing.T, only string) bench.Report {
	t.Helper()
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "posixipc-bench-*"))
	r := cli(t, "", "bench", "--json", "--quick", "--only", only, "--rounds", "1", "--block", "10")
	require.Equal(t, 0, r.code, r.stderr)
	var rep bench.Report
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	after, _ := filepath.Glob(filepath.Join(os.TempDir(), "posixipc-bench-*"))
	assert.ElementsMatch(t, before, after, "bench left temporary files or FIFOs behind")
	return rep
}

// checkRoundTrips asserts every set-up has a row of block round trips with
// percentiles, and the ratios to C and to the blocking baseline.
func checkRoundTrips(t *testing.T, rep bench.Report, prim string) {
	t.Helper()
	rows := map[string]bench.Row{}
	for _, row := range rep.RoundTrips {
		require.Equal(t, prim, row.Primitive)
		rows[row.Config] = row
		assert.Equal(t, int64(10), row.N, row.Config)
		assert.Greater(t, row.P50, 0.0, row.Config)
		assert.GreaterOrEqual(t, row.P99, row.P50, row.Config)
		assert.GreaterOrEqual(t, row.P999, row.P99, row.Config)
	}
	for _, c := range []string{"c-c", "go-c", "go-go", "cgo"} {
		require.Contains(t, rows, c)
	}
	for _, c := range []string{"go-c", "go-go", "cgo"} {
		assert.Greater(t, rows[c].P50VsC, 0.0, c)
		assert.Greater(t, rows[c].P99VsC, 0.0, c)
	}
	for _, c := range []string{"go-c", "go-go"} {
		assert.Greater(t, rows[c].P50VsCgo, 0.0, c)
	}
}

// checkStreams asserts the streams are there, in order, with the ratio to C.
func checkStreams(t *testing.T, rep bench.Report, prim string, labels ...string) {
	t.Helper()
	var got []string
	for _, s := range rep.Throughput {
		if s.Primitive != prim {
			continue
		}
		got = append(got, s.Config)
		assert.Greater(t, s.MBps, 0.0, s.Config)
		if s.Config != "c-c" {
			assert.Greater(t, s.VsC, 0.0, s.Config)
		}
	}
	assert.Equal(t, labels, got)
}

func TestCLIBenchFIFO(t *testing.T) {
	rep := benchJSON(t, "fifo,fifo-1m")
	assert.Empty(t, rep.Skipped)
	checkRoundTrips(t, rep, "fifo")
	checkStreams(t, rep, "fifo", "c-c", "go-c", "c-go")
	checkStreams(t, rep, "fifo-1m", "c-c", "go-c", "c-go")
}

func TestCLIBenchFlock(t *testing.T) {
	rep := benchJSON(t, "flock")
	assert.Empty(t, rep.Skipped)
	checkRoundTrips(t, rep, "flock")
	assert.Empty(t, rep.Throughput)
}

// popen has no round trip (the report says why) and streams both ways.
func TestCLIBenchPopen(t *testing.T) {
	rep := benchJSON(t, "popen,popen-w")
	assert.Empty(t, rep.RoundTrips)
	require.Len(t, rep.Skipped, 1)
	assert.True(t, strings.HasPrefix(rep.Skipped[0], "popen: round trip not applicable"), rep.Skipped[0])
	checkStreams(t, rep, "popen", "c-c", "c-go")
	checkStreams(t, rep, "popen-w", "c-c", "go-c")
}

func TestCLIBenchPty(t *testing.T) {
	rep := benchJSON(t, "pty")
	assert.Empty(t, rep.Skipped)
	checkRoundTrips(t, rep, "pty")
	assert.Empty(t, rep.Throughput)
}
