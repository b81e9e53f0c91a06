//go:build linux && cgo

package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/posixipc/posixipc/binding/flock"
	"github.com/posixipc/posixipc/internal/peer"
)

func init() {
	addDemoStep(demoStep{order: 70, title: "file locks: Go (OFD and flock locks) and a C program (crt/lockpeer.c, fcntl and flock) contend", run: demoFlock})
}

func demoFlock(log func(string, ...any)) error {
	dir, err := os.MkdirTemp("", "posixipc-demo-flock")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "lockfile")
	lp, err := peer.Path("lockpeer")
	if err != nil {
		return err
	}
	try := func(args ...string) string {
		out, _ := exec.Command(lp, args...).Output()
		return strings.TrimSpace(string(out))
	}
	f, err := flock.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if err := f.LockRange(ctx, flock.Range{Start: 0, Len: 100}, flock.Exclusive); err != nil {
		return err
	}
	log("Go holds an OFD write lock on bytes 0:100")
	log("C fcntl(F_SETLK) on 10:10 -> %s (F_GETLK pid -1: an OFD lock)", try("tryfcntl", path, "10", "10", "w"))
	if err := f.UnlockRange(flock.Range{Start: 0, Len: 100}); err != nil {
		return err
	}

	c := exec.Command(lp, "fcntl", path, "0", "100", "w")
	in, err := c.StdinPipe()
	if err != nil {
		return err
	}
	out, err := c.StdoutPipe()
	if err != nil {
		return err
	}
	if err := c.Start(); err != nil {
		return err
	}
	defer c.Wait()
	defer in.Close()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return err
	}
	log("C took a classic fcntl write lock: %s", strings.TrimSpace(line))
	h, found, err := f.Holder(flock.Range{Start: 50, Len: 1}, flock.Exclusive)
	if err != nil || !found {
		return fmt.Errorf("demo flock: holder: %v (found %v)", err, found)
	}
	log("Go asks who holds byte 50 (F_OFD_GETLK): %v lock on %v by pid %d", h.Mode, h.Range, h.PID)
	go func() { time.Sleep(200 * time.Millisecond); in.Close() }()
	start := time.Now()
	if err := f.LockRange(ctx, flock.Range{Start: 50, Len: 1}, flock.Exclusive); err != nil {
		return err
	}
	log("Go waited %v (no thread held) and took byte 50 when C released", time.Since(start).Round(10*time.Millisecond))

	if err := f.Lock(ctx, flock.Exclusive); err != nil {
		return err
	}
	log("Go holds a flock(2) exclusive lock; C flock(LOCK_NB) -> %s", try("tryflock", path, "ex"))
	if err := f.Unlock(); err != nil {
		return err
	}
	log("after Unlock, C flock(LOCK_NB) -> %s; lock file removed", try("tryflock", path, "ex"))
	return nil
}
