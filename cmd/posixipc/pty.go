//go:build linux && cgo

package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/posixipc/posixipc/binding/pty"
)

const ptyUsage = `posixipc pty run [--cols N --rows N] -- CMD ARGS...
         # runs CMD on a new pseudoterminal (its controlling terminal, new session): copies its
         # output to stdout and stdin to it, and exits with its status (like script -q -c, unbuffer);
         # with --cols/--rows CMD sees that size, else that of this terminal (followed on SIGWINCH);
         # exit 127: CMD not found, 128+N: CMD killed by signal N`

func init() {
	register(&command{
		name:    "pty",
		summary: "pseudoterminals: run a command on one (like script -q -c, unbuffer)",
		usage:   ptyUsage,
		run: func(args []string) error {
			return subcommands("pty", map[string]func([]string) error{"run": ptyRun}, args)
		},
	})
}

func ptyRun(args []string) error {
	fs := flag.NewFlagSet("pty run", flag.ContinueOnError)
	cols := fs.Uint("cols", 0, "the terminal's width in columns (with --rows)")
	rows := fs.Uint("rows", 0, "the terminal's height in rows (with --cols)")
	pos, err := parseFlags(fs, args, 1, -1)
	if err != nil {
		return err
	}
	if given(fs, "cols") != given(fs, "rows") || *cols > 65535 || *rows > 65535 {
		return usagef("--cols and --rows go together, each 1 to 65535")
	}
	in := int(os.Stdin.Fd())
	interactive := pty.IsTerminal(in)
	var size *pty.Size
	switch {
	case given(fs, "cols"):
		if *cols == 0 || *rows == 0 {
			return usagef("--cols and --rows go together, each 1 to 65535")
		}
		size = &pty.Size{Rows: uint16(*rows), Cols: uint16(*cols)}
	case !interactive:
		size = &pty.Size{Rows: 24, Cols: 80}
	}
	cmd := exec.Command(pos[0], pos[1:]...)
	p, err := pty.Start(cmd, size)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return &exitError{code: 127, msg: err.Error()} // as a shell says "not found"
		}
		return err
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if interactive {
		if size == nil {
			p.FollowSize(ctx, in)
		}
		if st, err := pty.MakeRaw(in); err == nil {
			defer pty.Restore(in, st)
		}
	}
	// Signals to this process go to the command.
	sigc := make(chan os.Signal, 4)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigc)
	go func() {
		for {
			select {
			case s := <-sigc:
				cmd.Process.Signal(s)
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		io.Copy(p, os.Stdin)
		if !interactive {
			p.Write([]byte{4}) // end of input: ^D, the terminal's EOF
		}
	}()
	_, cerr := io.Copy(stdout, p)
	werr := cmd.Wait()
	if cerr != nil && !errors.Is(cerr, os.ErrClosed) {
		return cerr
	}
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return &exitError{code: 128 + int(ws.Signal())}
		}
		return &exitError{code: ee.ExitCode()}
	}
	return werr
}
