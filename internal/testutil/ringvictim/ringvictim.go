//go:build linux && cgo

// Package ringvictim is the Go side of the ring's victims: helper
// processes that binding/ring's recovery tests and the fault matrix
// (internal/hardening) kill with a loan, a view or a wait out.
// crt/ringpeer.c has the same modes, with the same output lines, for the
// C side. A test binary serves them from its TestMain (testutil.RunHelper
// with Modes, or a helper switch that falls back to Run).
package ringvictim

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/posixipc/posixipc/binding/ring"
)

// Modes are the victims by mode name; each takes the ring's name.
var Modes = map[string]func(args []string) int{
	// send NAME COUNT PREFIX: send "PREFIX<i>" for i from 0 to COUNT-1,
	// by Sends and SendBatches of three in turn; say "done" (ringpeer's
	// send sends one at a time).
	"send": func(args []string) int {
		if len(args) != 3 {
			return fail(fmt.Errorf("want NAME COUNT PREFIX; got %q", args))
		}
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return fail(err)
		}
		r, err := ring.Open(args[0], os.O_WRONLY, 0, nil)
		if err != nil {
			return fail(err)
		}
		ctx := context.Background()
		for i := 0; i < n; {
			if i%2 == 0 {
				if err := r.Send(ctx, []byte(fmt.Sprint(args[2], i))); err != nil {
					return fail(err)
				}
				i++
				continue
			}
			var b [][]byte
			for j := i; j < min(i+3, n); j++ {
				b = append(b, []byte(fmt.Sprint(args[2], j)))
			}
			k, err := r.SendBatch(ctx, b)
			if err != nil {
				return fail(err)
			}
			i += k
		}
		fmt.Println("done")
		return 0
	},
	// loan-hold NAME: loan a slot, write "held" into it (never committed),
	// say "loaned SEQ", wait to be killed.
	"loan-hold": func(args []string) int {
		r, err := open(args, os.O_WRONLY)
		if err != nil {
			return fail(err)
		}
		l, err := r.Loan(context.Background())
		if err != nil {
			return fail(err)
		}
		copy(l.Bytes(), "held")
		fmt.Println("loaned", l.Seq())
		select {}
	},
	// batch-hold NAME: take three loans in one LoanBatch, write "held"
	// into each, say "loaned FIRST LAST", wait to be killed.
	"batch-hold": func(args []string) int {
		r, err := open(args, os.O_WRONLY)
		if err != nil {
			return fail(err)
		}
		var loans [3]ring.Loan
		n, err := r.LoanBatch(context.Background(), loans[:])
		if err != nil {
			return fail(err)
		}
		for _, l := range loans[:n] {
			copy(l.Bytes(), "held")
		}
		fmt.Println("loaned", loans[0].Seq(), loans[n-1].Seq())
		select {}
	},
	// view-hold NAME: say "ready", take a record, say "viewing SEQ TEXT",
	// wait to be killed.
	"view-hold": func(args []string) int {
		r, err := open(args, os.O_RDONLY)
		if err != nil {
			return fail(err)
		}
		fmt.Println("ready")
		v, err := r.Next(context.Background())
		if err != nil {
			return fail(err)
		}
		fmt.Println("viewing", v.Seq(), string(v.Bytes()))
		select {}
	},
	// recv-one NAME: say "receiving", receive one record without spinning
	// (asleep in the futex wait, where a test kills it), say its text.
	"recv-one": func(args []string) int {
		r, err := open(args, os.O_RDONLY)
		if err != nil {
			return fail(err)
		}
		fmt.Println("receiving")
		r.SetSpin(0)
		buf := make([]byte, r.SlotSize())
		rec, err := r.Receive(context.Background(), buf)
		if err != nil {
			return fail(err)
		}
		fmt.Println(string(buf[:rec.N]))
		r.Close()
		return 0
	},
}

// Run runs victim mode with args; ok is false when there is no such mode.
func Run(mode string, args []string) (status int, ok bool) {
	f, ok := Modes[mode]
	if !ok {
		return 0, false
	}
	return f(args), true
}

func open(args []string, flag int) (*ring.Ring, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("want one argument, the ring's name; got %q", args)
	}
	return ring.Open(args[0], flag, 0, nil)
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "ringvictim:", err)
	return 1
}
