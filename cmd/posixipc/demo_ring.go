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

	// The ring: C loans, fills and commits; Go views and releases, one
	// record a call, then in zero-copy batches of up to 32.
	stream := func(batch bool) (float64, error) {
		cmd, err := peer.Command("ringpeer", "stream-send", name, strconv.Itoa(n), strconv.Itoa(size))
		if err != nil {
			return 0, err
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		var t0 time.Time
		views := make([]ring.View, 32)
		for got := 0; got < n; {
			k := 1
			if batch {
				k, err = r.NextBatch(ctx, views[:min(len(views), n-got)])
			} else {
				views[0], err = r.Next(ctx)
			}
			if err == nil && got == 0 {
				t0 = time.Now()
			}
			switch {
			case err != nil:
			case batch:
				_, err = r.ReleaseBatch(views[:k])
			default:
				err = views[0].Release()
			}
			if err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				return 0, err
			}
			got += k
		}
		rate := float64(n-1) * size / time.Since(t0).Seconds() / 1e6
		return rate, cmd.Wait()
	}
	ringRate, err := stream(false)
	if err != nil {
		return err
	}
	log("C→Go %d records of %d bytes through the ring (zero copy on both sides, Next and Release): %.0f MB/s", n, size, ringRate)
	batchRate, err := stream(true)
	if err != nil {
		return err
	}
	log("the same, viewed and given back 32 at a time (NextBatch, ReleaseBatch: one fence a batch): %.0f MB/s", batchRate)

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
	cmd, err := peer.Command("mqpeer", "stream-send", qn, strconv.Itoa(qn2), strconv.Itoa(size))
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	buf := make([]byte, size)
	var t0 time.Time
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
