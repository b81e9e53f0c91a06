//go:build linux && cgo

package bench

// The System V rows of `posixipc bench`: msg (a 64-byte message out as type
// 1 and back as type 2 on one queue) and semset (give semaphore 0, take
// semaphore 1 of one set). Each set-up has its own object and its own
// ponger process: crt/sysvpeer (c-c, go-c), this binary on the bindings
// (go-go) or on the raw cgo calls (cgo, the baseline).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/binding/sysvmsg"
	"github.com/posixipc/posixipc/binding/sysvsem"
	"github.com/posixipc/posixipc/internal/peer"
)

const msgBenchSize = 64

func init() {
	addBench(benchPrimitive{name: "msg", order: 25, what: "send a 64-byte System V message (type 1), receive the peer's reply (type 2) on one queue", setup: benchMsgSetup})
	addBench(benchPrimitive{name: "semset", order: 26, what: "semop +1 on semaphore 0 of a System V set, wait for the peer's +1 on semaphore 1", setup: benchSemsetSetup})
	benchPeers["msg-pong"] = func(args []string) error { return msgPong(args, false) }
	benchPeers["msg-pong-raw"] = func(args []string) error { return msgPong(args, true) }
	benchPeers["semset-pong"] = func(args []string) error { return semsetPong(args, false) }
	benchPeers["semset-pong-raw"] = func(args []string) error { return semsetPong(args, true) }
}

// msgPong serves round trips forever on queue args[0]: take type 1, send
// it back as type 2. raw uses the plain blocking cgo calls.
func msgPong(args []string, raw bool) error {
	if len(args) != 1 {
		return usagef("msg-pong ID")
	}
	id, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	buf := make([]byte, 8192)
	if raw {
		fmt.Fprintln(Stdout, "ready")
		for {
			n, _, err := posixipc.Msgrcv(id, buf, 1, 0)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				return err
			}
			if err := posixipc.Msgsnd(id, 2, buf[:n], 0); err != nil {
				return err
			}
		}
	}
	q, err := sysvmsg.OpenID(id)
	if err != nil {
		return err
	}
	ctx := context.Background()
	fmt.Fprintln(Stdout, "ready")
	for {
		n, _, err := q.Receive(ctx, buf, 1, 0)
		if err != nil {
			return err
		}
		if err := q.Send(ctx, 2, buf[:n]); err != nil {
			return err
		}
	}
}

// semsetPong serves round trips forever on set args[0]: take 1 from
// semaphore 0, give 1 to semaphore 1.
func semsetPong(args []string, raw bool) error {
	if len(args) != 1 {
		return usagef("semset-pong ID")
	}
	id, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	take, give := []posixipc.SemBuf{{Num: 0, Op: -1}}, []posixipc.SemBuf{{Num: 1, Op: 1}}
	if raw {
		fmt.Fprintln(Stdout, "ready")
		for {
			if err := posixipc.Semop(id, take); err == syscall.EINTR {
				continue
			} else if err != nil {
				return err
			}
			if err := posixipc.Semop(id, give); err != nil {
				return err
			}
		}
	}
	s, err := sysvsem.OpenID(id)
	if err != nil {
		return err
	}
	ctx := context.Background()
	fmt.Fprintln(Stdout, "ready")
	for {
		if err := s.Do(ctx, sysvsem.Op{Num: 0, Delta: -1}); err != nil {
			return err
		}
		if err := s.Do(ctx, sysvsem.Op{Num: 1, Delta: 1}); err != nil {
			return err
		}
	}
}

// latencies times k round trips of one.
func latencies(k int, one func() error) ([]time.Duration, error) {
	lats := make([]time.Duration, k)
	for i := range lats {
		t0 := time.Now()
		if err := one(); err != nil {
			return nil, err
		}
		lats[i] = time.Since(t0)
	}
	return lats, nil
}

func benchMsgSetup() ([]benchConfig, []benchThroughput, func(), error) {
	cl := &benchCleanup{} // (reverse order: servers stop before their objects go)
	var ids [4]string
	var qs [4]*sysvmsg.Queue
	for i := range ids {
		q, err := sysvmsg.Open(sysvmsg.Private, os.O_CREATE, 0o600)
		if err != nil {
			cl.run()
			return nil, nil, nil, err
		}
		cl.add(func() { q.Remove(); q.Close() })
		ids[i], qs[i] = strconv.Itoa(q.ID()), q
	}
	servers := []func(id string) (*exec.Cmd, error){
		func(id string) (*exec.Cmd, error) { return peer.Command("sysvpeer", "msg-pong", id, "1", "2") },
		func(id string) (*exec.Cmd, error) { return peer.Command("sysvpeer", "msg-pong", id, "1", "2") },
		func(id string) (*exec.Cmd, error) { return selfCmd("bench-peer", "msg-pong", id) },
		func(id string) (*exec.Cmd, error) { return selfCmd("bench-peer", "msg-pong-raw", id) },
	}
	for i, s := range servers {
		if err := cl.server(s(ids[i])); err != nil {
			cl.run()
			return nil, nil, nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background()) // the path a real service takes
	cl.add(cancel)
	out, in := make([]byte, msgBenchSize), make([]byte, 8192)
	goPing := func(label string, q *sysvmsg.Queue) benchConfig {
		return benchConfig{label: label, block: func(k int) ([]time.Duration, error) {
			return latencies(k, func() error {
				if err := q.Send(ctx, 1, out); err != nil {
					return err
				}
				_, _, err := q.Receive(ctx, in, 2, 0)
				return err
			})
		}}
	}
	rawID := qs[3].ID()
	cfgRaw := benchConfig{label: "cgo", block: func(k int) ([]time.Duration, error) {
		return latencies(k, func() error {
			if err := posixipc.Msgsnd(rawID, 1, out, 0); err != nil {
				return err
			}
			_, _, err := posixipc.Msgrcv(rawID, in, 2, 0)
			for err == syscall.EINTR { // SIGCHLD of a finished C client: msgrcv is never restarted
				_, _, err = posixipc.Msgrcv(rawID, in, 2, 0)
			}
			return err
		})
	}}
	cfgC := benchConfig{label: "c-c", block: func(k int) ([]time.Duration, error) {
		return cLatencies("sysvpeer", "msg-ping-lat", ids[0], "1", "2", strconv.Itoa(k), strconv.Itoa(msgBenchSize))
	}}
	return []benchConfig{cfgC, goPing("go-c", qs[1]), goPing("go-go", qs[2]), cfgRaw}, nil, cl.run, nil
}

func benchSemsetSetup() ([]benchConfig, []benchThroughput, func(), error) {
	cl := &benchCleanup{} // (reverse order: servers stop before their objects go)
	var ids [4]string
	var ss [4]*sysvsem.Set
	for i := range ids {
		s, err := sysvsem.Open(sysvsem.Private, os.O_CREATE, 0o600, []int{0, 0})
		if err != nil {
			cl.run()
			return nil, nil, nil, err
		}
		cl.add(func() { s.Remove(); s.Close() })
		ids[i], ss[i] = strconv.Itoa(s.ID()), s
	}
	servers := []func(id string) (*exec.Cmd, error){
		func(id string) (*exec.Cmd, error) { return peer.Command("sysvpeer", "sem-pong", id, "0", "1") },
		func(id string) (*exec.Cmd, error) { return peer.Command("sysvpeer", "sem-pong", id, "0", "1") },
		func(id string) (*exec.Cmd, error) { return selfCmd("bench-peer", "semset-pong", id) },
		func(id string) (*exec.Cmd, error) { return selfCmd("bench-peer", "semset-pong-raw", id) },
	}
	for i, s := range servers {
		if err := cl.server(s(ids[i])); err != nil {
			cl.run()
			return nil, nil, nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cl.add(cancel)
	goPing := func(label string, s *sysvsem.Set) benchConfig {
		return benchConfig{label: label, block: func(k int) ([]time.Duration, error) {
			return latencies(k, func() error {
				if err := s.Do(ctx, sysvsem.Op{Num: 0, Delta: 1}); err != nil {
					return err
				}
				return s.Do(ctx, sysvsem.Op{Num: 1, Delta: -1})
			})
		}}
	}
	rawID := ss[3].ID()
	give, take := []posixipc.SemBuf{{Num: 0, Op: 1}}, []posixipc.SemBuf{{Num: 1, Op: -1}}
	cfgRaw := benchConfig{label: "cgo", block: func(k int) ([]time.Duration, error) {
		return latencies(k, func() error {
			if err := posixipc.Semop(rawID, give); err != nil {
				return err
			}
			err := posixipc.Semop(rawID, take)
			for err == syscall.EINTR { // semop is never restarted after a signal
				err = posixipc.Semop(rawID, take)
			}
			return err
		})
	}}
	cfgC := benchConfig{label: "c-c", block: func(k int) ([]time.Duration, error) {
		return cLatencies("sysvpeer", "sem-ping-lat", ids[0], "0", "1", strconv.Itoa(k))
	}}
	return []benchConfig{cfgC, goPing("go-c", ss[1]), goPing("go-go", ss[2]), cfgRaw}, nil, cl.run, nil
}
