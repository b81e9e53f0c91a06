//go:build linux && cgo

package bench

// The sig row of `posixipc bench`: a realtime signal with a value out
// (sigqueue) and the peer's answer back, value+1. Each set-up uses its own
// signal number: c-c (two crt/sigpeer processes), go-c (binding/sig
// against a C ponger), go-go (against this binary's Go ponger) and cgo
// (the raw shims: sigqueue, and blocking reads of the handler's pipe).

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/binding/sig"
	"github.com/posixipc/posixipc/internal/peer"
	"golang.org/x/sys/unix"
)

func init() {
	addBench(benchPrimitive{name: "sig", order: 85, what: "sigqueue a realtime signal with a value, receive the peer's answer (value+1) with its siginfo", setup: benchSigSetup})
	benchPeers["sig-pong"] = func(args []string) error { return sigPong(args, false) }
	benchPeers["sig-pong-raw"] = func(args []string) error { return sigPong(args, true) }
}

// rawSig is a signal taken with the raw shims: its records come on a
// blocking pipe, read with plain read(2) calls.
type rawSig struct {
	s      int
	rfd    int
	record [posixipc.SigRecordSize]byte
}

func takeRaw(s syscall.Signal) (*rawSig, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, err
	}
	unix.SetNonblock(p[1], true)
	if err := posixipc.SigTake(int(s), p[1]); err != nil {
		return nil, err
	}
	return &rawSig{s: int(s), rfd: p[0]}, nil
}

// next reads one record: the sender's pid and value.
func (r *rawSig) next() (pid, value int, err error) {
	for got := 0; got < len(r.record); {
		n, err := unix.Read(r.rfd, r.record[got:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, 0, err
		}
		got += n
	}
	e := binary.NativeEndian
	return int(int32(e.Uint32(r.record[8:]))), int(int32(e.Uint32(r.record[16:]))), nil
}

// sigPong answers each signal args[0] (a number) with value+1 to its
// sender.
func sigPong(args []string, raw bool) error {
	if len(args) != 1 {
		return usagef("sig-pong SIG")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	s := syscall.Signal(n)
	if raw {
		r, err := takeRaw(s)
		if err != nil {
			return err
		}
		fmt.Fprintf(Stdout, "ready %d\n", os.Getpid())
		for {
			pid, v, err := r.next()
			if err != nil {
				return err
			}
			for posixipc.Sigqueue(pid, n, v+1) == syscall.EAGAIN {
			}
		}
	}
	r, err := sig.Take(s)
	if err != nil {
		return err
	}
	fmt.Fprintf(Stdout, "ready %d\n", os.Getpid())
	ctx := context.Background()
	for {
		in, err := r.Receive(ctx)
		if err != nil {
			return err
		}
		if err := sig.Queue(in.Pid, s, in.Value+1); err != nil {
			return err
		}
	}
}

func benchSigSetup() ([]benchConfig, []benchThroughput, func(), error) {
	base := sig.RTMin() + 20
	cl := &benchCleanup{}
	pids := make([]int, 4)
	servers := []func(s syscall.Signal) (*exec.Cmd, error){
		func(s syscall.Signal) (*exec.Cmd, error) {
			return peer.Command("sigpeer", "pong", strconv.Itoa(int(s)))
		},
		func(s syscall.Signal) (*exec.Cmd, error) {
			return peer.Command("sigpeer", "pong", strconv.Itoa(int(s)))
		},
		func(s syscall.Signal) (*exec.Cmd, error) {
			return selfCmd("bench-peer", "sig-pong", strconv.Itoa(int(s)))
		},
		func(s syscall.Signal) (*exec.Cmd, error) {
			return selfCmd("bench-peer", "sig-pong-raw", strconv.Itoa(int(s)))
		},
	}
	for i, srv := range servers {
		cmd, err := srv(base + syscall.Signal(i))
		if err != nil {
			cl.run()
			return nil, nil, nil, err
		}
		pid, err := startReadyPid(cmd)
		if err != nil {
			cl.run()
			return nil, nil, nil, err
		}
		cl.add(func() { killCmd(cmd) })
		pids[i] = pid
	}
	ctx, cancel := context.WithCancel(context.Background())
	cl.add(cancel)
	goPing := func(label string, i int) (benchConfig, error) {
		s := base + syscall.Signal(i)
		r, err := sig.Take(s)
		if err != nil {
			return benchConfig{}, err
		}
		cl.add(func() { r.Close() })
		v := 0
		return benchConfig{label: label, block: func(k int) ([]time.Duration, error) {
			return latencies(k, func() error {
				v += 2
				if err := sig.Queue(pids[i], s, v); err != nil {
					return err
				}
				_, err := r.Receive(ctx)
				return err
			})
		}}, nil
	}
	cfgGC, err := goPing("go-c", 1)
	if err != nil {
		cl.run()
		return nil, nil, nil, err
	}
	cfgGG, err := goPing("go-go", 2)
	if err != nil {
		cl.run()
		return nil, nil, nil, err
	}
	rs := base + 3
	raw, err := takeRaw(rs)
	if err != nil {
		cl.run()
		return nil, nil, nil, err
	}
	cl.add(func() { posixipc.SigGive(int(rs)) }) // the pipe stays: a late handler may write
	v := 0
	cfgRaw := benchConfig{label: "cgo", block: func(k int) ([]time.Duration, error) {
		return latencies(k, func() error {
			v += 2
			if err := posixipc.Sigqueue(pids[3], int(rs), v); err != nil {
				return err
			}
			_, _, err := raw.next()
			return err
		})
	}}
	cfgC := benchConfig{label: "c-c", block: func(k int) ([]time.Duration, error) {
		return cLatencies("sigpeer", "ping-lat", strconv.Itoa(pids[0]), strconv.Itoa(int(base)), strconv.Itoa(k))
	}}
	return []benchConfig{cfgC, cfgGC, cfgGG, cfgRaw}, nil, cl.run, nil
}

// startReadyPid starts cmd and reads its "ready PID" line.
func startReadyPid(cmd *exec.Cmd) (int, error) {
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	var line [64]byte
	n := 0
	for n < len(line) {
		k, err := out.Read(line[n : n+1])
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return 0, fmt.Errorf("%s: %v", cmd.Path, err)
		}
		n += k
		if line[n-1] == '\n' {
			break
		}
	}
	f := strings.Fields(string(line[:n]))
	if len(f) != 2 || f[0] != "ready" {
		cmd.Process.Kill()
		cmd.Wait()
		return 0, fmt.Errorf("%s said %q, not ready PID", cmd.Path, line[:n])
	}
	return strconv.Atoi(f[1])
}
