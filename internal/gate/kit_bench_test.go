//go:build linux && cgo

package gate

import (
	"context"
	"testing"

	"github.com/posixipc/posixipc"
)

// BenchmarkBlockOverhead is the kit's own cost per blocking call that waits
// (Block, then a wait that returns at once): under a long-lived cancellable
// context (a service's), and under context.Background().
func BenchmarkBlockOverhead(b *testing.B) {
	for _, tc := range []struct {
		name  string
		timed bool
	}{{"timed", true}, {"untimed", false}} {
		b.Run(tc.name, func(b *testing.B) {
			k := NewWaiters(tc.timed)
			defer k.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			try := func() error { return WouldBlock }
			wait := func(posixipc.Waiter, int64) error { return nil }
			b.ReportAllocs()
			for b.Loop() {
				if err := k.Block(ctx, 1, try, wait); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
