//go:build linux && cgo

package main

// The benchmark commands: thin, the lab is internal/bench.

import (
	"flag"
	"os"

	"github.com/posixipc/posixipc/internal/bench"
)

func init() {
	bench.ParseFlags = func(fs *flag.FlagSet, args []string) error {
		_, err := parseFlags(fs, args, 0, 0)
		return err
	}
	register(&command{
		name:    "bench",
		summary: "one benchmark report for every primitive: Go vs C round trips (p50/p99/p99.9)",
		usage:   "posixipc bench [--json] [--quick] [--only NAME,...] [--rounds N] [--block K]",
		run:     func(args []string) error { return benchErr(bench.Run(args)) },
	})
	register(&command{
		name:  "bench-peer",
		usage: "posixipc bench-peer KIND ARGS   (internal: the far side of a benchmark)",
		run:   func(args []string) error { return benchErr(bench.Peer(args)) },
	})
	register(&command{
		name:    "bench-chart",
		summary: "render a `bench --json` report (stdin) as an SVG chart or a Markdown table (stdout)",
		usage:   "posixipc bench-chart [--markdown] < bench.json > bench.svg",
		run:     func(args []string) error { return benchErr(bench.Chart(args, os.Stdin)) },
	})
}

// benchErr turns the lab's usage errors into the CLI's (exit 2).
func benchErr(err error) error {
	if ue, ok := err.(*bench.UsageError); ok {
		return &usageError{ue.Msg}
	}
	return err
}
