//go:build linux && cgo

// Package bench is the benchmark lab behind `posixipc bench`: the harness
// (interleaved rounds, a log-linear histogram, ratios to C and to the plain
// blocking cgo baseline), the report and its chart, and one file per
// facility with its set-ups (c-c, go-c, go-go, cgo) and Go echo peers. The
// peers run as `posixipc bench-peer KIND` (Peer), so the lab is used
// through the CLI binary; cmd/posixipc keeps thin commands.
package bench

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/internal/procstat"
)

// A benchmark report compares, for every primitive, round trips between two
// processes in several set-ups, run interleaved (A B C D A B C D ...) so
// that machine drift falls on all of them alike:
//
//	c-c    the C peer of crt/ against itself: the reference
//	go-c   this module against the C peer
//	go-go  this module on both sides (the other side a `posixipc bench-peer` process)
//	cgo    plain blocking cgo calls on both sides, as existing Go bindings do
//	       it: one blocking C call per operation, no thread bound, no cancellation
//
// Facilities add their primitives from init with addBench.

// benchConfig is one set-up of a primitive.
type benchConfig struct {
	label string
	// block runs k round trips and returns each one's latency.
	block func(k int) ([]time.Duration, error)
}

// benchThroughput is one streaming set-up: it moves bytes one way and
// returns how many in what time.
type benchThroughput struct {
	label string
	run   func(quick bool) (bytes int64, d time.Duration, err error)
}

// benchPrimitive is one primitive of the report.
type benchPrimitive struct {
	name  string // "mq", "sem", ...
	order int
	what  string // what one round trip is
	// setup starts the peers and returns the set-ups (in the order of the
	// table) and a cleanup that stops them and removes every object.
	setup func() (configs []benchConfig, stream []benchThroughput, cleanup func(), err error)
}

var benchPrims []benchPrimitive

func addBench(p benchPrimitive) { benchPrims = append(benchPrims, p) }

// benchPeers are the hidden `posixipc bench-peer KIND ARGS` servers: the Go
// side of go-go and cgo set-ups, run as separate processes.
var benchPeers = map[string]func(args []string) error{}

// Peer runs the hidden `posixipc bench-peer KIND ARGS` server KIND: the
// far side of a go-go or cgo set-up, in a process of its own.
func Peer(args []string) error {
	if len(args) == 0 {
		return usagef("bench-peer: missing kind")
	}
	f, ok := benchPeers[args[0]]
	if !ok {
		return usagef("bench-peer: unknown kind %q", args[0])
	}
	return f(args[1:])
}

// UsageError is an error in a bench command line (the CLI exits 2).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, a ...any) error { return &UsageError{fmt.Sprintf(format, a...)} }

// Stdout and Stderr are where the lab writes its report and its progress.
var (
	Stdout io.Writer = os.Stdout
	Stderr io.Writer = os.Stderr
)

// ParseFlags parses the flags of the lab's commands, which take no
// positional argument. The CLI sets it to its own parser, so that --help
// and errors read as for every other command.
var ParseFlags = func(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// selfCmd returns a command that runs this executable with args.
func selfCmd(args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return exec.Command(exe, args...), nil
}

// histogram is a log-linear histogram of durations: 64 sub-buckets per
// power of two, so a percentile is exact to within about 1.1%.
type histogram struct {
	counts map[int]int64
	n      int64
}

const histSub = 64

func bucketOf(ns int64) int {
	if ns < histSub {
		return int(ns)
	}
	e := 63 - bits.LeadingZeros64(uint64(ns)) // floor(log2)
	shift := e - 6                            // keep 6 bits of mantissa below the top bit
	return (shift+1)*histSub + int(ns>>uint(shift)) - histSub
}

func lowerOf(b int) int64 {
	if b < histSub {
		return int64(b)
	}
	shift := b/histSub - 1
	m := int64(b%histSub + histSub)
	return m << uint(shift)
}

func (h *histogram) add(d time.Duration) {
	if h.counts == nil {
		h.counts = map[int]int64{}
	}
	ns := d.Nanoseconds()
	if ns < 0 {
		ns = 0
	}
	h.counts[bucketOf(ns)]++
	h.n++
}

// quantile returns the midpoint of the bucket holding quantile q.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	keys := make([]int, 0, len(h.counts))
	for k := range h.counts {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	target := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for _, k := range keys {
		seen += h.counts[k]
		if seen >= target {
			lo, hi := lowerOf(k), lowerOf(k+1)
			return time.Duration((lo + hi) / 2)
		}
	}
	return time.Duration(lowerOf(keys[len(keys)-1]))
}

// Row is one line of the report.
type Row struct {
	Primitive string  `json:"primitive"`
	Config    string  `json:"config"`
	What      string  `json:"what"`
	N         int64   `json:"n"`
	P50       float64 `json:"p50_ns"`
	P99       float64 `json:"p99_ns"`
	P999      float64 `json:"p999_ns"`
	P50VsC    float64 `json:"p50_vs_c,omitempty"`   // p50 / c-c p50
	P99VsC    float64 `json:"p99_vs_c,omitempty"`   // p99 / c-c p99
	P50VsCgo  float64 `json:"p50_vs_cgo,omitempty"` // p50 / cgo p50
}

// ThroughputRow is one streaming result.
type ThroughputRow struct {
	Primitive string  `json:"primitive"`
	Config    string  `json:"config"`
	MBps      float64 `json:"mb_per_s"`
	VsC       float64 `json:"vs_c,omitempty"`
}

// Report is the whole report (`posixipc bench --json`).
type Report struct {
	When       string          `json:"when"`
	GoVersion  string          `json:"go_version"`
	CPUs       int             `json:"cpus"`
	Quick      bool            `json:"quick"`
	NoopCgoNs  float64         `json:"noop_cgo_ns"`
	Threads    int             `json:"os_threads"`
	RoundTrips []Row           `json:"round_trips"`
	Throughput []ThroughputRow `json:"throughput"`
	Skipped    []string        `json:"skipped,omitempty"`
}

func noopCost() float64 {
	const n = 200000
	t0 := time.Now()
	for i := 0; i < n; i++ {
		posixipc.Noop()
	}
	return float64(time.Since(t0).Nanoseconds()) / n
}

// Run is `posixipc bench`: it runs the primitives' set-ups interleaved and
// prints the report (a table, or with --json one JSON object).
func Run(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	quick := fs.Bool("quick", false, "fewer round trips: finishes in under a minute")
	only := fs.String("only", "", "comma-separated primitives to run (default: all)")
	rounds := fs.Int("rounds", 0, "interleaved rounds (default 20, 6 with --quick)")
	block := fs.Int("block", 0, "round trips per set-up and round (default 500, 150 with --quick)")
	if err := ParseFlags(fs, args); err != nil {
		return err
	}
	if *rounds == 0 {
		*rounds = 20
		if *quick {
			*rounds = 6
		}
	}
	if *block == 0 {
		*block = 500
		if *quick {
			*block = 150
		}
	}
	if *rounds < 1 || *block < 1 {
		return usagef("--rounds and --block must be positive")
	}
	want := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		if s != "" {
			want[s] = true
		}
	}
	sort.SliceStable(benchPrims, func(i, j int) bool { return benchPrims[i].order < benchPrims[j].order })
	rep := Report{When: time.Now().UTC().Format(time.RFC3339), GoVersion: runtime.Version(),
		CPUs: runtime.NumCPU(), Quick: *quick, NoopCgoNs: noopCost()}
	for _, p := range benchPrims {
		if len(want) > 0 && !want[p.name] {
			continue
		}
		rows, tput, err := benchOne(p, *rounds, *block, *quick)
		if err != nil {
			rep.Skipped = append(rep.Skipped, p.name+": "+err.Error())
			fmt.Fprintf(Stderr, "\rbench %s: %v\n", p.name, err)
			continue
		}
		rep.RoundTrips = append(rep.RoundTrips, rows...)
		rep.Throughput = append(rep.Throughput, tput...)
	}
	rep.Threads = procstat.Threads()
	fmt.Fprintf(Stderr, "\r%-70s\r", "")
	if *asJSON {
		enc := json.NewEncoder(Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printReport(rep)
	return nil
}

// warmup is how long each block is preceded by unmeasured round trips of
// its own set-up, so that the block measures a set-up that is running,
// not one waking from idle: after the process was idle (while the other
// set-ups ran), the Go runtime's sysmon thread polls every 20 µs for
// about a millisecond before it backs off to 10 ms, and on a machine with
// no idle CPU each poll preempts the pinned client (20–60 µs round trips
// on this 2-CPU VM; the ring's 500-round-trip block lasts 0.35 ms, so that
// start-up was its whole p99). The README reports the start-up apart.
const warmup = 10 * time.Millisecond

// warm runs round trips of c for at least d (in blocks of up to block).
func warm(c benchConfig, block int, d time.Duration) error {
	t0 := time.Now()
	for k := min(block, 50); time.Since(t0) < d; k = min(2*k, block) {
		if _, err := c.block(k); err != nil {
			return err
		}
	}
	return nil
}

func benchOne(p benchPrimitive, rounds, block int, quick bool) ([]Row, []ThroughputRow, error) {
	configs, stream, cleanup, err := p.setup()
	if err != nil {
		return nil, nil, err
	}
	defer cleanup()
	hists := make([]histogram, len(configs))
	for _, c := range configs { // warm up every path
		if _, err := c.block(min(block, 50)); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", c.label, err)
		}
	}
	for r := 0; r < rounds; r++ {
		for i, c := range configs {
			fmt.Fprintf(Stderr, "\rbench %-11s round %2d/%d  %-6s", p.name, r+1, rounds, c.label)
			if err := warm(c, block, warmup); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", c.label, err)
			}
			lats, err := c.block(block)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", c.label, err)
			}
			for _, l := range lats {
				hists[i].add(l)
			}
		}
	}
	var rows []Row
	var cRow, cgoRow *Row
	for i, c := range configs {
		h := &hists[i]
		rows = append(rows, Row{Primitive: p.name, Config: c.label, What: p.what, N: h.n,
			P50: float64(h.quantile(0.50)), P99: float64(h.quantile(0.99)), P999: float64(h.quantile(0.999))})
	}
	for i := range rows {
		switch rows[i].Config {
		case "c-c":
			cRow = &rows[i]
		case "cgo":
			cgoRow = &rows[i]
		}
	}
	for i := range rows {
		if cRow != nil && rows[i].Config != "c-c" {
			rows[i].P50VsC = rows[i].P50 / cRow.P50
			rows[i].P99VsC = rows[i].P99 / cRow.P99
		}
		if cgoRow != nil && rows[i].Config != "cgo" && rows[i].Config != "c-c" {
			rows[i].P50VsCgo = rows[i].P50 / cgoRow.P50
		}
	}
	// Streams: reps interleaved rounds of every set-up; a row's rate is
	// its median round, its ratio the median of its rounds' ratios to the
	// C→C stream of the same round (so a drift of the machine between
	// rounds falls on both sides of each ratio).
	reps := 5
	if quick {
		reps = 3
	}
	mbps := make([][]float64, len(stream))
	ci := -1
	for r := 0; r < reps; r++ {
		for i, s := range stream {
			fmt.Fprintf(Stderr, "\rbench %-11s stream %d/%d  %-6s", p.name, r+1, reps, s.label)
			n, d, err := s.run(quick)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", s.label, err)
			}
			mbps[i] = append(mbps[i], float64(n)/d.Seconds()/1e6)
			if s.label == "c-c" {
				ci = i
			}
		}
	}
	var tput []ThroughputRow
	for i, s := range stream {
		row := ThroughputRow{Primitive: p.name, Config: s.label, MBps: median(mbps[i])}
		if ci >= 0 && i != ci {
			ratios := make([]float64, reps)
			for r := range ratios {
				ratios[r] = mbps[i][r] / mbps[ci][r]
			}
			row.VsC = median(ratios)
		}
		tput = append(tput, row)
	}
	return rows, tput, nil
}

// median returns the middle of v (of an even count, the mean of the two
// middle ones), leaving v as it is.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	sort.Float64s(v)
	if m := len(v) / 2; len(v)%2 == 0 {
		return (v[m-1] + v[m]) / 2
	} else {
		return v[m]
	}
}

func us(ns float64) string { return strconv.FormatFloat(ns/1000, 'f', 1, 64) }

func ratio(r float64) string {
	if r == 0 {
		return "-"
	}
	return strconv.FormatFloat(r, 'f', 2, 64) + "x"
}

func printReport(rep Report) {
	w := Stdout
	fmt.Fprintf(w, "posixipc bench  %s  %s  %d CPUs%s\n", rep.When, rep.GoVersion, rep.CPUs, map[bool]string{true: "  (quick)"}[rep.Quick])
	fmt.Fprintf(w, "floor: one no-op cgo call = %.0f ns; OS threads in use at the end: %d\n\n", rep.NoopCgoNs, rep.Threads)
	fmt.Fprintf(w, "round trips between two processes (µs; ratios of p50 and p99 to C↔C, of p50 to the plain blocking cgo baseline)\n")
	fmt.Fprintf(w, "%-11s %-6s %8s %8s %8s %8s %8s %9s %s\n", "PRIM", "SETUP", "p50", "p99", "p99.9", "p50/C", "p99/C", "p50/cgo", "N")
	for _, r := range rep.RoundTrips {
		fmt.Fprintf(w, "%-11s %-6s %8s %8s %8s %8s %8s %9s %d\n", r.Primitive, r.Config, us(r.P50), us(r.P99), us(r.P999),
			ratio(r.P50VsC), ratio(r.P99VsC), ratio(r.P50VsCgo), r.N)
	}
	if len(rep.Throughput) > 0 {
		fmt.Fprintf(w, "\nstreaming throughput (MB/s; ratio to C→C)\n")
		for _, t := range rep.Throughput {
			fmt.Fprintf(w, "%-11s %-6s %10.1f %8s\n", t.Primitive, t.Config, t.MBps, ratio(t.VsC))
		}
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(w, "skipped: %s\n", s)
	}
}

// benchCleanup collects cleanups; run runs them in reverse order, once.
type benchCleanup struct {
	once sync.Once
	fns  []func()
}

func (c *benchCleanup) add(f func()) { c.fns = append(c.fns, f) }

func (c *benchCleanup) run() {
	c.once.Do(func() {
		for i := len(c.fns) - 1; i >= 0; i-- {
			c.fns[i]()
		}
	})
}

// fourServers starts the servers of a pair set-up, in the order its rows
// are reported: "cc" and "gc" around cServer (the C peer; C and Go clients),
// "gg" around goPeer (this binary's Go peer), "raw" around rawPeer (its
// plain-cgo peer). start makes one pair (its objects and its server); each
// started pair's stop goes to cl, so a failure half-way leaves nothing.
func fourServers[P interface{ stop() }, F any](cl *benchCleanup, start func(tag string, server F) (P, error), cServer, goPeer, rawPeer F) (ps [4]P, err error) {
	for i, server := range []F{cServer, cServer, goPeer, rawPeer} {
		p, err := start([]string{"cc", "gc", "gg", "raw"}[i], server)
		if err != nil {
			return ps, err
		}
		cl.add(p.stop)
		ps[i] = p
	}
	return ps, nil
}
