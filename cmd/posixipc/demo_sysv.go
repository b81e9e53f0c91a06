//go:build linux && cgo

package main

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/posixipc/posixipc/binding/sysvmsg"
	"github.com/posixipc/posixipc/binding/sysvsem"
	"github.com/posixipc/posixipc/internal/peer"
)

func init() {
	addDemoStep(demoStep{order: 25, title: "System V message queue: Go feeds a pool of C workers (crt/sysvpeer.c) by message type", run: demoMsg})
	addDemoStep(demoStep{order: 26, title: "System V semaphore set: an atomic two-semaphore hand-off, and a C holder killed with SEM_UNDO units", run: demoSemset})
}

func demoMsg(log func(string, ...any)) error {
	q, err := sysvmsg.Open(sysvmsg.Private, os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer q.Close()
	defer q.Remove()
	id := strconv.Itoa(q.ID())
	log("Go created private queue msqid %s", id)
	// Two C workers: type 1 jobs go to one, type 2 jobs to the other; both
	// reply with type 100.
	for _, typ := range []string{"1", "2"} {
		cmd, err := peer.Command("sysvpeer", "msg-worker", id, typ, "100")
		if err != nil {
			return err
		}
		if err := peer.StartReady("worker "+typ, cmd); err != nil {
			return err
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
	}
	log("C   two workers block in msgrcv, one for type 1, one for type 2")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	jobs := []struct {
		typ  int64
		text string
	}{{1, "resize a.png"}, {2, "index b.txt"}, {1, "resize c.png"}}
	for _, j := range jobs {
		if err := q.Send(ctx, j.typ, []byte(j.text)); err != nil {
			return err
		}
		log("Go  msgsnd type %d %q", j.typ, j.text)
	}
	buf := make([]byte, 256)
	for range jobs {
		n, typ, err := q.Receive(ctx, buf, 100, 0)
		if err != nil {
			return err
		}
		log("Go  msgrcv type %d: %q (the C worker prefixes its type)", typ, buf[:n])
	}
	return nil
}

func demoSemset(log func(string, ...any)) error {
	s, err := sysvsem.Open(sysvsem.Private, os.O_CREATE, 0o600, []int{1, 0})
	if err != nil {
		return err
	}
	defer s.Close()
	defer s.Remove()
	id := strconv.Itoa(s.ID())
	log("Go created set semid %s: [free=1 done=0]", id)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Do(ctx, sysvsem.Op{Num: 0, Delta: -1}, sysvsem.Op{Num: 1, Delta: 1}); err != nil {
		return err
	}
	v, _ := s.Values()
	log("Go  semop {0,-1} {1,+1} in one atomic step: %v", v)
	out, err := runPeerOut("sysvpeer", "sem-op", id, "0", "1:-1", "0:+1")
	if err != nil {
		return err
	}
	v, _ = s.Values()
	log("C   semop {1,-1} {0,+1}: %s, now %v", strings.Fields(out)[len(strings.Fields(out))-1], v)

	// A C holder takes the free unit with SEM_UNDO and is killed.
	cmd, err := peer.Command("sysvpeer", "sem-op", id, "60000", "0:-1u")
	if err != nil {
		return err
	}
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	sc := bufio.NewScanner(pipe)
	for sc.Scan() && sc.Text() != "ok" {
	}
	v, _ = s.Values()
	log("C   pid %d took the unit with SEM_UNDO: %v", cmd.Process.Pid, v)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	t0 := time.Now()
	if err := s.Do(ctx, sysvsem.Op{Num: 0, Delta: -1}); err != nil {
		return err
	}
	log("C   killed with SIGKILL; the kernel gave its unit back and Go took it %v later", time.Since(t0).Round(time.Microsecond))
	return s.Do(ctx, sysvsem.Op{Num: 0, Delta: 1})
}
