//go:build linux && cgo

package bench

import (
	"fmt"
	"time"
)

// A handoff ring of three locks between two processes (the flock and rwlock
// primitives): the client holds locks 0 and 1, the server lock 2. One round
// trip, client side, step k: release k%3, which the server, waiting for it,
// takes; the server then releases (k+2)%3, which the client waits for. Two
// handoffs between processes, and neither side ever waits for the lock it
// has just released.

// lockRing is one side's three locks: lock takes lock i (exclusive, or a
// read lock on an rwlock server), unlock releases it.
type lockRing interface {
	lock(i int) error
	unlock(i int) error
}

// ringServe is the server side: it takes lock 2, says "ready", then forever
// takes lock k%3 and releases (k+2)%3.
func ringServe(r lockRing) error {
	if err := r.lock(2); err != nil {
		return err
	}
	fmt.Fprintln(Stdout, "ready")
	for k := 0; ; k++ {
		if err := r.lock(k % 3); err != nil {
			return err
		}
		if err := r.unlock((k + 2) % 3); err != nil {
			return err
		}
	}
}

// ringClient is the client side of one set-up: r holds locks 0 and 1 when
// it is made, and its position k lives on across blocks.
func ringClient(label string, r lockRing) benchConfig {
	k := 0
	return benchConfig{label: label, block: func(n int) ([]time.Duration, error) {
		lats := make([]time.Duration, n)
		for i := range lats {
			t0 := time.Now()
			if err := r.unlock(k % 3); err != nil {
				return nil, err
			}
			if err := r.lock((k + 2) % 3); err != nil {
				return nil, err
			}
			lats[i] = time.Since(t0)
			k++
		}
		return lats, nil
	}}
}
