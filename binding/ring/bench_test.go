//go:build linux && cgo

package ring_test

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/posixipc/posixipc/binding/ring"
	"github.com/posixipc/posixipc/internal/bench/benchtest"
)

// BenchmarkRoundTrip: a 64-byte record out and back over two rings between
// two processes, with the lab's own set-ups (internal/bench, as `posixipc
// bench` runs them): ns/op is Go against a C peer; the metrics are every
// set-up's ns per round trip (C↔C, Go↔C, Go↔Go, blocking only, iceoryx when
// installed, the message queue's C↔C).
func BenchmarkRoundTrip(b *testing.B) { benchtest.RoundTrips(b, "ring") }

// The cost of the calls themselves, one goroutine, no peer: a record
// through a ring and back out of it (make bench-go).
func BenchmarkSendReceive(b *testing.B) {
	for _, size := range []int{64, 4096} {
		b.Run(sizeName(size), func(b *testing.B) { sendReceive(b, ring.Config{Slots: 64, Size: size}) })
	}
}

// sendReceive is one producer's Send and one consumer's Receive of a
// SlotSize record per op, in one goroutine, on a ring of shape cfg.
func sendReceive(b *testing.B, cfg ring.Config) {
	name, p := create(b, os.O_WRONLY, cfg)
	c := open(b, name, os.O_RDONLY, nil)
	msg, buf := make([]byte, cfg.Size), make([]byte, cfg.Size)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.SetBytes(int64(cfg.Size))
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Send(ctx, msg); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Receive(ctx, buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoanCommitNextRelease(b *testing.B) {
	for _, mode := range []ring.Mode{ring.Queue, ring.SPSC} {
		for _, size := range []int{64, 4096} {
			b.Run(mode.String()+"-"+sizeName(size), func(b *testing.B) { loanCommitNextRelease(b, mode, size) })
		}
	}
}

// loanCommitNextRelease is one record through Loan, copy, Commit, Next and
// Release per op, in one goroutine.
func loanCommitNextRelease(b *testing.B, mode ring.Mode, size int) {
	name, p := create(b, os.O_WRONLY, ring.Config{Slots: 64, Size: size, Mode: mode})
	c := open(b, name, os.O_RDONLY, nil)
	src := make([]byte, size)
	ctx := context.Background()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		l, err := p.Loan(ctx)
		if err != nil {
			b.Fatal(err)
		}
		copy(l.Bytes(), src)
		if err := l.Commit(size); err != nil {
			b.Fatal(err)
		}
		v, err := c.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := v.Release(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBroadcastSendReceive(b *testing.B) {
	sendReceive(b, ring.Config{Slots: 64, Size: 64, Mode: ring.Broadcast})
}

func sizeName(n int) string {
	if n >= 1024 {
		return strconv.Itoa(n/1024) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// BenchmarkSendReceiveBatch: a batch of 32 64-byte records through an
// SPSC ring and back out, per op, in one goroutine (the batch calls'
// own cost; the cross-process streams are posixipc bench's ring-64 rows).
func BenchmarkSendReceiveBatch(b *testing.B) {
	const n, size = 32, 64
	name, p := create(b, os.O_WRONLY, ring.Config{Slots: 64, Size: size, Mode: ring.SPSC})
	c := open(b, name, os.O_RDONLY, nil)
	recs, bufs := make([][]byte, n), make([][]byte, n)
	for i := range recs {
		recs[i], bufs[i] = make([]byte, size), make([]byte, size)
	}
	out := make([]ring.Record, n)
	ctx := context.Background()
	b.SetBytes(n * size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.SendBatch(ctx, recs); err != nil {
			b.Fatal(err)
		}
		if k, err := c.ReceiveBatch(ctx, bufs, out); err != nil || k != n {
			b.Fatal(k, err)
		}
	}
}

// BenchmarkZeroCopyBatch: a batch of 32 64-byte records loaned, filled
// and committed (LoanBatch, CommitBatch), then viewed and given back
// (NextBatch, ReleaseBatch), per op, in one goroutine through an SPSC ring.
func BenchmarkZeroCopyBatch(b *testing.B) {
	const n, size = 32, 64
	name, p := create(b, os.O_WRONLY, ring.Config{Slots: 64, Size: size, Mode: ring.SPSC})
	c := open(b, name, os.O_RDONLY, nil)
	loans, views := make([]ring.Loan, n), make([]ring.View, n)
	lens := make([]int, n)
	src := make([]byte, size)
	for i := range lens {
		lens[i] = size
	}
	ctx := context.Background()
	b.SetBytes(n * size)
	b.ReportAllocs()
	for b.Loop() {
		if k, err := p.LoanBatch(ctx, loans); err != nil || k != n {
			b.Fatal(k, err)
		}
		for _, l := range loans {
			copy(l.Bytes(), src)
		}
		if _, err := p.CommitBatch(loans, lens); err != nil {
			b.Fatal(err)
		}
		if k, err := c.NextBatch(ctx, views); err != nil || k != n {
			b.Fatal(k, err)
		}
		if _, err := c.ReleaseBatch(views); err != nil {
			b.Fatal(err)
		}
	}
}
