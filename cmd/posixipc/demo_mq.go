//go:build linux && cgo

package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/posixipc/posixipc/binding/mq"
	"github.com/posixipc/posixipc/internal/peer"
)

func init() {
	addDemoStep(demoStep{order: 10, title: "POSIX message queue: Go and a C program (crt/mqpeer.c) exchange messages by priority, with mq_notify", run: demoMQ})
}

func demoMQ(log func(string, ...any)) error {
	name := fmt.Sprintf("/posixipc-demo-%d", os.Getpid())
	q, err := mq.Create(name, 0o600, &mq.Attr{MaxMsg: 8, MsgSize: 128})
	if err != nil {
		return err
	}
	defer mq.Unlink(name)
	defer q.Close()
	log("Go created queue %s (maxmsg 8, msgsize 128)", name)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	for _, m := range []struct {
		text string
		prio uint
	}{{"routine report", 1}, {"URGENT: disk full", 9}, {"normal job", 5}} {
		if err := q.Send(ctx, []byte(m.text), m.prio); err != nil {
			return err
		}
		log("Go  -> queue   prio %d  %q", m.prio, m.text)
	}
	out, err := runPeerOut("mqpeer", "recv", name, "3", "5000")
	if err != nil {
		return err
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.SplitN(l, " ", 3)
		if len(f) == 3 {
			log("C   <- queue   prio %s  %q   (mq_receive in C: highest priority first)", f[0], f[2])
		}
	}

	ch, err := q.NotifyChan()
	if err != nil {
		return err
	}
	log("Go registered mq_notify (SIGEV_THREAD) on the empty queue")
	if _, err := runPeerOut("mqpeer", "send", name, "7", "hello from C"); err != nil {
		return err
	}
	select {
	case <-ch:
		log("Go was notified: the queue went from empty to non-empty")
	case <-ctx.Done():
		return fmt.Errorf("no notification: %w", ctx.Err())
	}
	buf := make([]byte, q.MsgSize())
	n, prio, err := q.Receive(ctx, buf)
	if err != nil {
		return err
	}
	log("Go  <- queue   prio %d  %q", prio, buf[:n])

	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	start := time.Now()
	_, _, err = q.Receive(short, buf)
	log("Go receive on the empty queue with a 50ms deadline: %v after %v", err, time.Since(start).Round(time.Millisecond))
	log("queue removed (mq_unlink)")
	return nil
}

// runPeerOut runs a C peer of crt/ (built on first use) and returns its
// standard output (peer.Output).
func runPeerOut(name string, args ...string) (string, error) { return peer.Output(name, args...) }
