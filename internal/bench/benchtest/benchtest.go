//go:build linux && cgo

// Package benchtest runs the benchmark lab's round-trip set-ups
// (internal/bench) as testing.B benchmarks, so the binding packages'
// `go test -bench` measures exactly what `posixipc bench` does. It is apart
// from internal/bench because it imports testing, which the CLI must not
// link.
package benchtest

import (
	"testing"
	"time"

	"github.com/posixipc/posixipc/internal/bench"
)

// untimedPerChunk caps the round trips per chunk of the set-ups that only
// give a metric and are far slower than go-c: the ring's blocking-only
// rows, iceoryx and the queue beside it (4 to 70 µs a round trip where the
// ring's go-c takes 1). The others run as many as go-c, so that all run in
// the same regime.
const untimedPerChunk = 2000

var slow = map[string]bool{"cc-blk": true, "gg-blk": true, "iox": true, "mq-c-c": true}

// RoundTrips benchmarks primitive name: ns/op is the go-c set-up (Go
// against a C peer), and the run interleaves every set-up in 8 chunks and
// reports each one's ns per round trip ("c-c-ns/rt", ...) and the ratios
// of go-c and go-go to the plain blocking cgo baseline.
func RoundTrips(b *testing.B, name string) {
	cfgs, cleanup, err := bench.Setup(name)
	if err != nil {
		b.Fatal(err)
	}
	defer cleanup()
	for _, c := range cfgs { // warm every path
		if _, err := c.Block(50); err != nil {
			b.Fatalf("%s: %v", c.Label, err)
		}
	}
	total := map[string]time.Duration{}
	count := map[string]int{}
	const rounds = 8
	chunk := max(b.N/rounds, 1)
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(chunk, b.N-done)
		for _, c := range cfgs {
			timed := c.Label == "go-c"
			k := n
			if !timed {
				b.StopTimer()
			}
			if slow[c.Label] {
				// A metric only, and 60 times slower than go-c: enough
				// round trips for a mean, not b.N of them.
				k = min(n, untimedPerChunk)
			}
			lats, err := c.Block(k)
			if !timed {
				b.StartTimer()
			}
			if err != nil {
				b.Fatalf("%s: %v", c.Label, err)
			}
			for _, l := range lats {
				total[c.Label] += l
			}
			count[c.Label] += len(lats)
		}
		done += n
	}
	b.StopTimer()
	ns := map[string]float64{}
	for l, t := range total {
		ns[l] = float64(t) / float64(max(count[l], 1))
		b.ReportMetric(ns[l], l+"-ns/rt")
	}
	if c := ns["cgo"]; c > 0 {
		b.ReportMetric(ns["go-c"]/c, "go-c/cgo")
		b.ReportMetric(ns["go-go"]/c, "go-go/cgo")
	}
}

// Streams benchmarks the streaming set-ups of primitive name: each runs b.N
// times (quick ones), ns/op is the go-c one's time per run, and the
// metrics are each set-up's MB/s ("c-c-MB/s", ...) and its ratio to C→C.
func Streams(b *testing.B, name string) {
	ss, cleanup, err := bench.SetupStreams(name)
	if err != nil {
		b.Fatal(err)
	}
	defer cleanup()
	bytes := map[string]int64{}
	took := map[string]time.Duration{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, s := range ss {
			timed := s.Label == "go-c"
			if !timed {
				b.StopTimer()
			}
			n, d, err := s.Run(true)
			if !timed {
				b.StartTimer()
			}
			if err != nil {
				b.Fatalf("%s: %v", s.Label, err)
			}
			bytes[s.Label] += n
			took[s.Label] += d
		}
	}
	b.StopTimer()
	mb := map[string]float64{}
	for l, n := range bytes {
		if took[l] > 0 {
			mb[l] = float64(n) / took[l].Seconds() / 1e6
			b.ReportMetric(mb[l], l+"-MB/s")
		}
	}
	if c := mb["c-c"]; c > 0 {
		for l, v := range mb {
			if l != "c-c" {
				b.ReportMetric(v/c, l+"/c-c")
			}
		}
	}
}
