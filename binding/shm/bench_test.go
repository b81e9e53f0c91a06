//go:build linux && cgo

package shm_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkCopy copies a 1 MiB segment to private memory: ns/op and MB/s are
// Go's copy from Bytes; readat-ns is the fault-safe ReadAt; c-ns is memcpy in
// the C peer (shmpeer memcpy) over its own mapping of the same object, run
// right after; the ratios compare them.
func BenchmarkCopy(b *testing.B) {
	const size = 1 << 20
	s, n := create(b, size)
	for i := range s.Bytes() {
		s.Bytes()[i] = byte(i)
	}
	buf := make([]byte, size)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(buf, s.Bytes())
	}
	b.StopTimer()
	goNs := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := s.ReadAt(buf, 0); err != nil {
			b.Fatal(err)
		}
	}
	raNs := float64(time.Since(t0).Nanoseconds()) / float64(b.N)
	out, err := runPeer(b, "memcpy", n, strconv.Itoa(max(b.N, 100)))
	require.NoError(b, err)
	cNs, err := strconv.ParseFloat(strings.TrimSpace(out), 64)
	require.NoError(b, err)
	b.ReportMetric(raNs, "readat-ns")
	b.ReportMetric(cNs, "c-ns")
	b.ReportMetric(goNs/cNs, "go/c")
	b.ReportMetric(raNs/cNs, "readat/c")
}
