//go:build linux && cgo

package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"time"

	"github.com/posixipc/posixipc/binding/mq"
	"github.com/posixipc/posixipc/binding/ring"
	"github.com/posixipc/posixipc/internal/peer"
	"golang.org/x/sys/unix"
)

// The shared-memory ring (binding/ring, crt/posixipc_ring.h): a 64-byte
// record out and back over two queue-mode rings, with the default wait
// (spin, then futex) and blocking-only (no spin), beside the message
// queue's C↔C round trip measured in the same interleaved run; and
// streams of 4 KiB and 64-byte records one way, beside the queue's C↔C
// 4 KiB stream.

func init() {
	addBench(benchPrimitive{name: "ring", order: 11, what: "64-byte record out and back over two shared-memory rings (blk: no spin; iox: iceoryx 2.0.3, C; mq-c-c: the message queue)", setup: benchRingSetup})
	addBench(benchPrimitive{name: "ring-64", order: 12, what: "streams of 64-byte records", setup: func() ([]benchConfig, []benchThroughput, func(), error) {
		return benchRingStreams(64)
	}})
	benchPeers["ring-echo"] = ringEcho
}

// ringEcho serves round trips: next on args[0], send back on args[1], stop
// on an empty record; args[2] is the spin budget in ns.
func ringEcho(args []string) error {
	if len(args) != 3 {
		return usagef("ring-echo REQ RESP SPIN_NS")
	}
	spin, err := strconv.ParseInt(args[2], 10, 64)
	if err != nil {
		return err
	}
	in, err := ring.Open(args[0], os.O_RDONLY, 0, nil)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := ring.Open(args[1], os.O_WRONLY, 0, nil)
	if err != nil {
		return err
	}
	defer out.Close()
	in.SetSpin(time.Duration(spin))
	out.SetSpin(time.Duration(spin))
	fmt.Fprintln(Stdout, "ready")
	ctx := context.Background()
	for {
		v, err := in.Next(ctx)
		if err != nil {
			return err
		}
		b := v.Bytes()
		if len(b) == 0 {
			return v.Release()
		}
		if err := out.Send(ctx, b); err != nil {
			return err
		}
		if err := v.Release(); err != nil {
			return err
		}
	}
}

// benchRing creates a queue ring for one set-up; cl removes it.
func benchRing(cl *benchCleanup, tag string, cfg ring.Config) (string, error) {
	name := fmt.Sprintf("/posixipc-bench-%d-ring-%s", os.Getpid(), tag)
	ring.Remove(name)
	r, err := ring.Create(name, os.O_WRONLY, 0o600, cfg)
	if err != nil {
		return "", err
	}
	r.Close()
	cl.add(func() { ring.Remove(name) })
	return name, nil
}

func benchRingSetup() (configs []benchConfig, stream []benchThroughput, cleanup func(), err error) {
	cl := &benchCleanup{}
	defer func() {
		if err != nil {
			cl.run()
		}
	}()
	cfg := ring.Config{Slots: 64, Size: benchMsg, Mode: ring.SPSC}
	spin := strconv.FormatInt(int64(ring.DefaultSpin), 10)
	pair := func(tag string) (req, resp string, err error) {
		if req, err = benchRing(cl, tag+"-req", cfg); err == nil {
			resp, err = benchRing(cl, tag+"-resp", cfg)
		}
		return req, resp, err
	}
	ctx, cancel := context.WithCancel(context.Background()) // the path a real service takes
	cl.add(cancel)
	msg, buf := make([]byte, benchMsg), make([]byte, benchMsg)
	goClient := func(label, req, resp string, spin time.Duration) (benchConfig, error) {
		w, err := ring.Open(req, os.O_WRONLY, 0, nil)
		if err != nil {
			return benchConfig{}, err
		}
		cl.add(func() { w.Close() })
		r, err := ring.Open(resp, os.O_RDONLY, 0, nil)
		if err != nil {
			return benchConfig{}, err
		}
		cl.add(func() { r.Close() })
		w.SetSpin(spin)
		r.SetSpin(spin)
		return benchConfig{label: label, block: func(k int) ([]time.Duration, error) {
			return onCPU0(func() ([]time.Duration, error) {
				return latencies(k, func() error {
					if err := w.Send(ctx, msg); err != nil {
						return err
					}
					_, err := r.Receive(ctx, buf)
					return err
				})
			})
		}}, nil
	}
	cClient := func(label, req, resp, spin string) benchConfig {
		return benchConfig{label: label, block: func(k int) ([]time.Duration, error) {
			return cmdLatencies(nearSide(peer.Command("ringpeer", "client-lat", req, resp, strconv.Itoa(k), strconv.Itoa(benchMsg), spin)))
		}}
	}
	var out []benchConfig
	for _, s := range []struct {
		label, server string // server: "c" or "go"
		client        string
		spin          string
	}{
		{"c-c", "c", "c", spin}, {"go-c", "c", "go", spin}, {"go-go", "go", "go", spin},
		{"cc-blk", "c", "c", "0"}, {"gg-blk", "go", "go", "0"},
	} {
		req, resp, err := pair(s.label)
		if err != nil {
			return nil, nil, nil, err
		}
		if s.server == "c" {
			err = cl.server(farSide(peer.Command("ringpeer", "echo", req, resp, s.spin)))
		} else {
			err = cl.server(farSide(selfCmd("bench-peer", "ring-echo", req, resp, s.spin)))
		}
		if err != nil {
			return nil, nil, nil, err
		}
		if s.client == "c" {
			out = append(out, cClient(s.label, req, resp, s.spin))
			continue
		}
		d, _ := strconv.ParseInt(s.spin, 10, 64)
		c, err := goClient(s.label, req, resp, time.Duration(d))
		if err != nil {
			return nil, nil, nil, err
		}
		out = append(out, c)
	}
	// iceoryx, when it is installed.
	iox, why, err := benchIceoryx(cl)
	if err != nil {
		return nil, nil, nil, err
	}
	if why == "" {
		out = append(out, iox)
	} else {
		fmt.Fprintf(Stderr, "\rbench ring: no iox row: %s\n", why)
	}
	// The message queue's C↔C round trip, in the same interleaved run.
	mp, err := startPair("ring-mq", cEcho)
	if err != nil {
		return nil, nil, nil, err
	}
	cl.add(mp.stop)
	out = append(out, benchConfig{label: "mq-c-c", block: func(k int) ([]time.Duration, error) {
		return cLatencies("mqpeer", "client-lat", mp.req, mp.resp, strconv.Itoa(k), strconv.Itoa(benchMsg))
	}})
	_, streams, closeStreams, err := benchRingStreams(4096)
	if err != nil {
		return nil, nil, nil, err
	}
	cl.add(closeStreams)
	return out, streams, cl.run, nil
}

// benchRingStreams measures records of size bytes streamed one way
// through a 64-slot ring: C→C, Go→C (Loan/Commit), C→Go (Next/Release);
// for 4 KiB also the message queue's C→C stream.
func benchRingStreams(size int) (configs []benchConfig, stream []benchThroughput, cleanup func(), err error) {
	cl := &benchCleanup{}
	defer func() {
		if err != nil {
			cl.run()
		}
	}()
	// The streams run on an SPSC ring (one producer, one consumer: the
	// fast path); q-c-c is the same stream through a queue-mode ring.
	name, err := benchRing(cl, fmt.Sprint("stream-", size), ring.Config{Slots: 64, Size: size, Mode: ring.SPSC})
	if err != nil {
		return nil, nil, nil, err
	}
	qname, err := benchRing(cl, fmt.Sprint("qstream-", size), ring.Config{Slots: 64, Size: size})
	if err != nil {
		return nil, nil, nil, err
	}
	count := func(quick bool) int {
		n := 400000
		if size >= 4096 {
			n = 100000
		}
		if quick {
			n /= 4
		}
		return n
	}
	// recvC runs a C receiver of the ring rn and send, and returns the bytes and
	// time the receiver saw (from its first record).
	recvC := func(rn string, k int, send func() error) (int64, time.Duration, error) {
		return cStreamRecv("ringpeer", []string{"stream-recv", rn, strconv.Itoa(k)}, true, k, size, send)
	}
	cc := func(name string) func(quick bool) (int64, time.Duration, error) {
		return func(quick bool) (int64, time.Duration, error) {
			k := count(quick)
			return recvC(name, k, func() error {
				cmd, err := peer.Command("ringpeer", "stream-send", name, strconv.Itoa(k), strconv.Itoa(size))
				if err != nil {
					return err
				}
				cmd.Stderr = os.Stderr
				return cmd.Run()
			})
		}
	}
	ctx := context.Background()
	// goToC runs send on a Go producer of the ring into a C receiver;
	// cToGo runs drain on a Go consumer of a C sender's records.
	goToC := func(send func(w *ring.Ring, k int) error) func(quick bool) (int64, time.Duration, error) {
		return func(quick bool) (int64, time.Duration, error) {
			w, err := ring.Open(name, os.O_WRONLY, 0, nil)
			if err != nil {
				return 0, 0, err
			}
			defer w.Close()
			k := count(quick)
			return recvC(name, k, func() error { return send(w, k) })
		}
	}
	cToGo := func(drain func(r *ring.Ring, k int) (time.Duration, error)) func(quick bool) (int64, time.Duration, error) {
		return func(quick bool) (int64, time.Duration, error) {
			r, err := ring.Open(name, os.O_RDONLY, 0, nil)
			if err != nil {
				return 0, 0, err
			}
			defer r.Close()
			k := count(quick)
			cmd, err := peer.Command("ringpeer", "stream-send", name, strconv.Itoa(k), strconv.Itoa(size))
			if err != nil {
				return 0, 0, err
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				return 0, 0, err
			}
			d, err := drain(r, k)
			if err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				return 0, 0, err
			}
			return int64(k-1) * int64(size), d, cmd.Wait()
		}
	}
	stream = []benchThroughput{
		{label: "c-c", run: cc(name)},
		{label: "q-c-c", run: cc(qname)},
		{label: "go-c", run: goToC(func(w *ring.Ring, k int) error { return goStream(ctx, w, make([]byte, size), k) })},
		{label: "c-go", run: cToGo(func(r *ring.Ring, k int) (time.Duration, error) { return goDrain(ctx, r, k) })},
		{label: "go-c-b", run: goToC(func(w *ring.Ring, k int) error { return goStreamBatch(ctx, w, size, k) })},
		{label: "c-go-b", run: cToGo(func(r *ring.Ring, k int) (time.Duration, error) { return goDrainBatch(ctx, r, size, k) })},
		{label: "go-c-zb", run: goToC(func(w *ring.Ring, k int) error { return goStreamLoans(ctx, w, size, k) })},
		{label: "c-go-zb", run: cToGo(func(r *ring.Ring, k int) (time.Duration, error) { return goDrainViews(ctx, r, k) })},
	}
	if size >= 4096 {
		qname := fmt.Sprintf("/posixipc-bench-%d-ring-mqstream", os.Getpid())
		mq.Unlink(qname)
		q, err := mq.Create(qname, 0o600, &mq.Attr{MaxMsg: 10, MsgSize: size})
		if err != nil {
			return nil, nil, nil, err
		}
		q.Close()
		cl.add(func() { mq.Unlink(qname) })
		stream = append(stream, benchThroughput{label: "mq-c-c", run: func(quick bool) (int64, time.Duration, error) {
			return mqCStream(qname, count(quick)/5, size)
		}})
	}
	return nil, stream, cl.run, nil
}

// The ring's round trips pin the two sides of a set-up to two CPUs (the
// far side to CPU 1, the near side to CPU 0), as a deployment that gives
// each process a core would: unpinned, this 2-CPU machine often runs both
// on one CPU, where a spinning waiter can only yield to its peer (about
// 4 µs a round trip). The streams are not pinned: on one CPU the records
// stay in its cache. pinned reports whether the machine has two CPUs.
func pinned() bool { return runtime.NumCPU() >= 2 }

// farSide and nearSide run a command on CPU 1 or 0, when pinning.
func farSide(cmd *exec.Cmd, err error) (*exec.Cmd, error)  { return pinCmd(cmd, err, 1) }
func nearSide(cmd *exec.Cmd, err error) (*exec.Cmd, error) { return pinCmd(cmd, err, 0) }

// pinCmd runs cmd on CPU cpu (taskset), when pinning.
func pinCmd(cmd *exec.Cmd, err error, cpu int) (*exec.Cmd, error) {
	if err != nil || !pinned() {
		return cmd, err
	}
	ts, lerr := exec.LookPath("taskset")
	if lerr != nil {
		return cmd, nil
	}
	c := exec.Command(ts, append([]string{"-c", strconv.Itoa(cpu), cmd.Path}, cmd.Args[1:]...)...)
	c.Env = cmd.Env
	return c, nil
}

// onCPU0 runs f with this whole process pinned to CPU 0 (when pinning),
// then restores its threads' masks. The whole process, not only f's
// thread: the Go runtime's other threads (sysmon, the idle Ps' spinning,
// timers) would otherwise wake on CPU 1 and push the far side off it.
func onCPU0(f func() ([]time.Duration, error)) ([]time.Duration, error) {
	if !pinned() {
		return f()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return f()
	}
	one.Set(0)
	setAll := func(set *unix.CPUSet) {
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, t := range tasks {
			if tid, err := strconv.Atoi(t.Name()); err == nil {
				unix.SchedSetaffinity(tid, set)
			}
		}
	}
	setAll(&one)
	defer setAll(&old)
	return f()
}

// goStream produces k records of len(src) bytes through Loan, copy, Commit.
func goStream(ctx context.Context, w *ring.Ring, src []byte, k int) error {
	for i := 0; i < k; i++ {
		l, err := w.Loan(ctx)
		if err != nil {
			return err
		}
		src[0] = byte(i)
		copy(l.Bytes(), src)
		if err := l.Commit(len(src)); err != nil {
			return err
		}
	}
	return nil
}

// streamBatch is the batch of the -b stream rows (SendBatch, ReceiveBatch).
const streamBatch = 32

// goStreamBatch produces k records of size bytes through SendBatch, in
// batches of streamBatch.
func goStreamBatch(ctx context.Context, w *ring.Ring, size, k int) error {
	recs := make([][]byte, streamBatch)
	for i := range recs {
		recs[i] = make([]byte, size)
	}
	for i := 0; i < k; i += streamBatch {
		b := recs[:min(streamBatch, k-i)]
		for j := range b {
			b[j][0] = byte(i + j)
		}
		if _, err := w.SendBatch(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// goDrainBatch consumes k records through ReceiveBatch into streamBatch
// buffers, and returns the time from the first.
func goDrainBatch(ctx context.Context, r *ring.Ring, size, k int) (time.Duration, error) {
	bufs := make([][]byte, streamBatch)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	recs := make([]ring.Record, streamBatch)
	var t0 time.Time
	for got := 0; got < k; {
		n, err := r.ReceiveBatch(ctx, bufs[:min(streamBatch, k-got)], recs)
		if err != nil {
			return 0, err
		}
		if got == 0 {
			t0 = time.Now()
		}
		got += n
	}
	return time.Since(t0), nil
}

// goStreamLoans produces k records of size bytes through LoanBatch, a
// copy into each loan, CommitBatch, in batches of streamBatch.
func goStreamLoans(ctx context.Context, w *ring.Ring, size, k int) error {
	src := make([]byte, size)
	loans := make([]ring.Loan, streamBatch)
	lens := make([]int, streamBatch)
	for i := range lens {
		lens[i] = size
	}
	for i := 0; i < k; {
		n, err := w.LoanBatch(ctx, loans[:min(streamBatch, k-i)])
		if err != nil {
			return err
		}
		for j, l := range loans[:n] {
			src[0] = byte(i + j)
			copy(l.Bytes(), src)
		}
		if _, err := w.CommitBatch(loans[:n], lens[:n]); err != nil {
			return err
		}
		i += n
	}
	return nil
}

// goDrainViews consumes k records through NextBatch, a read of each one's
// last byte, ReleaseBatch, in batches of streamBatch, and returns the time
// from the first batch.
func goDrainViews(ctx context.Context, r *ring.Ring, k int) (time.Duration, error) {
	views := make([]ring.View, streamBatch)
	var t0 time.Time
	var sink byte
	for got := 0; got < k; {
		n, err := r.NextBatch(ctx, views[:min(streamBatch, k-got)])
		if err != nil {
			return 0, err
		}
		if got == 0 {
			t0 = time.Now()
		}
		for _, v := range views[:n] {
			if b := v.Bytes(); len(b) > 0 {
				sink ^= b[len(b)-1]
			}
		}
		if _, err := r.ReleaseBatch(views[:n]); err != nil {
			return 0, err
		}
		got += n
	}
	_ = sink
	return time.Since(t0), nil
}

// goDrain consumes k records through Next, a read of the last byte,
// Release, and returns the time from the first.
func goDrain(ctx context.Context, r *ring.Ring, k int) (time.Duration, error) {
	var t0 time.Time
	var sink byte
	for i := 0; i < k; i++ {
		v, err := r.Next(ctx)
		if err != nil {
			return 0, err
		}
		if i == 0 {
			t0 = time.Now()
		}
		if b := v.Bytes(); len(b) > 0 {
			sink ^= b[len(b)-1]
		}
		if err := v.Release(); err != nil {
			return 0, err
		}
	}
	_ = sink
	return time.Since(t0), nil
}
