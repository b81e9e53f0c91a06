//go:build linux && cgo

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/posixipc/posixipc/binding/pthread"
	"github.com/posixipc/posixipc/binding/shm"
)

const mutexUsage = `posixipc mutex init  SEG --offset O [--type errorcheck|normal|recursive] [--stalled] [--force]
posixipc mutex lock  SEG --offset O [--hold DUR] [--timeout DUR]  # lock, hold, unlock; recovers a dead holder's lock ("owner died")
posixipc mutex state SEG --offset O [--json]
SEG is a POSIX shared memory segment (posixipc shm create); O a multiple of 8 (the mutex's alignment).`

func init() {
	register(&command{
		name:    "mutex",
		summary: "process-shared robust pthread mutex in shared memory: init, lock, state",
		usage:   mutexUsage,
		run: func(args []string) error {
			return subcommands("mutex", map[string]func([]string) error{
				"init": mutexInit, "lock": mutexLock, "state": mutexState,
			}, args)
		},
	})
}

// mutexFlags parses SEG --offset O (plus the caller's flags) and opens the
// segment.
func mutexFlags(name string, args []string, extra func(*flag.FlagSet)) (*shm.Segment, int, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	off := fs.Int("offset", -1, "byte offset of the mutex in the segment (required)")
	if extra != nil {
		extra(fs)
	}
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return nil, 0, err
	}
	if *off < 0 {
		return nil, 0, usagef("--offset O is required and must not be negative")
	}
	seg, err := shm.Open(pos[0])
	if err != nil {
		return nil, 0, err
	}
	return seg, *off, nil
}

func mutexInit(args []string) error {
	var typ string
	var stalled, force bool
	seg, off, err := mutexFlags("mutex init", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&force, "force", false, "re-initialise even a locked mutex")
		fs.StringVar(&typ, "type", "errorcheck", "errorcheck, normal or recursive")
		fs.BoolVar(&stalled, "stalled", false, "not robust (a dead holder's lock stays held)")
	})
	if err != nil {
		return err
	}
	defer seg.Close()
	opts := &pthread.MutexOptions{Stalled: stalled}
	switch typ {
	case "errorcheck":
		opts.Type = pthread.ErrorCheck
	case "normal":
		opts.Type = pthread.Normal
	case "recursive":
		opts.Type = pthread.Recursive
	default:
		return usagef("--type %q: want errorcheck, normal or recursive", typ)
	}
	// Re-initialising a mutex in use is undefined behaviour: refuse when the
	// bytes there are a process-shared mutex that is locked.
	if old, err := pthread.MutexAt(seg, int64(off)); err == nil {
		st, _ := old.State()
		old.Close()
		if st.Locked && !force {
			return fmt.Errorf("mutex init %s at offset %d: it is %v; not re-initialising a mutex in use (--force to do it anyway): %w", seg.Name(), off, st, syscall.EBUSY)
		}
	}
	m, err := pthread.NewMutex(seg, int64(off), opts)
	if err != nil {
		return err
	}
	return m.Close()
}

func mutexLock(args []string) error {
	var hold time.Duration
	var tflag *time.Duration
	var lfs *flag.FlagSet
	seg, off, err := mutexFlags("mutex lock", args, func(fs *flag.FlagSet) {
		fs.DurationVar(&hold, "hold", 0, "how long to hold the lock")
		tflag, lfs = timeoutFlag(fs), fs
	})
	if err != nil {
		return err
	}
	defer seg.Close()
	timeout, err := timeoutOf(lfs, tflag)
	if err != nil {
		return err
	}
	if hold < 0 {
		return usagef("--hold must not be negative")
	}
	m, err := mutexAt(seg, off)
	if err != nil {
		return err
	}
	defer m.Close()
	// SIGINT, SIGTERM, SIGHUP: stop waiting, or stop holding and unlock;
	// then exit 128+N as an interrupted command does.
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got os.Signal
	go func() {
		select {
		case got = <-sigc:
			cancel()
		case <-ctx.Done():
		}
	}()
	lctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		lctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if timeout == 0 {
		err = m.TryLock()
	} else {
		err = m.Lock(lctx)
	}
	if errors.Is(err, pthread.ErrOwnerDead) {
		fmt.Fprintln(stdout, "owner died")
		err = m.MarkConsistent()
		if err != nil {
			m.Unlock()
		}
	}
	if err != nil {
		if ctx.Err() != nil && got != nil {
			return signalExit(got, "waiting for the lock")
		}
		return err
	}
	if hold > 0 {
		select {
		case <-time.After(hold):
		case <-ctx.Done(): // interrupted: still unlock
		}
	}
	if err := m.Unlock(); err != nil {
		return err
	}
	if ctx.Err() != nil && got != nil {
		return signalExit(got, "holding the lock (unlocked)")
	}
	return nil
}

// mutexAt is pthread.MutexAt with the shell user's remedy in its error.
func mutexAt(seg *shm.Segment, off int) (*pthread.Mutex, error) {
	m, err := pthread.MutexAt(seg, int64(off))
	const lib = "initialise it with NewMutex or pthread_mutexattr_setpshared"
	if err != nil && errors.Is(err, syscall.EINVAL) && strings.Contains(err.Error(), lib) {
		msg := strings.Replace(err.Error(), lib, fmt.Sprintf("initialise one with: posixipc mutex init %s --offset %d", seg.Name(), off), 1)
		msg = strings.TrimSuffix(msg, ": "+syscall.EINVAL.Error())
		return nil, fmt.Errorf("%s: %w", msg, syscall.EINVAL)
	}
	return m, err
}

func mutexState(args []string) error {
	var asJSON bool
	seg, off, err := mutexFlags("mutex state", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	defer seg.Close()
	m, err := mutexAt(seg, off)
	if err != nil {
		return err
	}
	defer m.Close()
	st, err := m.State()
	if err != nil {
		return err
	}
	if asJSON {
		b, _ := json.Marshal(struct {
			Locked         bool   `json:"locked"`
			OwnerTID       int    `json:"owner_tid"`
			Waiters        bool   `json:"waiters"`
			OwnerDied      bool   `json:"owner_died"`
			Inconsistent   bool   `json:"inconsistent"`
			NotRecoverable bool   `json:"not_recoverable"`
			Robust         bool   `json:"robust"`
			Type           string `json:"type"`
			State          string `json:"state"`
		}{st.Locked, st.OwnerTID, st.Waiters, st.OwnerDied, st.Inconsistent, st.NotRecoverable, st.Robust, st.Type.String(), st.String()})
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	fmt.Fprintln(stdout, st)
	return nil
}
