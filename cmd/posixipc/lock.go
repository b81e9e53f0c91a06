//go:build linux && cgo

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/posixipc/posixipc/binding/flock"
)

const lockUsage = `posixipc lock PATH [--shared] [--range START:LEN] [--timeout DUR] -- CMD [ARGS...]
  Runs CMD while holding a lock on PATH (created if missing), like flock(1):
  without --range a whole-file flock(2) lock, with --range an OFD record lock
  (fcntl F_OFD_SETLK; LEN 0 = to the end of the file), which C programs'
  fcntl locks respect. Exclusive unless --shared. Waits for the lock (--timeout
  0: do not wait); exits 75 when the timeout expires, otherwise with CMD's
  status (128+N when a signal N ended it, 127 when CMD cannot be run). The
  lock is held by posixipc, not inherited by CMD; SIGINT, SIGTERM, SIGHUP and
  SIGQUIT are passed on to CMD.`

func init() {
	register(&command{
		name:    "lock",
		summary: "run a command holding a flock(2) or OFD record lock (like flock(1))",
		usage:   lockUsage,
		run:     runLock,
	})
}

func runLock(args []string) error {
	sep := -1
	for i, a := range args {
		if a == "--" {
			sep = i
			break
		}
	}
	if sep < 0 || sep == len(args)-1 {
		for _, a := range args {
			if isHelpFlag(a) {
				fmt.Fprintln(stdout, lockUsage)
				return flag.ErrHelp
			}
		}
		return usagef("missing -- CMD")
	}
	fs := flag.NewFlagSet("lock", flag.ContinueOnError)
	shared := fs.Bool("shared", false, "take a shared lock")
	rng := fs.String("range", "", "lock bytes START:LEN with an OFD record lock")
	tflag := timeoutFlag(fs)
	pos, err := parseFlags(fs, args[:sep], 1, 1)
	if err != nil {
		return err
	}
	timeoutV, err := timeoutOf(fs, tflag)
	if err != nil {
		return err
	}
	timeout := &timeoutV
	cmdArgs := args[sep+1:]
	var r flock.Range
	if *rng != "" {
		if r, err = flock.ParseRange(*rng); err != nil {
			return usagef("--range: %v", err)
		}
	}
	mode := flock.Exclusive
	if *shared {
		mode = flock.Shared
	}

	// Signals: while waiting they cancel the wait; while CMD runs they go to CMD.
	sigc := make(chan os.Signal, 4)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigc)

	f, err := flock.Open(pos[0])
	if err != nil && (*rng == "" || mode == flock.Shared) && (errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EISDIR)) {
		// As flock(1): a file this user may not write (or a directory) can
		// still take a flock(2) lock or a shared range lock read-only.
		f, err = flock.OpenFile(pos[0], os.O_RDONLY, 0)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if *timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	waitDone := make(chan struct{})
	var sig os.Signal
	go func() {
		select {
		case sig = <-sigc:
			cancel()
		case <-waitDone:
		}
	}()
	switch {
	case *timeout == 0 && *rng != "":
		err = f.TryLockRange(r, mode)
	case *timeout == 0:
		err = f.TryLock(mode)
	case *rng != "":
		err = f.LockRange(ctx, r, mode)
	default:
		err = f.Lock(ctx, mode)
	}
	close(waitDone)
	if err != nil {
		if sig != nil {
			return fmt.Errorf("interrupted by %v while waiting for the lock: %w", sig, err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("timed out after %v: %w", *timeout, err)
		}
		return err
	}

	c := exec.Command(cmdArgs[0], cmdArgs[1:]...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := c.Start(); err != nil {
		f.Close()
		fmt.Fprintf(stderr, "posixipc lock: %v\n", err)
		os.Exit(127)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigc:
				c.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = c.Wait()
	close(done)
	f.Close()
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return err
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		os.Exit(128 + int(ws.Signal()))
	}
	os.Exit(ee.ExitCode())
	return nil
}
