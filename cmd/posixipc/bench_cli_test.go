//go:build linux && cgo

package main

import (
	"encoding/json"
	"testing"

	"github.com/posixipc/posixipc/internal/bench"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCLIBenchJSON(t *testing.T) {
	r := cli(t, "", "bench", "--json", "--only", "mq", "--rounds", "1", "--block", "20")
	require.Equal(t, 0, r.code, r.stderr)
	var rep bench.Report
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	assert.Greater(t, rep.NoopCgoNs, 0.0)
	assert.Greater(t, rep.Threads, 0)
	assert.Empty(t, rep.Skipped)
	configs := map[string]bench.Row{}
	for _, row := range rep.RoundTrips {
		configs[row.Config] = row
		assert.Equal(t, "mq", row.Primitive)
		assert.Equal(t, int64(20), row.N)
		assert.Greater(t, row.P50, 0.0)
		assert.GreaterOrEqual(t, row.P99, row.P50)
	}
	for _, c := range []string{"c-c", "go-c", "go-go", "cgo"} {
		require.Contains(t, configs, c)
	}
	assert.Greater(t, configs["go-go"].P50VsC, 0.0)
	assert.Greater(t, configs["go-go"].P50VsCgo, 0.0)
	require.Len(t, rep.Throughput, 4)
	assert.Greater(t, rep.Throughput[1].VsC, 0.0)
}
