//go:build linux && cgo

// Command posixipc-interop is the container side of the Docker interop check
// (testdata/docker/interop.sh): a Go process in a container shares a POSIX
// message queue and a named semaphore with a C peer (crt/dockerpeer.c) on the
// host, through docker run --ipc=host.
//
// It opens the queue and the semaphore the C peer created, receives the C
// peer's "ping:<nonce>" (priority 3), answers "pong:<nonce>:uid=<uid>"
// (priority 5) on the same queue, and posts the semaphore. Exit status 0 on
// success, 1 on a failed check, 3 when the queue does not exist (ENOENT):
// the expected result in a container with its own IPC namespace.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/posixipc/posixipc/binding/mq"
	"github.com/posixipc/posixipc/binding/sem"
)

func main() {
	queue := flag.String("mq", "", "queue name, e.g. /posixipc-docker-123")
	semName := flag.String("sem", "", "semaphore name")
	timeout := flag.Duration("timeout", 30*time.Second, "how long to wait for the C peer's message")
	flag.Parse()
	if *queue == "" || *semName == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: posixipc-interop -mq /NAME -sem /NAME [-timeout D]")
		os.Exit(2)
	}
	if err := run(*queue, *semName, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "posixipc-interop:", err)
		if errors.Is(err, fs.ErrNotExist) {
			os.Exit(3)
		}
		os.Exit(1)
	}
}

func run(queue, semName string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	q, err := mq.Open(queue, mq.O_RDWR, 0, nil)
	if err != nil {
		return err
	}
	defer q.Close()
	s, err := sem.Open(semName, 0, 0, 0)
	if err != nil {
		return err
	}
	defer s.Close()

	buf := make([]byte, q.MsgSize())
	n, prio, err := q.Receive(ctx, buf)
	if err != nil {
		return err
	}
	msg := string(buf[:n])
	nonce, ok := strings.CutPrefix(msg, "ping:")
	if !ok || prio != 3 {
		return fmt.Errorf("received %q with priority %d, want \"ping:<nonce>\" with priority 3", msg, prio)
	}
	reply := fmt.Sprintf("pong:%s:uid=%d", nonce, os.Getuid())
	if err := q.Send(ctx, []byte(reply), 5); err != nil {
		return err
	}
	if err := s.Post(); err != nil {
		return err
	}
	fmt.Printf("container (Go, uid %d): received %q (priority %d), sent %q (priority 5), posted %s\n",
		os.Getuid(), msg, prio, reply, semName)
	return nil
}
