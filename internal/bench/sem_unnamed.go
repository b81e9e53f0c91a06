//go:build linux && cgo

package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"
	"unsafe"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/binding/sem"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/peer"
)

// The sem-unnamed primitive: the round trip of "sem" (post A, wait for the
// peer's post on B), on two unnamed process-shared semaphores (sem_init with
// pshared=1) at offsets 0 and 64 of one shared-memory segment per set-up:
//
//	c-c    crt/sempeer uping-lat against crt/sempeer upong; C initialises both
//	go-c   binding/sem against crt/sempeer upong; A initialised by C
//	       (sempeer init) and attached with sem.At, B initialised by sem.Init
//	       and used by C, so both directions of the layout agreement are used
//	go-go  binding/sem on both sides: sem.Init here, sem.At in `bench-peer
//	       usem-pong`
//	cgo    plain blocking sem_post/sem_wait cgo calls on both sides
//	       (`bench-peer usem-pong-raw`)
//
// The servers never exit by themselves; cleanup kills them, then destroys
// the semaphores and unlinks the segments.

const (
	usemOffA = 0
	usemOffB = 64 // its own cache line
)

func init() {
	addBench(benchPrimitive{name: "sem-unnamed", order: 21,
		what:  "post an unnamed semaphore in shared memory, wait for the peer's post on another",
		setup: benchSemUnnamedSetup})
	benchPeers["usem-pong"] = func(args []string) error { return usemPong(args, false) }
	benchPeers["usem-pong-raw"] = func(args []string) error { return usemPong(args, true) }
}

// usemPong serves round trips forever on the unnamed semaphores at args[1]
// and args[2] of segment args[0]: wait A, post B. raw uses plain blocking cgo
// calls (the baseline). It prints "ready" first.
func usemPong(args []string, raw bool) error {
	if len(args) != 3 {
		return usagef("usem-pong SEG OFFA OFFB")
	}
	offA, errA := strconv.Atoi(args[1])
	offB, errB := strconv.Atoi(args[2])
	if errA != nil || errB != nil {
		return usagef("usem-pong: bad offsets %q %q", args[1], args[2])
	}
	seg, err := shm.Open(args[0])
	if err != nil {
		return err
	}
	defer seg.Close()
	if raw {
		b := seg.Bytes()
		if offA < 0 || offB < 0 || offA > len(b)-sem.Size || offB > len(b)-sem.Size {
			return usagef("usem-pong: offsets outside the %d-byte segment", len(b))
		}
		return serveRawSemPong(posixipc.SemAt(unsafe.Pointer(&b[offA])), posixipc.SemAt(unsafe.Pointer(&b[offB])))
	}
	a, err := sem.At(seg, int64(offA))
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := sem.At(seg, int64(offB))
	if err != nil {
		return err
	}
	defer b.Close()
	return serveSemPong(a, b)
}

// server starts cmd (from peer.Command or selfCmd), registers its kill and
// waits for its "ready" line.
func (cl *benchCleanup) server(cmd *exec.Cmd, err error) error {
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	cl.add(func() { killCmd(cmd) })
	return expectLine(bufio.NewReader(out), cmd, "ready", 10*time.Second)
}

// benchSegment creates a 4 KiB segment for one set-up; cl unlinks it.
func benchSegment(cl *benchCleanup, prim, tag string) (*shm.Segment, error) {
	name := fmt.Sprintf("/posixipc-bench-%d-%s-%s", os.Getpid(), prim, tag)
	shm.Unlink(name)
	seg, err := shm.Create(name, 4096, 0o600)
	if err != nil {
		return nil, err
	}
	cl.add(func() { seg.Close(); shm.Unlink(name) })
	return seg, nil
}

func benchSemUnnamedSetup() (configs []benchConfig, stream []benchThroughput, cleanupFn func(), err error) {
	var cl benchCleanup
	defer func() {
		if err != nil {
			cl.run()
		}
	}()
	offA, offB := strconv.Itoa(usemOffA), strconv.Itoa(usemOffB)
	cInit := func(seg *shm.Segment, off string) error {
		out, err := peer.Output("sempeer", "init", seg.Name(), off, "0")
		if err == nil && out != "ok\n" {
			err = fmt.Errorf("sempeer init %s %s: %q", seg.Name(), off, out)
		}
		return err
	}
	// goSems returns handles on both semaphores; initA/initB say which
	// this side initialises (sem.Init; Destroy at cleanup) rather than
	// attaches to (sem.At; Close).
	goSems := func(seg *shm.Segment, initA, initB bool) (a, b *sem.Sem, err error) {
		get := func(off int, init bool) (*sem.Sem, error) {
			if !init {
				s, err := sem.At(seg, int64(off))
				if err == nil {
					cl.add(func() { s.Close() })
				}
				return s, err
			}
			s, err := sem.Init(seg, int64(off), 0)
			if err == nil {
				cl.add(func() { s.Destroy() })
			}
			return s, err
		}
		if a, err = get(usemOffA, initA); err != nil {
			return nil, nil, err
		}
		if b, err = get(usemOffB, initB); err != nil {
			return nil, nil, err
		}
		return a, b, nil
	}
	ctx, cancel := context.WithCancel(context.Background()) // the path a real service takes
	cl.add(cancel)

	// c-c
	segCC, err := benchSegment(&cl, "usem", "cc")
	if err != nil {
		return nil, nil, nil, err
	}
	if err := cInit(segCC, offA); err != nil {
		return nil, nil, nil, err
	}
	if err := cInit(segCC, offB); err != nil {
		return nil, nil, nil, err
	}
	if err := cl.server(peer.Command("sempeer", "upong", segCC.Name(), offA, offB)); err != nil {
		return nil, nil, nil, err
	}
	configs = append(configs, benchConfig{label: "c-c", block: func(k int) ([]time.Duration, error) {
		return cLatencies("sempeer", "uping-lat", segCC.Name(), offA, offB, strconv.Itoa(k))
	}})

	// go-c
	segGC, err := benchSegment(&cl, "usem", "gc")
	if err != nil {
		return nil, nil, nil, err
	}
	if err := cInit(segGC, offA); err != nil {
		return nil, nil, nil, err
	}
	a, b, err := goSems(segGC, false, true)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := cl.server(peer.Command("sempeer", "upong", segGC.Name(), offA, offB)); err != nil {
		return nil, nil, nil, err
	}
	configs = append(configs, semPingConfig(ctx, "go-c", a, b))

	// go-go
	segGG, err := benchSegment(&cl, "usem", "gg")
	if err != nil {
		return nil, nil, nil, err
	}
	a, b, err = goSems(segGG, true, true)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := cl.server(selfCmd("bench-peer", "usem-pong", segGG.Name(), offA, offB)); err != nil {
		return nil, nil, nil, err
	}
	configs = append(configs, semPingConfig(ctx, "go-go", a, b))

	// cgo
	segRaw, err := benchSegment(&cl, "usem", "raw")
	if err != nil {
		return nil, nil, nil, err
	}
	mem := segRaw.Bytes()
	ra, rb := posixipc.SemAt(unsafe.Pointer(&mem[usemOffA])), posixipc.SemAt(unsafe.Pointer(&mem[usemOffB]))
	for _, s := range []posixipc.Sem{ra, rb} {
		if err := posixipc.SemInit(s, true, 0); err != nil {
			return nil, nil, nil, err
		}
		cl.add(func() { posixipc.SemDestroy(s) })
	}
	if err := cl.server(selfCmd("bench-peer", "usem-pong-raw", segRaw.Name(), offA, offB)); err != nil {
		return nil, nil, nil, err
	}
	configs = append(configs, rawSemPingConfig(ra, rb))
	return configs, nil, cl.run, nil
}
