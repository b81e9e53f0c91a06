//go:build linux && cgo

package ring_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/posixipc/posixipc/binding/ring"
)

// A queue between a producer and a consumer (here in one process; a C
// program opens the same name with pir_open).
func Example() {
	name := fmt.Sprintf("/example-ring-%d", os.Getpid())
	p, err := ring.Create(name, os.O_WRONLY, 0o600, ring.Config{Slots: 64, Size: 256, Tag: 0x6a6f6273})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ring.Remove(name)
	defer p.Close()
	c, err := ring.Open(name, os.O_RDONLY, 0, &ring.Config{Tag: 0x6a6f6273})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, job := range []string{"resize a.png", "index b.txt"} {
		if err := p.Send(ctx, []byte(job)); err != nil {
			fmt.Println(err)
			return
		}
	}
	buf := make([]byte, c.SlotSize())
	for i := 0; i < 2; i++ {
		rec, err := c.Receive(ctx, buf)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%d %s\n", rec.Seq, buf[:rec.N])
	}
	// Output:
	// 0 resize a.png
	// 1 index b.txt
}

// Zero copy: the producer fills a slot of the mapping, the consumer reads
// the record where it lies.
func ExampleRing_Loan() {
	name := fmt.Sprintf("/example-ring-loan-%d", os.Getpid())
	p, err := ring.Create(name, os.O_WRONLY, 0o600, ring.Config{Slots: 8, Size: 4096})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ring.Remove(name)
	defer p.Close()
	c, err := ring.Open(name, os.O_RDONLY, 0, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx := context.Background()

	l, err := p.Loan(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	n := copy(l.Bytes(), "a frame, written in place")
	if err := l.Commit(n); err != nil {
		fmt.Println(err)
		return
	}

	v, err := c.Next(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q\n", v.Bytes()) // valid until Release
	if err := v.Release(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// "a frame, written in place"
}

// A broadcast ring: every subscriber sees every record from its joining;
// with Overwrite a subscriber that falls behind is told what it lost.
func ExampleRing_Receive_broadcast() {
	name := fmt.Sprintf("/example-ring-bcast-%d", os.Getpid())
	p, err := ring.Create(name, os.O_WRONLY, 0o600, ring.Config{Slots: 4, Size: 64, Mode: ring.Broadcast, Full: ring.Overwrite})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ring.Remove(name)
	defer p.Close()
	s, err := ring.Open(name, os.O_RDONLY, 0, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	ctx := context.Background()
	for i := 0; i < 6; i++ { // 6 records into 4 slots: the first 2 are overwritten
		p.Send(ctx, []byte(fmt.Sprint("tick ", i)))
	}
	buf := make([]byte, 64)
	rec, err := s.Receive(ctx, buf)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s (lost %d before it)\n", buf[:rec.N], rec.Lost)
	// Output:
	// tick 2 (lost 2 before it)
}

// An SPSC ring (one producer, one consumer: the fast path) and the batch
// calls, the way to stream small records: one fence and at most one
// wake-up per batch.
func ExampleRing_SendBatch() {
	name := fmt.Sprintf("/example-ring-batch-%d", os.Getpid())
	p, err := ring.Create(name, os.O_WRONLY, 0o600, ring.Config{Slots: 16, Size: 64, Mode: ring.SPSC})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ring.Remove(name)
	defer p.Close()
	c, err := ring.Open(name, os.O_RDONLY, 0, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	if _, err := ring.Open(name, os.O_WRONLY, 0, nil); errors.Is(err, ring.ErrBusy) {
		fmt.Println("a second producer: busy")
	}
	ctx := context.Background()

	n, err := p.SendBatch(ctx, [][]byte{[]byte("tick 1"), []byte("tick 2"), []byte("tick 3")})
	fmt.Println("sent", n, err)

	bufs := [][]byte{make([]byte, 64), make([]byte, 64), make([]byte, 64), make([]byte, 64)}
	recs := make([]ring.Record, len(bufs))
	n, err = c.ReceiveBatch(ctx, bufs, recs) // what is there, at least one
	for i := 0; i < n; i++ {
		fmt.Printf("%d %s\n", recs[i].Seq, bufs[i][:recs[i].N])
	}
	// Output:
	// a second producer: busy
	// sent 3 <nil>
	// 0 tick 1
	// 1 tick 2
	// 2 tick 3
}

// Zero-copy batches: loan several slots at once, fill them in place,
// publish them with one fence; view what is there and give it back with
// one fence.
func ExampleRing_LoanBatch() {
	name := fmt.Sprintf("/example-ring-zbatch-%d", os.Getpid())
	p, err := ring.Create(name, os.O_WRONLY, 0o600, ring.Config{Slots: 16, Size: 64, Mode: ring.SPSC})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ring.Remove(name)
	defer p.Close()
	c, err := ring.Open(name, os.O_RDONLY, 0, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx := context.Background()

	loans := make([]ring.Loan, 3)
	lens := make([]int, len(loans))
	n, err := p.LoanBatch(ctx, loans) // the free slots, at least one
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, l := range loans[:n] {
		lens[i] = copy(l.Bytes(), fmt.Sprintf("sample %d", i))
	}
	n, err = p.CommitBatch(loans[:n], lens[:n])
	fmt.Println("committed", n, err)

	views := make([]ring.View, 8)
	n, err = c.NextBatch(ctx, views) // the records there, at least one
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, v := range views[:n] {
		fmt.Printf("%d %s\n", v.Seq(), v.Bytes())
	}
	n, err = c.ReleaseBatch(views[:n])
	fmt.Println("released", n, err)
	// Output:
	// committed 3 <nil>
	// 0 sample 0
	// 1 sample 1
	// 2 sample 2
	// released 3 <nil>
}
