//go:build linux && cgo

package bench

import (
	"fmt"
	"os"
	"time"
)

// Config is one round-trip set-up of a primitive, as posixipc bench runs
// it: Label is "c-c", "go-c", "go-go" or "cgo"; Block runs k round trips and
// returns each one's latency.
type Config struct {
	Label string
	Block func(k int) ([]time.Duration, error)
}

// Setup starts the round-trip set-ups of primitive name (its peers, its
// objects) and returns them with the cleanup that stops and removes
// everything. The binding packages' testing.B benchmarks use it, so that
// one set-up serves `posixipc bench` and `go test -bench` alike; their test
// binary must call ServePeer first in TestMain.
func Setup(name string) ([]Config, func(), error) {
	for _, p := range benchPrims {
		if p.name != name {
			continue
		}
		cs, _, cleanup, err := p.setup()
		if err != nil {
			return nil, nil, err
		}
		out := make([]Config, len(cs))
		for i, c := range cs {
			out[i] = Config{Label: c.label, Block: c.block}
		}
		return out, cleanup, nil
	}
	return nil, nil, fmt.Errorf("bench: no primitive %q", name)
}

// Stream is one streaming set-up of a primitive: Run moves bytes one way
// and returns how many in what time (quick: fewer).
type Stream struct {
	Label string
	Run   func(quick bool) (bytes int64, d time.Duration, err error)
}

// SetupStreams is Setup for the streaming set-ups of primitive name.
func SetupStreams(name string) ([]Stream, func(), error) {
	for _, p := range benchPrims {
		if p.name != name {
			continue
		}
		_, ss, cleanup, err := p.setup()
		if err != nil {
			return nil, nil, err
		}
		out := make([]Stream, len(ss))
		for i, s := range ss {
			out[i] = Stream{Label: s.label, Run: s.run}
		}
		return out, cleanup, nil
	}
	return nil, nil, fmt.Errorf("bench: no primitive %q", name)
}

// ServePeer makes this process a lab peer when it was started as one
// (`EXE bench-peer KIND ARGS`, which is how Setup starts its Go peers): it
// serves and exits. Otherwise it returns at once.
func ServePeer() {
	if len(os.Args) < 2 || os.Args[1] != "bench-peer" {
		return
	}
	if err := Peer(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench-peer:", err)
		os.Exit(1)
	}
	os.Exit(0)
}
