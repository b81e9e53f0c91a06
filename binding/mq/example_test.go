//go:build linux && cgo

package mq_test

import (
	"context"
	"fmt"
	"time"

	"github.com/posixipc/posixipc/binding/mq"
)

// A queue shared with C: a C program opens the same name with mq_open.
func Example() {
	q, err := mq.Create("/example-jobs", 0o600, &mq.Attr{MaxMsg: 8, MsgSize: 256})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mq.Unlink("/example-jobs")
	defer q.Close()

	ctx := context.Background()
	q.Send(ctx, []byte("routine"), 1)
	q.Send(ctx, []byte("urgent"), 9)

	buf := make([]byte, q.MsgSize())
	for i := 0; i < 2; i++ {
		n, prio, _ := q.Receive(ctx, buf)
		fmt.Printf("%d %s\n", prio, buf[:n])
	}
	// Output:
	// 9 urgent
	// 1 routine
}

// A receive that gives up after a deadline, measured on CLOCK_MONOTONIC.
func ExampleQueue_Receive_timeout() {
	q, err := mq.Create("/example-timeout", 0o600, &mq.Attr{MaxMsg: 1, MsgSize: 64})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mq.Unlink("/example-timeout")
	defer q.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, _, err = q.Receive(ctx, make([]byte, q.MsgSize()))
	fmt.Println(err)
	// Output: mq_receive /example-timeout: timed out: context deadline exceeded
}

// One notification when a message arrives on the empty queue.
func ExampleQueue_NotifyChan() {
	q, err := mq.Create("/example-notify", 0o600, &mq.Attr{MaxMsg: 4, MsgSize: 64})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mq.Unlink("/example-notify")
	defer q.Close()

	ch, _ := q.NotifyChan()
	q.Send(context.Background(), []byte("hello"), 0) // a C peer's mq_send does the same
	<-ch
	fmt.Println("notified")
	// Output: notified
}
