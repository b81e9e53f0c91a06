//go:build linux && cgo

package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/posixipc/posixipc/binding/flock"
	"github.com/posixipc/posixipc/internal/peer"
	"golang.org/x/sys/unix"
)

// The flock primitive: a lock handoff round trip between two processes on a
// ring (bench_ring.go) of three exclusive flock(2) locks (files BASE.0,
// BASE.1, BASE.2; see crt/lockpeer.c). Every set-up runs this same scheme:
//
//	c-c    crt/lockpeer client-lat against crt/lockpeer pong (blocking flock)
//	go-c   binding/flock (Lock: cancellable, one waiter per File in the
//	       kernel, the others parked in Go) against crt/lockpeer pong
//	go-go  binding/flock on both sides (`bench-peer flock-pong`)
//	cgo    the plain blocking baseline on both sides (`bench-peer
//	       flock-pong-raw`): Go calling flock(2) LOCK_EX directly, blocking
//	       its thread in the kernel, not cancellable (plain syscalls, no cgo)
//
// The servers never exit by themselves; cleanup kills them (the kernel then
// releases their locks).

func init() {
	addBench(benchPrimitive{name: "flock", order: 70,
		what:  "lock handoff to the other process and back, on a ring of three flock(2) locks (cgo row: blocking flock syscalls)",
		setup: benchFlockSetup})
	benchPeers["flock-pong"] = func(args []string) error { return flockPong(args, false) }
	benchPeers["flock-pong-raw"] = func(args []string) error { return flockPong(args, true) }
}

// goRing waits with a cancellable context: the path a real service takes.
type goRing struct {
	f   [3]*flock.File
	ctx context.Context
}

func (r *goRing) lock(i int) error   { return r.f[i].Lock(r.ctx, flock.Exclusive) }
func (r *goRing) unlock(i int) error { return r.f[i].Unlock() }

// rawRing uses blocking flock(2) calls on plain descriptors.
type rawRing [3]int

func (r *rawRing) lock(i int) error {
	for {
		if err := unix.Flock(r[i], unix.LOCK_EX); err != unix.EINTR {
			return err
		}
	}
}

func (r *rawRing) unlock(i int) error { return unix.Flock(r[i], unix.LOCK_UN) }

func ringPath(base string, i int) string { return fmt.Sprintf("%s.%d", base, i) }

// openRing opens the three lock files of base.
func openRing(base string, raw bool) (lockRing, func(), error) {
	if raw {
		var r rawRing
		for i := range r {
			fd, err := unix.Open(ringPath(base, i), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
			if err != nil {
				for _, fd := range r[:i] {
					unix.Close(fd)
				}
				return nil, nil, &os.PathError{Op: "open", Path: ringPath(base, i), Err: err}
			}
			r[i] = fd
		}
		return &r, func() {
			for _, fd := range r {
				unix.Close(fd)
			}
		}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := goRing{ctx: ctx}
	for i := range r.f {
		f, err := flock.Open(ringPath(base, i))
		if err != nil {
			cancel()
			for _, f := range r.f[:i] {
				f.Close()
			}
			return nil, nil, err
		}
		r.f[i] = f
	}
	return &r, func() {
		cancel()
		for _, f := range r.f {
			f.Close()
		}
	}, nil
}

// flockPong is the server side of the handoff ring: take lock 2, print
// "ready", then forever: lock k%3 (waiting), unlock (k+2)%3.
func flockPong(args []string, raw bool) error {
	if len(args) != 1 {
		return usagef("flock-pong BASE")
	}
	r, closeRing, err := openRing(args[0], raw)
	if err != nil {
		return err
	}
	defer closeRing()
	return ringServe(r)
}

func benchFlockSetup() (configs []benchConfig, stream []benchThroughput, cleanupFn func(), err error) {
	var cl benchCleanup
	defer func() {
		if err != nil {
			cl.run()
		}
	}()
	dir, err := os.MkdirTemp("", "posixipc-bench-flock-")
	if err != nil {
		return nil, nil, nil, err
	}
	cl.add(func() { os.RemoveAll(dir) })

	// c-c
	base := filepath.Join(dir, "cc")
	cc, err := startLatProc("lockpeer", "client-lat", "flock", base)
	if err != nil {
		return nil, nil, nil, err
	}
	cl.add(cc.stop)
	if err := cc.expect("ready", 10*time.Second); err != nil {
		return nil, nil, nil, err
	}
	if err := cl.server(peer.Command("lockpeer", "pong", "flock", base)); err != nil {
		return nil, nil, nil, err
	}
	configs = append(configs, benchConfig{label: "c-c", block: cc.block})

	// client takes locks 0 and 1 of a ring, starts the server and returns
	// the set-up; the ring's position k lives on across blocks.
	client := func(label, tag string, raw bool, srv func(base string) (*exec.Cmd, error)) error {
		base := filepath.Join(dir, tag)
		r, closeRing, err := openRing(base, raw)
		if err != nil {
			return err
		}
		cl.add(closeRing)
		if err := r.lock(0); err != nil {
			return err
		}
		if err := r.lock(1); err != nil {
			return err
		}
		if err := cl.server(srv(base)); err != nil {
			return err
		}
		configs = append(configs, ringClient(label, r))
		return nil
	}
	if err := client("go-c", "gc", false, func(base string) (*exec.Cmd, error) {
		return peer.Command("lockpeer", "pong", "flock", base)
	}); err != nil {
		return nil, nil, nil, err
	}
	if err := client("go-go", "gg", false, func(base string) (*exec.Cmd, error) {
		return selfCmd("bench-peer", "flock-pong", base)
	}); err != nil {
		return nil, nil, nil, err
	}
	if err := client("cgo", "raw", true, func(base string) (*exec.Cmd, error) {
		return selfCmd("bench-peer", "flock-pong-raw", base)
	}); err != nil {
		return nil, nil, nil, err
	}
	return configs, nil, cl.run, nil
}
