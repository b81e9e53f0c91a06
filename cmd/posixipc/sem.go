//go:build linux && cgo

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/posixipc/posixipc/binding/sem"
)

const semUsage = `posixipc sem create NAME [--value N] [--mode 0600] [--excl]
posixipc sem post   NAME [-n K]
posixipc sem wait   NAME [--timeout DUR] [--nonblock]    # exit 75: timed out or would block
posixipc sem value  NAME [--json]                        # prints the value
posixipc sem rm     NAME... | --all --prefix P`

func init() {
	register(&command{
		name:    "sem",
		summary: "POSIX named semaphores: create, post, wait, value, rm",
		usage:   semUsage,
		run: func(args []string) error {
			return subcommands("sem", map[string]func([]string) error{
				"create": semCreate, "post": semPost, "wait": semWait, "value": semValue, "rm": semRm,
			}, args)
		},
	})
}

func semCreate(args []string) error {
	fs := flag.NewFlagSet("sem create", flag.ContinueOnError)
	value := fs.Int("value", 0, "initial value")
	mode := fs.String("mode", "0600", "permission bits, octal")
	excl := fs.Bool("excl", false, "fail if the semaphore exists")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	perm, err := parseMode(*mode)
	if err != nil {
		return err
	}
	if *value < 0 || *value > sem.ValueMax {
		return usagef("--value %d: must be 0 to %d", *value, sem.ValueMax)
	}
	flag := os.O_CREATE
	if *excl {
		flag |= os.O_EXCL
	}
	s, err := sem.Open(pos[0], flag, perm, *value)
	if err != nil {
		return err
	}
	defer s.Close()
	// An existing semaphore is kept; its value may have moved since its
	// creation, so only a value different from the one asked is worth a word.
	if v, err := s.Value(); err == nil && given(fs, "value") && v != *value && !*excl {
		warnf("sem create", "%s has the value %d, not the %d asked (an existing semaphore is kept as it is; --excl fails instead)", s.Name(), v, *value)
	}
	return s.Close()
}

func semPost(args []string) error {
	fs := flag.NewFlagSet("sem post", flag.ContinueOnError)
	n := fs.Int("n", 1, "post K units")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *n < 1 {
		return usagef("-n %d: must be at least 1", *n)
	}
	s, err := sem.Open(pos[0], 0, 0, 0)
	if err != nil {
		return err
	}
	defer s.Close()
	for i := 0; i < *n; i++ {
		if err := s.Post(); err != nil {
			return fmt.Errorf("after %d of %d posts: %w", i, *n, err)
		}
	}
	return nil
}

func semWait(args []string) error {
	fs := flag.NewFlagSet("sem wait", flag.ContinueOnError)
	tflag := timeoutFlag(fs)
	nonblock := fs.Bool("nonblock", false, "fail at once when the value is 0 (exit 75); as --timeout 0")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	timeout, err := timeoutOf(fs, tflag)
	if err != nil {
		return err
	}
	*nonblock = *nonblock || timeout == 0
	s, err := sem.Open(pos[0], 0, 0, 0)
	if err != nil {
		return err
	}
	defer s.Close()
	if *nonblock {
		return s.TryWait()
	}
	ctx, cancel := timeoutCtx(timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = s.Wait(ctx)
	if err != nil && ctx.Err() == context.Canceled {
		return fmt.Errorf("interrupted: %w", err)
	}
	return err
}

func semValue(args []string) error {
	fs := flag.NewFlagSet("sem value", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, `{"name":"/x","value":N}`)
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	s, err := sem.Open(pos[0], 0, 0, 0)
	if err != nil {
		return err
	}
	defer s.Close()
	v, err := s.Value()
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(struct {
			Name  string `json:"name"`
			Value int    `json:"value"`
		}{s.Name(), v})
	}
	fmt.Fprintln(stdout, v)
	return nil
}

func semRm(args []string) error { return rmCommand("sem", args, sem.Unlink) }
