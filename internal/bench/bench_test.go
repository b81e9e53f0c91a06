//go:build linux && cgo

package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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

// TestMedian: the middle value (odd count), the mean of the two middle
// ones (even), 0 for none; the argument is left unsorted (the streams pair
// their rounds by index after taking a median).
func TestMedian(t *testing.T) {
	v := []float64{5, 1, 3}
	assert.Equal(t, 3.0, median(v))
	assert.Equal(t, []float64{5, 1, 3}, v)
	assert.Equal(t, 2.5, median([]float64{4, 1, 2, 3}))
	assert.Zero(t, median(nil))
}
