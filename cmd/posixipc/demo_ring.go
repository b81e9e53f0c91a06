//go:build linux && cgo

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/posixipc/posixipc/binding/mq"
	"github.com/posixipc/posixipc/binding/ring"
	"github.com/posixipc/posixipc/internal/peer"
)

func init() {
	addDemoStep(demoStep{order: 35, title: "shared-memory ring: a C producer (crt/posixipc_ring.h) streams to a Go consumer, beside a message queue; a C producer killed with a loan out", run: demoRing})
}

func demoRing(log func(string, ...any)) error {
	const size, n = 1024, 100000
	name := fmt.Sprintf("/posixipc-demo-ring-%d", os.Getpid())
	ring.Remove(name)
	r, err := ring.Create(name, os.O_RDONLY, 0o600, ring.Config{Slots: 256, Size: size, Mode: ring.SPSC})
	if err != nil {
		return err
	}
	defer ring.Remove(name)
	defer r.Close()
	log("Go created ring %s: 256 slots of %d bytes, SPSC mode (one producer, one consumer)", name, size)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The ring: C loans, fills and commits; Go views and releases.
	cmd, err := peer.Command("ringpeer", "stream-send", name, strconv.Itoa(n), strconv.Itoa(size))
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	var t0 time.Time
	for i := 0; i < n; i++ {
		v, err := r.Next(ctx)
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return err
		}
		if i == 0 {
			t0 = time.Now()
		}
		if err := v.Release(); err != nil {
			return err
		}
	}
	ringRate := float64(n-1) * size / time.Since(t0).Seconds() / 1e6
	if err := cmd.Wait(); err != nil {
		return err
	}
	log("C→Go %d records of %d bytes through the ring (zero copy on both sides): %.0f MB/s", n, size, ringRate)

	// The same through a POSIX message queue.
	qn := fmt.Sprintf("/posixipc-demo-ringmq-%d", os.Getpid())
	mq.Unlink(qn)
	q, err := mq.Create(qn, 0o600, &mq.Attr{MaxMsg: 10, MsgSize: size})
	if err != nil {
		return err
	}
	defer mq.Unlink(qn)
	defer q.Close()
	const qn2 = n / 5
	cmd, err = peer.Command("mqpeer", "stream-send", qn, strconv.Itoa(qn2), strconv.Itoa(size))
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	buf := make([]byte, size)
	for i := 0; i < qn2; i++ {
		if _, _, err := q.Receive(ctx, buf); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return err
		}
		if i == 0 {
			t0 = time.Now()
		}
	}
	mqRate := float64(qn2-1) * size / time.Since(t0).Seconds() / 1e6
	if err := cmd.Wait(); err != nil {
		return err
	}
	log("C→Go %d messages of %d bytes through a message queue: %.0f MB/s (the ring: %.1fx)", qn2, size, mqRate, ringRate/mqRate)

	// A C producer dies holding a loan: the consumer is not wedged.
	hold, err := peer.Command("ringpeer", "loan-hold", name)
	if err != nil {
		return err
	}
	hold.Stderr = os.Stderr
	out, err := hold.StdoutPipe()
	if err == nil {
		err = hold.Start()
	}
	if err != nil {
		return err
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if !strings.HasPrefix(line, "loaned ") {
		hold.Process.Kill()
		hold.Wait()
		return fmt.Errorf("ringpeer loan-hold: %q", line)
	}
	if _, err := ring.Open(name, os.O_WRONLY, 0, nil); !errors.Is(err, ring.ErrBusy) {
		hold.Process.Kill()
		hold.Wait()
		return fmt.Errorf("a second producer of an SPSC ring: %v, want ErrBusy", err)
	}
	log("Go  a second producer is refused while the C one lives: %v", ring.ErrBusy)
	hold.Process.Kill()
	hold.Wait()
	log("C   the producer took a loan and was killed (SIGKILL) before committing it")
	w, err := ring.Open(name, os.O_WRONLY, 0, nil)
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Send(ctx, []byte("after the loan")); err != nil {
		return err
	}
	log("Go  took the dead producer's role and sent a record")
	t0 = time.Now()
	rec, err := r.Receive(ctx, buf)
	if err != nil {
		return err
	}
	st, _ := r.Stat()
	log("Go  got %q %v later: the dead producer's slot was seen dead (its OFD lock gone) and skipped; reclaimed %d", buf[:rec.N], time.Since(t0).Round(time.Millisecond), st.Reclaimed)
	return nil
}
