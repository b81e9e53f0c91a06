//go:build linux && cgo

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/posixipc/posixipc/binding/sig"
)

const sigUsage = `posixipc sig send PID SIGNAL [--value N]     # sigqueue: SIGNAL a number or a name (USR1, RTMIN+5)
posixipc sig wait SIGNAL [--timeout DUR] [--json]
         # prints "ready PID" on stderr once it can receive, then the first signal's fields:
         # "signo N name S code C pid P uid U value V" (--json: {"signo":..,"name":..,"code":..,"pid":..,"uid":..,"value":..});
         # exit 75 on timeout`

func init() {
	register(&command{
		name:    "sig",
		summary: "signals that carry a value: send (sigqueue), wait (siginfo)",
		usage:   sigUsage,
		run: func(args []string) error {
			return subcommands("sig", map[string]func([]string) error{"send": sigSend, "wait": sigWait}, args)
		},
	})
}

func parseSignal(s string) (sig.Info, error) {
	n, err := sig.Parse(s)
	if err != nil {
		return sig.Info{}, usagef("%v", err)
	}
	return sig.Info{Signo: n}, nil
}

func sigSend(args []string) error {
	fs := flag.NewFlagSet("sig send", flag.ContinueOnError)
	value := fs.Int("value", 0, "the value the receiver finds in si_value (32 bits)")
	pos, err := parseFlags(fs, args, 2, 2)
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(pos[0])
	if err != nil || pid <= 0 {
		return usagef("PID %q: want a process id", pos[0])
	}
	s, err := parseSignal(pos[1])
	if err != nil {
		return err
	}
	if int64(*value) != int64(int32(*value)) {
		return usagef("--value %d: want a 32-bit integer", *value)
	}
	return sig.Queue(pid, s.Signo, *value)
}

func sigWait(args []string) error {
	fs := flag.NewFlagSet("sig wait", flag.ContinueOnError)
	tflag := timeoutFlag(fs)
	asJSON := fs.Bool("json", false, `one {"signo":..,"name":..,"code":..,"pid":..,"uid":..,"value":..} object`)
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	s, err := parseSignal(pos[0])
	if err != nil {
		return err
	}
	timeout, err := timeoutOf(fs, tflag)
	if err != nil {
		return err
	}
	r, err := sig.Take(s.Signo)
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Fprintf(stderr, "ready %d\n", os.Getpid())
	ctx, sigs, stop := waitCtx(timeout)
	in, err := r.Receive(ctx)
	if err := interrupted(err, "sig wait", sigs, stop); err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(struct {
			Signo int    `json:"signo"`
			Name  string `json:"name"`
			Code  int    `json:"code"`
			Pid   int    `json:"pid"`
			UID   int    `json:"uid"`
			Value int    `json:"value"`
		}{int(in.Signo), sig.Name(in.Signo), in.Code, in.Pid, in.UID, in.Value})
	}
	fmt.Fprintf(stdout, "signo %d name %s code %d pid %d uid %d value %d\n", int(in.Signo), sig.Name(in.Signo), in.Code, in.Pid, in.UID, in.Value)
	return nil
}
