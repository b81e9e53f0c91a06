//go:build linux && cgo

package main

import (
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzParseFlags: any command line (arguments separated by NUL) and any
// positional bounds get a usage error or positionals within the bounds,
// drawn from the arguments in order, with everything after "--" verbatim.
func FuzzParseFlags(f *testing.F) {
	for _, s := range []struct {
		args     string
		min, max int8
	}{
		{"q\x00--prio\x003\x00msg", 2, 2}, {"--timeout\x001s\x00q", 1, 1}, {"--\x00-x\x00--", 0, -1},
		{"-n\x00a\x00b\x00c", 1, 2}, {"--prio", 0, 0}, {"--prio\x00x", 0, 0}, {"--mode=0600\x00q", 1, 1},
		{"---\x00-", 0, 5}, {"", 1, 0}, {"-h", 0, 0}, {"--timeout\x00-1h\x00--\x00--prio", 1, 1},
	} {
		f.Add(s.args, s.min, s.max)
	}
	saved := stdout
	stdout = io.Discard // the help that -h prints
	f.Cleanup(func() { stdout = saved })
	f.Fuzz(func(t *testing.T, line string, min, max int8) {
		var args []string
		if line != "" {
			args = strings.Split(line, "\x00")
		}
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.Uint("prio", 0, "")
		fs.Duration("timeout", 0, "")
		fs.String("mode", "0600", "")
		fs.Bool("n", false, "")
		pos, err := parseFlags(fs, slices.Clone(args), int(min), int(max))
		if err != nil {
			var ue *usageError
			if !errors.As(err, &ue) && !(errors.Is(err, flag.ErrHelp) && slices.ContainsFunc(args, isHelpFlag)) {
				t.Fatalf("%q: %v is neither a usage error nor a help request", args, err)
			}
			return
		}
		if len(pos) < int(min) || (max >= 0 && len(pos) > int(max)) {
			t.Fatalf("%q [%d,%d]: %d positionals", args, min, max, len(pos))
		}
		if i := slices.Index(args, "--"); i >= 0 {
			tail := args[i+1:]
			if len(pos) < len(tail) || !slices.Equal(pos[len(pos)-len(tail):], tail) {
				t.Fatalf("%q: positionals %q lost the tail %q", args, pos, tail)
			}
		}
		rest := args
		for _, p := range pos { // a subsequence of the arguments
			i := slices.Index(rest, p)
			if i < 0 {
				t.Fatalf("%q: positional %q is not an argument (in order)", args, p)
			}
			rest = rest[i+1:]
		}
	})
}

// FuzzParseMode: --mode takes octal permission bits only.
func FuzzParseMode(f *testing.F) {
	for _, s := range []string{"0600", "600", "0777", "1777", "0o600", "-1", "", "9", "07777777777777777777777"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseMode(s)
		if err != nil {
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Fatalf("%q: %v is not a usage error", s, err)
			}
			return
		}
		if m&^0o777 != 0 {
			t.Fatalf("%q: mode %o has bits beyond 0777", s, m)
		}
	})
}

// FuzzDispatch: a command line whose command is unknown, or a help request,
// ends with a usage status (2) or help (0) and never runs anything.
func FuzzDispatch(f *testing.F) {
	for _, s := range []string{"nosuch", "help\x00mq", "help\x00nosuch", "mq\x00nosuch", "sem\x00", "--help", "-h\x00x", "shm\x00--bad"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Split(line, "\x00")
		group, known := commands[args[0]]
		switch {
		case args[0] == "help" || args[0] == "-h" || args[0] == "--help":
		case !known:
		case group.name == "mq" || group.name == "sem" || group.name == "shm" || group.name == "mutex" || group.name == "fifo":
			// A group: only a missing subcommand, or a word that cannot be
			// one (subcommands are lowercase words), is safe to run.
			if len(args) > 1 && !notSubcommand(args[1]) {
				return
			}
		default:
			return // a real command: it would act on the system
		}
		oldOut, oldErr := stdout, stderr
		stdout, stderr = io.Discard, io.Discard
		defer func() { stdout, stderr = oldOut, oldErr }()
		done := make(chan int, 1)
		go func() { done <- run(args) }()
		select {
		case code := <-done:
			if code != exitOK && code != exitUsage {
				t.Fatalf("%q: exit %d, want 0 or 2", args, code)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%q: run hung", args)
		}
	})
}

// notSubcommand reports whether word cannot name a subcommand: it is empty
// or holds a byte other than a lowercase letter or '-'.
func notSubcommand(word string) bool {
	return word == "" || strings.Trim(word, "abcdefghijklmnopqrstuvwxyz-") != ""
}
