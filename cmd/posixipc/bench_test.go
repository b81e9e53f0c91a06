//go:build linux && cgo

package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {0.999, 999 * time.Microsecond}} {
		got := h.quantile(c.q)
		assert.InEpsilon(t, float64(c.want), float64(got), 0.02, "q%.3f: %v", c.q, got)
	}
	var small histogram
	small.add(3)
	assert.Equal(t, time.Duration(3), small.quantile(0.5))
	var empty histogram
	assert.Zero(t, empty.quantile(0.5))
}

// The report runs end to end (tiny sizes) and every primitive it names has
// the C reference and ratios.
func TestCLIBenchJSON(t *testing.T) {
	r := cli(t, "", "bench", "--json", "--only", "mq", "--rounds", "1", "--block", "20")
	require.Equal(t, 0, r.code, r.stderr)
	var rep benchReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	assert.Greater(t, rep.NoopCgoNs, 0.0)
	assert.Greater(t, rep.Threads, 0)
	assert.Empty(t, rep.Skipped)
	configs := map[string]benchRow{}
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
