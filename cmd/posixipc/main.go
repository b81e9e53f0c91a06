//go:build linux && cgo

// Command posixipc inspects and drives POSIX IPC objects from a shell: message
// queues, semaphores, shared memory, process-shared mutexes, FIFOs and file
// locks, and runs the demo and the benchmark report.
//
// Exit status: 0 on success, 1 on error (the message, with the system's own
// wording, goes to stderr), 2 on a usage error, 75 (EX_TEMPFAIL) when a
// timeout expires or a non-blocking call would block. Object names may be
// given with or without the leading '/'.
//
// Run `posixipc help` for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/posixipc/posixipc"
	"golang.org/x/sys/unix"
)

// Exit codes.
const (
	exitOK      = 0
	exitErr     = 1
	exitUsage   = 2
	exitTempErr = 75 // a timeout expired or the call would block
)

// command is one top-level command, e.g. "mq" or "demo".
type command struct {
	name    string
	summary string // one line for `posixipc help`
	usage   string // the full synopsis
	run     func(args []string) error
}

var commands = map[string]*command{}

// register adds a top-level command; facilities call it from init.
func register(c *command) { commands[c.name] = c }

// usageError is an error in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

var stdout io.Writer = os.Stdout
var stderr io.Writer = os.Stderr

func main() { os.Exit(run(os.Args[1:])) }

// run executes one command line and returns the exit status.
func run(args []string) int {
	if len(args) == 1 && args[0] == "--version" {
		args = []string{"version"}
	}
	if len(args) == 0 || args[0] == "help" || isHelpFlag(args[0]) {
		if len(args) > 1 {
			c, ok := commands[args[1]]
			if !ok {
				fmt.Fprintf(stderr, "posixipc help: unknown command %q (see posixipc help)\n", args[1])
				return exitUsage
			}
			fmt.Fprintln(stdout, c.usage)
			return exitOK
		}
		printHelp(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "posixipc: unknown command %q (see posixipc help)\n", args[0])
		return exitUsage
	}
	err := c.run(args[1:])
	return report(err, c)
}

// report prints err and maps it to an exit status.
func report(err error, c *command) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "posixipc %s: %s\nusage:\n%s\n", c.name, ue.msg, c.usage)
		return exitUsage
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintf(stderr, "posixipc %s: %s\n", c.name, ee.msg)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "posixipc %s: %s\n", c.name, systemWording(err))
	if isTempErr(err) {
		return exitTempErr
	}
	return exitErr
}

// systemWording returns err's message with the errno in the C library's
// wording ("File exists", not Go's "file exists"), as scripts that also
// drive C tools expect.
func systemWording(err error) string {
	msg := err.Error()
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return msg
	}
	s := errno.Error()
	i := strings.LastIndex(msg, s)
	if i < 0 || s == "" {
		return msg
	}
	return msg[:i] + posixipc.Strerror(errno) + msg[i+len(s):]
}

// exitError ends the command with code, after printing msg (if any) on
// stderr: a command interrupted by signal N exits 128+N, as a shell's do.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// signalExit is the exit of a command that a signal interrupted.
func signalExit(sig os.Signal, what string) error {
	n, name := 0, sig.String()
	if s, ok := sig.(syscall.Signal); ok {
		n, name = int(s), unix.SignalName(s)
	}
	return &exitError{128 + n, what + ": interrupted by " + name}
}

// isTempErr reports a timeout or a would-block condition.
func isTempErr(err error) bool {
	return errors.Is(err, syscall.ETIMEDOUT) || errors.Is(err, syscall.EAGAIN) ||
		errors.Is(err, context.DeadlineExceeded)
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "usage: posixipc COMMAND [ARGS]   (names with or without the leading '/')")
	fmt.Fprintln(w, "exit status: 0 ok, 1 error, 2 usage, 75 timeout or would block")
	fmt.Fprintln(w)
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if c.summary != "" { // commands without a summary are internal
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nposixipc help COMMAND shows a command's synopsis.")
}

// isHelpFlag reports the flags that ask for help.
func isHelpFlag(a string) bool { return a == "-h" || a == "--h" || a == "-help" || a == "--help" }

// subcommands dispatches args[0] among subs for a command group such as "mq".
// "help", -h and --help print the group's synopsis.
func subcommands(group string, subs map[string]func([]string) error, args []string) error {
	if len(args) == 0 {
		return usagef("missing subcommand")
	}
	if args[0] == "help" || isHelpFlag(args[0]) {
		fmt.Fprintln(stdout, commands[group].usage)
		return flag.ErrHelp
	}
	f, ok := subs[args[0]]
	if !ok {
		return usagef("unknown subcommand %q", args[0])
	}
	return f(args[1:])
}

// printFlagHelp prints the synopsis of the (sub)command of fs, taken from
// its command's usage, and every flag of fs with its text.
func printFlagHelp(fs *flag.FlagSet) {
	words := strings.Fields(fs.Name())
	if c, ok := commands[words[0]]; ok {
		in := false
		for _, line := range strings.Split(c.usage, "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) > len(words) && f[0] == "posixipc" && slices.Equal(f[1:1+len(words)], words):
				in = true
			case strings.HasPrefix(line, " ") && in: // a continuation
			default:
				in = false
			}
			if in {
				fmt.Fprintln(stdout, line)
			}
		}
	}
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if first {
			fmt.Fprintln(stdout, "flags:")
			first = false
		}
		typ, text := flag.UnquoteUsage(f)
		if t, ok := f.Value.(interface{ Type() string }); ok {
			typ = t.Type()
		}
		name := "--" + f.Name
		if len(f.Name) == 1 {
			name = "-" + f.Name
		}
		if typ != "" {
			name += " " + strings.ToUpper(typ)
		}
		if d := f.DefValue; d != "" && d != "false" && d != "0" && d != "-1" && d != "-1ns" && d != "0s" {
			text += " (default " + d + ")"
		}
		fmt.Fprintf(stdout, "  %-22s %s\n", name, text)
	})
}

// parseFlags parses args with fs, allowing flags after positional arguments
// (`mq send NAME --prio 3 MSG`); everything after "--" is positional as it
// is. It returns the positional arguments and checks their count is between
// min and max (max < 0: no limit).
func parseFlags(fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	fs.SetOutput(io.Discard)
	var tail []string
	for i, a := range args {
		if a == "--" {
			args, tail = args[:i], args[i+1:]
			break
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				printFlagHelp(fs)
				return nil, flag.ErrHelp
			}
			return nil, usagef("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	pos = append(pos, tail...)
	if len(pos) < min || (max >= 0 && len(pos) > max) {
		switch {
		case max == min:
			return nil, usagef("want %d argument(s), got %d", min, len(pos))
		case max < 0:
			return nil, usagef("want at least %d argument(s), got %d", min, len(pos))
		default:
			return nil, usagef("want %d to %d arguments, got %d", min, max, len(pos))
		}
	}
	return pos, nil
}

// canon returns an IPC name with exactly one leading '/'.
func canon(n string) string { return "/" + strings.TrimLeft(n, "/") }
