//go:build linux && cgo

package main

import (
	"flag"
	"fmt"
	"sort"
)

// demoStep is one step of `posixipc demo`: Go and a C peer use one facility
// together and the step prints what happened. Facilities add their steps from
// init with addDemoStep.
type demoStep struct {
	order int // steps run in ascending order
	title string
	run   func(log func(format string, a ...any)) error
}

var demoSteps []demoStep

func addDemoStep(s demoStep) { demoSteps = append(demoSteps, s) }

func init() {
	register(&command{
		name:    "demo",
		summary: "Go and C peers share every facility; prints what happened",
		usage:   "posixipc demo",
		run:     runDemo,
	})
}

func runDemo(args []string) error {
	if _, err := parseFlags(flag.NewFlagSet("demo", flag.ContinueOnError), args, 0, 0); err != nil {
		return err
	}
	if len(args) > 0 {
		return usagef("demo takes no arguments")
	}
	sort.SliceStable(demoSteps, func(i, j int) bool { return demoSteps[i].order < demoSteps[j].order })
	for i, s := range demoSteps {
		fmt.Fprintf(stdout, "\n== %d. %s\n", i+1, s.title)
		log := func(format string, a ...any) { fmt.Fprintf(stdout, "   "+format+"\n", a...) }
		if err := s.run(log); err != nil {
			return fmt.Errorf("demo step %q: %w", s.title, err)
		}
	}
	fmt.Fprintf(stdout, "\ndemo finished: %d steps, every object removed\n", len(demoSteps))
	return nil
}
