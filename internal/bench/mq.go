//go:build linux && cgo

package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/binding/mq"
	"github.com/posixipc/posixipc/internal/peer"
)

const benchMsg = 64 // bytes per round-trip message

func init() {
	addBench(benchPrimitive{name: "mq", order: 10, what: "64-byte message out and back over two queues", setup: benchMQSetup})
	benchPeers["mq-echo"] = func(args []string) error { return mqEcho(args, false) }
	benchPeers["mq-echo-raw"] = func(args []string) error { return mqEcho(args, true) }
}

// mqEcho serves round trips: receive on args[0], send back on args[1],
// stop on an empty message. raw uses plain blocking cgo calls (the baseline).
func mqEcho(args []string, raw bool) error {
	if len(args) != 2 {
		return usagef("mq-echo REQ RESP")
	}
	if raw {
		rq, err := posixipc.MqOpen(args[0], os.O_RDONLY, 0, nil)
		if err != nil {
			return err
		}
		wq, err := posixipc.MqOpen(args[1], os.O_WRONLY, 0, nil)
		if err != nil {
			return err
		}
		a, _ := posixipc.MqGetattr(rq)
		buf := make([]byte, a.MsgSize)
		for {
			n, p, err := posixipc.MqReceive(rq, buf)
			if err == syscall.EINTR {
				continue
			}
			if err != nil || n == 0 {
				return err
			}
			for {
				if err := posixipc.MqSend(wq, buf[:n], p); err != syscall.EINTR {
					break
				}
			}
		}
	}
	rq, err := mq.Open(args[0], mq.O_RDONLY, 0, nil)
	if err != nil {
		return err
	}
	defer rq.Close()
	wq, err := mq.Open(args[1], mq.O_WRONLY, 0, nil)
	if err != nil {
		return err
	}
	defer wq.Close()
	ctx := context.Background()
	buf := make([]byte, rq.MsgSize())
	for {
		n, p, err := rq.Receive(ctx, buf)
		if err != nil || n == 0 {
			return err
		}
		if err := wq.Send(ctx, buf[:n], p); err != nil {
			return err
		}
	}
}

// mqPair is a request and a response queue with an echo server behind them.
type mqPair struct {
	req, resp string
	server    *exec.Cmd
}

func startPair(tag string, server func(req, resp string) (*exec.Cmd, error)) (*mqPair, error) {
	p := &mqPair{req: fmt.Sprintf("/posixipc-bench-%d-%s-req", os.Getpid(), tag),
		resp: fmt.Sprintf("/posixipc-bench-%d-%s-resp", os.Getpid(), tag)}
	for _, n := range []string{p.req, p.resp} {
		mq.Unlink(n)
		q, err := mq.Create(n, 0o600, &mq.Attr{MaxMsg: 10, MsgSize: benchMsg})
		if err != nil {
			p.stop()
			return nil, err
		}
		q.Close()
	}
	cmd, err := server(p.req, p.resp)
	if err != nil {
		p.stop()
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		p.stop()
		return nil, err
	}
	p.server = cmd
	return p, nil
}

// stop ends the echo server with an empty message and removes the queues.
func (p *mqPair) stop() {
	if p.server != nil {
		if q, err := mq.Open(p.req, mq.O_WRONLY, 0, nil); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if q.Send(ctx, nil, 0) != nil {
				p.server.Process.Kill()
			}
			cancel()
			q.Close()
		}
		p.server.Wait()
	}
	mq.Unlink(p.req)
	mq.Unlink(p.resp)
}

func cEcho(req, resp string) (*exec.Cmd, error) { return peer.Command("mqpeer", "echo", req, resp) }

func benchMQSetup() (configs []benchConfig, stream []benchThroughput, cleanup func(), err error) {
	cl := &benchCleanup{}
	defer func() {
		if err != nil {
			cl.run()
		}
	}()
	self := func(mode string) func(req, resp string) (*exec.Cmd, error) {
		return func(req, resp string) (*exec.Cmd, error) { return selfCmd("bench-peer", mode, req, resp) }
	}
	ps, err := fourServers(cl, startPair, cEcho, self("mq-echo"), self("mq-echo-raw"))
	if err != nil {
		return nil, nil, nil, err
	}
	cc, gc, gg, raw := ps[0], ps[1], ps[2], ps[3]

	goClient := func(p *mqPair, label string) (benchConfig, error) {
		w, err := mq.Open(p.req, mq.O_WRONLY, 0, nil)
		if err != nil {
			return benchConfig{}, err
		}
		r, err := mq.Open(p.resp, mq.O_RDONLY, 0, nil)
		if err != nil {
			w.Close()
			return benchConfig{}, err
		}
		// a cancellable context: the path a real service takes
		ctx, cancel := context.WithCancel(context.Background())
		cl.add(func() { cancel(); w.Close(); r.Close() })
		msg, buf := make([]byte, benchMsg), make([]byte, benchMsg)
		return benchConfig{label: label, block: func(k int) ([]time.Duration, error) {
			lats := make([]time.Duration, k)
			for i := range lats {
				t0 := time.Now()
				if err := w.Send(ctx, msg, 0); err != nil {
					return nil, err
				}
				if _, _, err := r.Receive(ctx, buf); err != nil {
					return nil, err
				}
				lats[i] = time.Since(t0)
			}
			return lats, nil
		}}, nil
	}
	cfgGC, err := goClient(gc, "go-c")
	if err != nil {
		return nil, nil, nil, err
	}
	cfgGG, err := goClient(gg, "go-go")
	if err != nil {
		return nil, nil, nil, err
	}

	rw, err := posixipc.MqOpen(raw.req, os.O_WRONLY, 0, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	cl.add(func() { posixipc.MqClose(rw) })
	rr, err := posixipc.MqOpen(raw.resp, os.O_RDONLY, 0, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	cl.add(func() { posixipc.MqClose(rr) })
	msg, buf := make([]byte, benchMsg), make([]byte, benchMsg)
	cfgRaw := benchConfig{label: "cgo", block: func(k int) ([]time.Duration, error) {
		lats := make([]time.Duration, k)
		for i := range lats {
			t0 := time.Now()
			if err := posixipc.MqSend(rw, msg, 0); err != nil {
				return nil, err
			}
			if _, _, err := posixipc.MqReceive(rr, buf); err != nil {
				return nil, err
			}
			lats[i] = time.Since(t0)
		}
		return lats, nil
	}}
	cfgC := benchConfig{label: "c-c", block: func(k int) ([]time.Duration, error) {
		return cLatencies("mqpeer", "client-lat", cc.req, cc.resp, strconv.Itoa(k), strconv.Itoa(benchMsg))
	}}
	stream, closeStream, err := benchMQStream()
	if err != nil {
		return nil, nil, nil, err
	}
	cl.add(closeStream)
	return []benchConfig{cfgC, cfgGC, cfgGG, cfgRaw}, stream, cl.run, nil
}

// cLatencies runs a C peer that prints one latency in ns per line.
func cLatencies(name string, args ...string) ([]time.Duration, error) {
	return cmdLatencies(peer.Command(name, args...))
}

// cmdLatencies runs cmd, which prints one latency in ns per line.
func cmdLatencies(cmd *exec.Cmd, err error) ([]time.Duration, error) {
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var lats []time.Duration
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		ns, err := strconv.ParseInt(sc.Text(), 10, 64)
		if err == nil {
			lats = append(lats, time.Duration(ns))
		}
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("%s: %w", strings.Join(cmd.Args, " "), err)
	}
	return lats, nil
}

// benchMQStream measures 4 KiB messages streamed one way: C→C, Go→C, plain
// blocking cgo→C (what the Go runtime costs any binding), C→Go.
func benchMQStream() ([]benchThroughput, func(), error) {
	const size = 4096
	name := fmt.Sprintf("/posixipc-bench-%d-stream", os.Getpid())
	mq.Unlink(name)
	q, err := mq.Create(name, 0o600, &mq.Attr{MaxMsg: 10, MsgSize: size})
	if err != nil {
		return nil, nil, err
	}
	closeAll := func() { q.Close(); mq.Unlink(name) }
	count := func(quick bool) int {
		if quick {
			return 5000
		}
		return 20000
	}
	recvC := func(k int, send func() error) (int64, time.Duration, error) {
		return cStreamRecv("mqpeer", []string{"stream-recv", name, strconv.Itoa(k), strconv.Itoa(size)}, false, k, size, send)
	}
	msg, buf := make([]byte, size), make([]byte, size)
	ctx := context.Background()
	return []benchThroughput{
		{label: "c-c", run: func(quick bool) (int64, time.Duration, error) { return mqCStream(name, count(quick), size) }},
		{label: "go-c", run: func(quick bool) (int64, time.Duration, error) {
			k := count(quick)
			return recvC(k, func() error {
				for i := 0; i < k; i++ {
					if err := q.Send(ctx, msg, 0); err != nil {
						return err
					}
				}
				return nil
			})
		}},
		{label: "cgo-c", run: func(quick bool) (int64, time.Duration, error) {
			// plain blocking cgo mq_send, the baseline of go-c
			raw, err := posixipc.MqOpen(name, os.O_WRONLY, 0, nil)
			if err != nil {
				return 0, 0, err
			}
			defer posixipc.MqClose(raw)
			k := count(quick)
			return recvC(k, func() error {
				for i := 0; i < k; i++ {
					if err := posixipc.MqSend(raw, msg, 0); err != nil {
						return err
					}
				}
				return nil
			})
		}},
		{label: "c-go", run: func(quick bool) (int64, time.Duration, error) {
			k := count(quick)
			cmd, err := peer.Command("mqpeer", "stream-send", name, strconv.Itoa(k), strconv.Itoa(size))
			if err != nil {
				return 0, 0, err
			}
			if err := cmd.Start(); err != nil {
				return 0, 0, err
			}
			var t0 time.Time
			for i := 0; i < k; i++ {
				if _, _, err := q.Receive(ctx, buf); err != nil {
					cmd.Process.Kill()
					cmd.Wait()
					return 0, 0, err
				}
				if i == 0 {
					t0 = time.Now()
				}
			}
			d := time.Since(t0)
			return int64(k-1) * size, d, cmd.Wait()
		}},
	}, closeAll, nil
}

// cStreamRecv runs the C peer name with args as a stream receiver (it
// prints "ready" first when ready is set, and "N TOTAL_NS" at the end),
// then send, and returns the bytes the receiver timed (k-1 records of
// size, from its first) and the time it took.
func cStreamRecv(name string, args []string, ready bool, k, size int, send func() error) (int64, time.Duration, error) {
	cmd, err := peer.Command(name, args...)
	if err != nil {
		return 0, 0, err
	}
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	if ready {
		var line string
		fmt.Fscan(out, &line)
	}
	if err := send(); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return 0, 0, err
	}
	var n, ns int64
	fmt.Fscan(out, &n, &ns)
	if err := cmd.Wait(); err != nil {
		return 0, 0, err
	}
	return int64(k-1) * int64(size), time.Duration(ns), nil
}

// mqCStream is the queue's C→C stream: k messages of size bytes from
// mqpeer to mqpeer through the queue name (the mq primitive's c-c row, and
// the ring's mq-c-c row beside its own).
func mqCStream(name string, k, size int) (int64, time.Duration, error) {
	return cStreamRecv("mqpeer", []string{"stream-recv", name, strconv.Itoa(k), strconv.Itoa(size)}, false, k, size, func() error {
		_, err := peer.Output("mqpeer", "stream-send", name, strconv.Itoa(k), strconv.Itoa(size))
		return err
	})
}
