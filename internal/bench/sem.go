//go:build linux && cgo

package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/binding/sem"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/peer"
)

func init() {
	addBench(benchPrimitive{name: "sem", order: 20, what: "post a named semaphore, wait for the peer's post on another", setup: benchSemSetup})
	addBench(benchPrimitive{name: "shm", order: 30, what: "copy a 1 MiB segment to private memory", setup: benchShmSetup})
	benchPeers["sem-pong"] = func(args []string) error { return semPong(args, false) }
	benchPeers["sem-pong-raw"] = func(args []string) error { return semPong(args, true) }
}

// semPong serves round trips forever: wait args[0], post args[1]. raw uses
// plain blocking cgo calls (the baseline). It prints "ready" first.
func semPong(args []string, raw bool) error {
	if len(args) != 2 {
		return usagef("sem-pong A B")
	}
	if raw {
		a, err := posixipc.SemOpen(args[0], 0, 0, 0)
		if err != nil {
			return err
		}
		b, err := posixipc.SemOpen(args[1], 0, 0, 0)
		if err != nil {
			return err
		}
		return serveRawSemPong(a, b)
	}
	a, err := sem.Open(args[0], 0, 0, 0)
	if err != nil {
		return err
	}
	b, err := sem.Open(args[1], 0, 0, 0)
	if err != nil {
		return err
	}
	return serveSemPong(a, b)
}

// serveSemPong prints "ready", then serves round trips forever: wait a, post
// b (named or unnamed semaphores alike).
func serveSemPong(a, b *sem.Sem) error {
	fmt.Fprintln(Stdout, "ready")
	ctx := context.Background()
	for {
		if err := a.Wait(ctx); err != nil {
			return err
		}
		if err := b.Post(); err != nil {
			return err
		}
	}
}

// serveRawSemPong is serveSemPong with plain blocking cgo calls.
func serveRawSemPong(a, b posixipc.Sem) error {
	fmt.Fprintln(Stdout, "ready")
	for {
		for posixipc.SemWait(a) != nil {
		}
		if err := posixipc.SemPost(b); err != nil {
			return err
		}
	}
}

// semPingConfig is a go-c or go-go set-up: each round trip posts a and
// waits for b with ctx (cancellable: the path a real service takes).
func semPingConfig(ctx context.Context, label string, a, b *sem.Sem) benchConfig {
	return benchConfig{label: label, block: func(k int) ([]time.Duration, error) {
		lats := make([]time.Duration, k)
		for i := range lats {
			t0 := time.Now()
			if err := a.Post(); err != nil {
				return nil, err
			}
			if err := b.Wait(ctx); err != nil {
				return nil, err
			}
			lats[i] = time.Since(t0)
		}
		return lats, nil
	}}
}

// rawSemPingConfig is the cgo set-up: semPingConfig with plain blocking cgo
// calls.
func rawSemPingConfig(ra, rb posixipc.Sem) benchConfig {
	return benchConfig{label: "cgo", block: func(k int) ([]time.Duration, error) {
		lats := make([]time.Duration, k)
		for i := range lats {
			t0 := time.Now()
			if err := posixipc.SemPost(ra); err != nil {
				return nil, err
			}
			for posixipc.SemWait(rb) != nil {
			}
			lats[i] = time.Since(t0)
		}
		return lats, nil
	}}
}

// semPair is two named semaphores with a ponger process behind them.
type semPair struct {
	a, b   string
	server *exec.Cmd
}

func (p *semPair) stop() {
	if p.server != nil {
		p.server.Process.Kill()
		p.server.Wait()
	}
	sem.Unlink(p.a)
	sem.Unlink(p.b)
}

func startSemPair(tag string, server func(a, b string) (*exec.Cmd, error)) (*semPair, error) {
	p := &semPair{a: fmt.Sprintf("/posixipc-bench-%d-sem-%s-a", os.Getpid(), tag),
		b: fmt.Sprintf("/posixipc-bench-%d-sem-%s-b", os.Getpid(), tag)}
	for _, n := range []string{p.a, p.b} {
		sem.Unlink(n)
		s, err := sem.Open(n, os.O_CREATE|os.O_EXCL, 0o600, 0)
		if err != nil {
			p.stop()
			return nil, err
		}
		s.Close()
	}
	cmd, err := server(p.a, p.b)
	if err != nil {
		p.stop()
		return nil, err
	}
	if err := peer.StartReady("ponger "+tag, cmd); err != nil {
		p.stop()
		return nil, err
	}
	p.server = cmd
	return p, nil
}

func benchSemSetup() (configs []benchConfig, stream []benchThroughput, cleanup func(), err error) {
	cl := &benchCleanup{}
	defer func() {
		if err != nil {
			cl.run()
		}
	}()
	cPong := func(a, b string) (*exec.Cmd, error) { return peer.Command("sempeer", "pong", a, b) }
	self := func(mode string) func(a, b string) (*exec.Cmd, error) {
		return func(a, b string) (*exec.Cmd, error) { return selfCmd("bench-peer", mode, a, b) }
	}
	ps, err := fourServers(cl, startSemPair, cPong, self("sem-pong"), self("sem-pong-raw"))
	if err != nil {
		return nil, nil, nil, err
	}
	goClient := func(p *semPair, label string) (benchConfig, error) {
		a, err := sem.Open(p.a, 0, 0, 0)
		if err != nil {
			return benchConfig{}, err
		}
		b, err := sem.Open(p.b, 0, 0, 0)
		if err != nil {
			a.Close()
			return benchConfig{}, err
		}
		ctx, cancel := context.WithCancel(context.Background()) // the path a real service takes
		cl.add(func() { cancel(); a.Close(); b.Close() })
		return semPingConfig(ctx, label, a, b), nil
	}
	cfgGC, err := goClient(ps[1], "go-c")
	if err != nil {
		return nil, nil, nil, err
	}
	cfgGG, err := goClient(ps[2], "go-go")
	if err != nil {
		return nil, nil, nil, err
	}
	ra, err := posixipc.SemOpen(ps[3].a, 0, 0, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	cl.add(func() { posixipc.SemClose(ra) })
	rb, err := posixipc.SemOpen(ps[3].b, 0, 0, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	cl.add(func() { posixipc.SemClose(rb) })
	cfgRaw := rawSemPingConfig(ra, rb)
	cfgC := benchConfig{label: "c-c", block: func(k int) ([]time.Duration, error) {
		return cLatencies("sempeer", "ping-lat", ps[0].a, ps[0].b, strconv.Itoa(k))
	}}
	return []benchConfig{cfgC, cfgGC, cfgGG, cfgRaw}, nil, cl.run, nil
}

// benchShmSetup streams copies of a 1 MiB segment: memcpy in the C peer
// (c-c), Go's copy from Bytes (go-c) and the fault-safe ReadAt (go-readat).
func benchShmSetup() ([]benchConfig, []benchThroughput, func(), error) {
	const size = 1 << 20
	name := fmt.Sprintf("/posixipc-bench-%d-shm", os.Getpid())
	shm.Unlink(name)
	seg, err := shm.Create(name, size, 0o600)
	if err != nil {
		return nil, nil, nil, err
	}
	cleanup := func() { seg.Close(); shm.Unlink(name) }
	buf := make([]byte, size)
	copies := func(quick bool) int {
		if quick {
			return 200
		}
		return 2000
	}
	goRun := func(f func() error) func(bool) (int64, time.Duration, error) {
		return func(quick bool) (int64, time.Duration, error) {
			k := copies(quick)
			t0 := time.Now()
			for i := 0; i < k; i++ {
				if err := f(); err != nil {
					return 0, 0, err
				}
			}
			return int64(k) * size, time.Since(t0), nil
		}
	}
	return nil, []benchThroughput{
		{label: "c-c", run: func(quick bool) (int64, time.Duration, error) {
			k := copies(quick)
			out, err := peer.Output("shmpeer", "memcpy", name, strconv.Itoa(k))
			if err != nil {
				return 0, 0, err
			}
			ns, err := strconv.ParseFloat(strings.TrimSpace(out), 64)
			if err != nil {
				return 0, 0, err
			}
			return int64(k) * size, time.Duration(ns * float64(k)), nil
		}},
		{label: "go-c", run: goRun(func() error { copy(buf, seg.Bytes()); return nil })},
		{label: "go-readat", run: goRun(func() error { _, err := seg.ReadAt(buf, 0); return err })},
	}, cleanup, nil
}
