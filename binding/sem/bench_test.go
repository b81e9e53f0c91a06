//go:build linux && cgo

package sem_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/binding/sem"
	"github.com/posixipc/posixipc/internal/peer"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/require"
)

// pair is two named semaphores: the pinger posts a and waits b.
type pair struct{ a, b string }

func newPair(b *testing.B) pair {
	p := pair{testutil.Name("ping"), testutil.Name("pong")}
	for _, n := range []string{p.a, p.b} {
		s, err := sem.Open(n, os.O_CREATE|os.O_EXCL, 0o600, 0)
		require.NoError(b, err)
		s.Close()
		n := n
		b.Cleanup(func() { sem.Unlink(n) })
	}
	return p
}

// startPonger starts cmd (a process that prints "ready" then pongs forever)
// and kills it at cleanup.
func startPonger(b *testing.B, cmd *exec.Cmd) {
	out, err := cmd.StdoutPipe()
	require.NoError(b, err)
	require.NoError(b, cmd.Start())
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(b, err)
	require.Equal(b, "ready\n", line)
}

func cPonger(b *testing.B, p pair) {
	cmd, err := peer.Command("sempeer", "pong", p.a, p.b)
	require.NoError(b, err)
	startPonger(b, cmd)
}

// BenchmarkPingPong measures one round trip (post, then wait for the
// answer) between two processes. ns/op is Go (binding/sem, Background
// context) against a C peer; interleaved in the same run, in chunks, it also
// measures a plain blocking cgo sem_wait against a C peer (the baseline),
// binding/sem with a cancellable context, C against C (sempeer against
// itself) and Go against Go (this test binary re-executed), and reports
// each as ns per round trip and as ratios.
func BenchmarkPingPong(b *testing.B) {
	pg, praw, pc, pgg := newPair(b), newPair(b), newPair(b), newPair(b)
	cPonger(b, pg)
	cPonger(b, praw)
	cPonger(b, pc)
	exe, err := os.Executable()
	require.NoError(b, err)
	gg := exec.Command(exe)
	gg.Env = testutil.HelperEnv("pong", pgg.a, pgg.b)
	startPonger(b, gg)

	open := func(n string) *sem.Sem {
		s, err := sem.Open(n, 0, 0, 0)
		require.NoError(b, err)
		b.Cleanup(func() { s.Close() })
		return s
	}
	ga, gb := open(pg.a), open(pg.b)
	gga, ggb := open(pgg.a), open(pgg.b)
	ra, err := posixipc.SemOpen(praw.a, 0, 0, 0)
	require.NoError(b, err)
	rb, err := posixipc.SemOpen(praw.b, 0, 0, 0)
	require.NoError(b, err)
	defer posixipc.SemClose(ra)
	defer posixipc.SemClose(rb)
	bg := context.Background()
	cctx, cancel := context.WithCancel(bg)
	defer cancel()

	goPing := func(a, bb *sem.Sem, ctx context.Context, n int) time.Duration {
		t0 := time.Now()
		for i := 0; i < n; i++ {
			if err := a.Post(); err != nil {
				b.Fatal(err)
			}
			if err := bb.Wait(ctx); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	var tRaw, tCtx, tGG time.Duration
	var nsCC float64
	var nOther int
	const rounds = 8
	chunk := max(b.N/rounds, 1)
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(chunk, b.N-done)
		goPing(ga, gb, bg, n) // timed: ns/op
		done += n
		b.StopTimer()
		nOther += n
		t0 := time.Now()
		for i := 0; i < n; i++ {
			posixipc.SemPost(ra)
			for posixipc.SemWait(rb) != nil {
			}
		}
		tRaw += time.Since(t0)
		tCtx += goPing(ga, gb, cctx, n)
		tGG += goPing(gga, ggb, bg, n)
		out, err := exec.Command(mustPeer(b), "ping", pc.a, pc.b, strconv.Itoa(n)).Output()
		require.NoError(b, err)
		v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
		require.NoError(b, err)
		nsCC += v * float64(n)
		b.StartTimer()
	}
	b.StopTimer()
	goNs := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(nOther) }
	cc := nsCC / float64(nOther)
	b.ReportMetric(per(tRaw), "cgo-ns/rt")
	b.ReportMetric(per(tCtx), "goctx-ns/rt")
	b.ReportMetric(cc, "c-c-ns/rt")
	b.ReportMetric(per(tGG), "go-go-ns/rt")
	b.ReportMetric(goNs/per(tRaw), "go/cgo")
	b.ReportMetric(per(tCtx)/per(tRaw), "goctx/cgo")
	b.ReportMetric(goNs/cc, "go/c-c")
	b.ReportMetric(per(tGG)/cc, "go-go/c-c")
}

func mustPeer(b *testing.B) string {
	p, err := peer.Path("sempeer")
	require.NoError(b, err)
	return p
}

func benchSem(b *testing.B) *sem.Sem {
	n := testutil.Name("bench")
	s, err := sem.Open(n, os.O_CREATE|os.O_EXCL, 0o600, 0)
	require.NoError(b, err)
	b.Cleanup(func() { s.Close(); sem.Unlink(n) })
	return s
}

// noopNs measures posixipc.Noop (an empty cgo call) over n calls.
func noopNs(n int) float64 {
	t0 := time.Now()
	for i := 0; i < n; i++ {
		posixipc.Noop()
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

// BenchmarkPostWait is one uncontended Post and Wait (Background context),
// reported next to an empty cgo call (noop-ns) and a raw sem_post+sem_trywait
// through cgo (raw-ns).
func BenchmarkPostWait(b *testing.B) {
	s := benchSem(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Post()
		s.Wait(ctx)
	}
	b.StopTimer()
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	raw, err := posixipc.SemOpen(s.Name(), 0, 0, 0)
	require.NoError(b, err)
	defer posixipc.SemClose(raw)
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		posixipc.SemPost(raw)
		posixipc.SemTryWait(raw)
	}
	rawNs := float64(time.Since(t0).Nanoseconds()) / float64(b.N)
	noop := noopNs(b.N)
	b.ReportMetric(noop, "noop-ns")
	b.ReportMetric(rawNs, "raw-ns")
	b.ReportMetric(ns/noop, "x-noop")
	b.ReportMetric(ns/rawNs, "x-raw")
}

// BenchmarkTryWait is one sem_trywait that fails with EAGAIN (allocation
// free), next to an empty cgo call.
func BenchmarkTryWait(b *testing.B) {
	s := benchSem(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.TryWait()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/noopNs(b.N), "x-noop")
}

// BenchmarkCancelLatency measures how long a Wait blocked inside C takes to
// return after its context is cancelled (µs/cancel; max-µs is the worst).
func BenchmarkCancelLatency(b *testing.B) {
	s := benchSem(b)
	var total, worst time.Duration
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan time.Time, 1)
		go func() { s.Wait(ctx); done <- time.Now() }()
		time.Sleep(2 * time.Millisecond) // blocked in sem_clockwait by now
		t0 := time.Now()
		cancel()
		d := (<-done).Sub(t0)
		total += d
		worst = max(worst, d)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/cancel")
	b.ReportMetric(float64(worst.Microseconds()), "max-µs")
}
