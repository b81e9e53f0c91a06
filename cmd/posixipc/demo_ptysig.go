//go:build linux && cgo

package main

import (
	"bufio"
	"context"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/posixipc/posixipc/binding/pty"
	"github.com/posixipc/posixipc/binding/sig"
	"github.com/posixipc/posixipc/internal/peer"
)

func init() {
	addDemoStep(demoStep{order: 80, title: "pseudoterminal: a C program (crt/ptypeer.c) colours its output only on a terminal", run: demoPty})
	addDemoStep(demoStep{order: 81, title: "signals with values: a C daemon (crt/sigpeer.c) and Go exchange realtime signals", run: demoSig})
}

func demoPty(log func(string, ...any)) error {
	plain, err := runPeerOut("ptypeer", "color", "status: ok")
	if err != nil {
		return err
	}
	log("C   on a pipe:            %q", plain)
	cmd, err := peer.Command("ptypeer", "color", "status: ok")
	if err != nil {
		return err
	}
	p, err := pty.Start(cmd, &pty.Size{Rows: 24, Cols: 80})
	if err != nil {
		return err
	}
	defer p.Close()
	out, err := io.ReadAll(p) // ends with io.EOF when the program exits
	if err != nil {
		return err
	}
	if err := cmd.Wait(); err != nil {
		return err
	}
	log("C   on pseudoterminal %s: %q", p.Name(), out)
	log("    (the same program: isatty(1) decides; `posixipc pty run -- CMD` does this from a shell)")
	return nil
}

func demoSig(log func(string, ...any)) error {
	s := sig.RTMin() + 5
	r, err := sig.Take(s)
	if err != nil {
		return err
	}
	defer r.Close()
	cmd, err := peer.Command("sigpeer", "pong", strconv.Itoa(int(s)))
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return err
	}
	pid, _ := strconv.Atoi(strings.Fields(line)[1])
	log("C   daemon pid %d handles %s with SA_SIGINFO and answers each value v with v+1", pid, sig.Name(s))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t0 := time.Now()
	const n = 1000
	for v := 0; v < 2*n; v += 2 {
		if err := sig.Queue(pid, s, v); err != nil {
			return err
		}
		in, err := r.Receive(ctx)
		if err != nil {
			return err
		}
		if v == 0 || v == 2*n-2 {
			log("Go  sigqueue(%d, %s, %d) -> got %s code %d (SI_QUEUE) from pid %d uid %d value %d",
				pid, sig.Name(s), v, sig.Name(in.Signo), in.Code, in.Pid, in.UID, in.Value)
		}
	}
	log("Go  %d round trips, %v each (os/signal would have given the number only)", n, (time.Since(t0) / n).Round(100*time.Nanosecond))
	return nil
}
