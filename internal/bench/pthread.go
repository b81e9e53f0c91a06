//go:build linux && cgo

package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"time"
	"unsafe"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/binding/pthread"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/peer"
)

// The pthread round trip: the client locks the robust mutex, hands the turn
// to the ponger (turn odd), signals the condvar and waits on it until the
// turn is even again. Both sides use struct posixipc_sync at offset 0.

func init() {
	addBench(benchPrimitive{name: "pthread", order: 40, what: "hand a turn over under a process-shared robust mutex and condvar, wait for it back", setup: benchPthreadSetup})
	benchPeers["pthread-pong"] = func(args []string) error { return pthreadPong(args, false) }
	benchPeers["pthread-pong-raw"] = func(args []string) error { return pthreadPong(args, true) }
}

// pthreadPong serves round trips forever on segment args[0]. raw uses plain
// blocking cgo calls (the baseline). It prints "ready" first.
func pthreadPong(args []string, raw bool) error {
	if len(args) != 1 {
		return usagef("pthread-pong SEG")
	}
	seg, err := shm.Open(args[0])
	if err != nil {
		return err
	}
	turn := (*uint64)(unsafe.Pointer(&seg.Bytes()[pthread.LayoutTurn]))
	if raw {
		runtime.LockOSThread()
		m := unsafe.Pointer(&seg.Bytes()[pthread.LayoutMutex])
		c := unsafe.Pointer(&seg.Bytes()[pthread.LayoutCond])
		if err := posixipc.PthreadMutexLockPlain(m); err != nil {
			return err
		}
		fmt.Fprintln(Stdout, "ready")
		for {
			for *turn%2 == 0 {
				posixipc.PthreadCondWaitPlain(c, m)
			}
			*turn++
			posixipc.PthreadCondSignal(c)
		}
	}
	m, err := pthread.MutexAt(seg, pthread.LayoutMutex)
	if err != nil {
		return err
	}
	c, err := pthread.CondAt(seg, pthread.LayoutCond)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := m.Lock(ctx); err != nil {
		return err
	}
	fmt.Fprintln(Stdout, "ready")
	for {
		for *turn%2 == 0 {
			if err := c.Wait(ctx, m); err != nil {
				return err
			}
		}
		*turn++
		if err := c.Signal(); err != nil {
			return err
		}
	}
}

// pthreadPair is one segment with its mutex and condvar, and a ponger
// process serving it.
type pthreadPair struct {
	name   string
	seg    *shm.Segment
	m      *pthread.Mutex
	c      *pthread.Cond
	server *exec.Cmd
}

func (p *pthreadPair) stop() {
	if p.server != nil {
		p.server.Process.Kill()
		p.server.Wait()
	}
	if p.c != nil {
		p.c.Close()
	}
	if p.m != nil {
		p.m.Close()
	}
	if p.seg != nil {
		p.seg.Close()
	}
	shm.Unlink(p.name)
}

func startPthreadPair(tag string, server func(seg string) (*exec.Cmd, error)) (*pthreadPair, error) {
	p := &pthreadPair{name: fmt.Sprintf("/posixipc-bench-%d-pthread-%s", os.Getpid(), tag)}
	shm.Unlink(p.name)
	var err error
	if p.seg, err = shm.Create(p.name, 4096, 0o600); err != nil {
		return nil, err
	}
	if p.m, err = pthread.NewMutex(p.seg, pthread.LayoutMutex, nil); err != nil {
		p.stop()
		return nil, err
	}
	if p.c, err = pthread.NewCond(p.seg, pthread.LayoutCond); err != nil {
		p.stop()
		return nil, err
	}
	cmd, err := server(p.name)
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

func benchPthreadSetup() (configs []benchConfig, stream []benchThroughput, cleanup func(), err error) {
	cl := &benchCleanup{}
	defer func() {
		if err != nil {
			cl.run()
		}
	}()
	cPong := func(seg string) (*exec.Cmd, error) { return peer.Command("pthreadpeer", "pong", seg, "0") }
	self := func(mode string) func(seg string) (*exec.Cmd, error) {
		return func(seg string) (*exec.Cmd, error) { return selfCmd("bench-peer", mode, seg) }
	}
	ps, err := fourServers(cl, startPthreadPair, cPong, self("pthread-pong"), self("pthread-pong-raw"))
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background()) // the path a real service takes
	cl.add(cancel)
	goClient := func(p *pthreadPair, label string) benchConfig {
		turn := (*uint64)(unsafe.Pointer(&p.seg.Bytes()[pthread.LayoutTurn]))
		return benchConfig{label: label, block: func(k int) ([]time.Duration, error) {
			lats := make([]time.Duration, k)
			for i := range lats {
				t0 := time.Now()
				if err := p.m.Lock(ctx); err != nil {
					return nil, err
				}
				*turn++
				p.c.Signal()
				for *turn%2 == 1 {
					if err := p.c.Wait(ctx, p.m); err != nil {
						p.m.Unlock()
						return nil, err
					}
				}
				if err := p.m.Unlock(); err != nil {
					return nil, err
				}
				lats[i] = time.Since(t0)
			}
			return lats, nil
		}}
	}
	raw := ps[3]
	rturn := (*uint64)(unsafe.Pointer(&raw.seg.Bytes()[pthread.LayoutTurn]))
	rm := unsafe.Pointer(&raw.seg.Bytes()[pthread.LayoutMutex])
	rc := unsafe.Pointer(&raw.seg.Bytes()[pthread.LayoutCond])
	cfgRaw := benchConfig{label: "cgo", block: func(k int) ([]time.Duration, error) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		lats := make([]time.Duration, k)
		for i := range lats {
			t0 := time.Now()
			if err := posixipc.PthreadMutexLockPlain(rm); err != nil {
				return nil, err
			}
			*rturn++
			posixipc.PthreadCondSignal(rc)
			for *rturn%2 == 1 {
				posixipc.PthreadCondWaitPlain(rc, rm)
			}
			posixipc.PthreadMutexUnlockPlain(rm)
			lats[i] = time.Since(t0)
		}
		return lats, nil
	}}
	cfgC := benchConfig{label: "c-c", block: func(k int) ([]time.Duration, error) {
		return cLatencies("pthreadpeer", "ping-lat", ps[0].name, "0", strconv.Itoa(k))
	}}
	return []benchConfig{cfgC, goClient(ps[1], "go-c"), goClient(ps[2], "go-go"), cfgRaw}, nil, cl.run, nil
}
