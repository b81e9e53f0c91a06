//go:build linux && cgo

package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/posixipc/posixipc/binding/sem"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/peer"
)

func init() {
	addDemoStep(demoStep{order: 20, title: "POSIX semaphores: Go and a C program (crt/sempeer.c) post and wait, named and in shared memory", run: demoSem})
}

func demoSem(log func(string, ...any)) error {
	name := fmt.Sprintf("/posixipc-demo-sem-%d", os.Getpid())
	s, err := sem.Open(name, os.O_CREATE|os.O_EXCL, 0o600, 0)
	if err != nil {
		return err
	}
	defer sem.Unlink(name)
	defer s.Close()
	log("Go created named semaphore %s with value 0", name)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// C waits, Go posts.
	cmd, err := peer.Command("sempeer", "wait", name, "2", "5000")
	if err != nil {
		return err
	}
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		return err
	}
	time.Sleep(20 * time.Millisecond)
	for i := 0; i < 2; i++ {
		if err := s.Post(); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return err
		}
	}
	log("Go  sem_post x2")
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("sempeer wait: %v (%s)", err, strings.TrimSpace(out.String()))
	}
	log("C   sem_wait x2 returned: %s", strings.TrimSpace(out.String()))

	// C posts, Go waits.
	if _, err := runPeerOut("sempeer", "post", name, "3"); err != nil {
		return err
	}
	log("C   sem_post x3")
	for i := 0; i < 3; i++ {
		if err := s.Wait(ctx); err != nil {
			return err
		}
	}
	v, err := s.Value()
	if err != nil {
		return err
	}
	log("Go  Wait x3 took the 3 units; value now %d", v)

	// A cancelled wait takes nothing.
	short, cancelShort := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancelShort()
	start := time.Now()
	err = s.Wait(short)
	log("Go  Wait with a 30ms deadline: %v after %v (no unit taken)", err, time.Since(start).Round(time.Millisecond))

	// An unnamed semaphore that C initialises in a segment Go created.
	segName := name + "-seg"
	seg, err := shm.Create(segName, 4096, 0o600)
	if err != nil {
		return err
	}
	defer shm.Unlink(segName)
	defer seg.Close()
	if _, err := runPeerOut("sempeer", "init", segName, "64", "0"); err != nil {
		return err
	}
	log("C   sem_init(pshared=1) at offset 64 of segment %s", segName)
	u, err := sem.At(seg, 64)
	if err != nil {
		return err
	}
	defer u.Close()
	log("Go  Close of the segment while the semaphore is open: %v", seg.Close())
	go func() {
		time.Sleep(20 * time.Millisecond)
		runPeerOut("sempeer", "upost", segName, "64", "1")
	}()
	if err := u.Wait(ctx); err != nil {
		return err
	}
	log("Go  Wait on the unnamed semaphore returned after C's sem_post")
	if err := u.Close(); err != nil {
		return err
	}
	log("semaphore and segment removed (sem_unlink, shm_unlink)")
	return nil
}
