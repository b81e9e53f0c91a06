//go:build linux && cgo

package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/posixipc/posixipc/binding/popen"
	"github.com/posixipc/posixipc/internal/peer"
)

// The popen primitives: streaming throughput through a popen(3) pipe, with
// glibc's popen on both sides of the comparison.
//
//	popen    mode "r": a C producer (crt/popenpeer write) read by C (popen +
//	         read(2) on fileno, crt/popenpeer bench: c-c) and by binding/popen
//	         (the runtime poller on a duplicate of the descriptor: c-go)
//	popen-w  mode "w": C (crt/popenpeer benchw: c-c) and binding/popen (go-c)
//	         write into a C consumer (crt/popenpeer sink), which times it
//
// Every figure is timed from the first read's return to EOF (the start-up of
// /bin/sh and of the peer is not counted); reads and writes are 64 KiB on
// every side.
//
// No round trip: a popen pipe goes one way (mode r or w, never both), so a
// round trip would need a second channel and would measure that channel. The
// report says so in its skipped list (the fifo primitive is the pipe round
// trip).

const popenBlock = 65536

func init() {
	addBench(benchPrimitive{name: "popen", order: 59, setup: func() ([]benchConfig, []benchThroughput, func(), error) {
		return nil, nil, nil, errors.New("round trip not applicable: a popen pipe goes one way (r or w); throughput below, see fifo for a pipe round trip")
	}})
	addBench(benchPrimitive{name: "popen", order: 60, what: "stream from a popen(\"r\") C producer", setup: benchPopenRead})
	addBench(benchPrimitive{name: "popen-w", order: 61, what: "stream into a popen(\"w\") C consumer", setup: benchPopenWrite})
}

func popenBytes(quick bool) int64 {
	if quick {
		return 32 << 20
	}
	return 128 << 20
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func benchPopenRead() ([]benchConfig, []benchThroughput, func(), error) {
	self, err := peer.Path("popenpeer")
	if err != nil {
		return nil, nil, nil, err
	}
	buf := make([]byte, popenBlock)
	return nil, []benchThroughput{
		{label: "c-c", run: func(quick bool) (int64, time.Duration, error) {
			total := popenBytes(quick)
			return medianRun(quick, func() (int64, time.Duration, error) {
				out, err := peer.Output("popenpeer", "bench", strconv.FormatInt(total, 10), strconv.Itoa(popenBlock))
				if err != nil {
					return 0, 0, err
				}
				var got, ns, timed int64
				if _, err := fmt.Sscan(out, &got, &ns, &timed); err != nil || got != total || ns <= 0 {
					return 0, 0, fmt.Errorf("popenpeer bench: %q", out)
				}
				return timed, time.Duration(ns), nil
			})
		}},
		{label: "c-go", run: func(quick bool) (int64, time.Duration, error) {
			total := popenBytes(quick)
			return medianRun(quick, func() (int64, time.Duration, error) {
				p, err := popen.Open(fmt.Sprintf("exec %s write %d %d", shellQuote(self), total, popenBlock), "re")
				if err != nil {
					return 0, 0, err
				}
				var got, timed int64
				var t0 time.Time
				for {
					n, err := p.Read(buf)
					if n > 0 {
						if got == 0 {
							t0 = time.Now()
						} else {
							timed += int64(n)
						}
						got += int64(n)
					}
					if err == io.EOF {
						break
					}
					if err != nil {
						p.Close()
						return 0, 0, err
					}
				}
				d := time.Since(t0)
				if err := p.Close(); err != nil {
					return 0, 0, err
				}
				if got != total {
					return 0, 0, fmt.Errorf("popen: read %d of %d bytes", got, total)
				}
				return timed, d, nil
			})
		}},
	}, func() {}, nil
}

func benchPopenWrite() ([]benchConfig, []benchThroughput, func(), error) {
	self, err := peer.Path("popenpeer")
	if err != nil {
		return nil, nil, nil, err
	}
	dir, err := os.MkdirTemp("", "posixipc-bench-popen-")
	if err != nil {
		return nil, nil, nil, err
	}
	result := filepath.Join(dir, "sink.out")
	// sinkResult reads what the sink wrote: "BYTES NANOSECONDS".
	sinkResult := func(total int64) (int64, time.Duration, error) {
		b, err := os.ReadFile(result)
		if err != nil {
			return 0, 0, err
		}
		os.Remove(result)
		var n, ns int64
		if _, err := fmt.Sscan(string(b), &n, &ns); err != nil || n <= 0 || n > total || ns <= 0 {
			return 0, 0, fmt.Errorf("popenpeer sink: %q", b)
		}
		return n, time.Duration(ns), nil
	}
	buf := make([]byte, popenBlock)
	for i := range buf {
		buf[i] = byte('a' + i%26)
	}
	return nil, []benchThroughput{
		{label: "c-c", run: func(quick bool) (int64, time.Duration, error) {
			total := popenBytes(quick)
			return medianRun(quick, func() (int64, time.Duration, error) {
				if _, err := peer.Output("popenpeer", "benchw", strconv.FormatInt(total, 10), strconv.Itoa(popenBlock), result); err != nil {
					return 0, 0, err
				}
				return sinkResult(total)
			})
		}},
		{label: "go-c", run: func(quick bool) (int64, time.Duration, error) {
			total := popenBytes(quick)
			return medianRun(quick, func() (int64, time.Duration, error) {
				p, err := popen.Open(fmt.Sprintf("exec %s sink %s", shellQuote(self), shellQuote(result)), "we")
				if err != nil {
					return 0, 0, err
				}
				for left := total; left > 0; {
					n := min(left, int64(len(buf)))
					if _, err := p.Write(buf[:n]); err != nil {
						p.Close()
						return 0, 0, err
					}
					left -= n
				}
				if err := p.Close(); err != nil {
					return 0, 0, err
				}
				return sinkResult(total)
			})
		}},
	}, func() { os.RemoveAll(dir) }, nil
}
