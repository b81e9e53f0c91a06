//go:build linux && cgo

package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/posixipc/posixipc/binding/fifo"
	"github.com/posixipc/posixipc/internal/peer"
	"golang.org/x/sys/unix"
)

// The fifo primitive: a 64-byte message out and back over two FIFOs (a
// request and a response FIFO, an echo server behind them), and a one-way
// stream through one FIFO.
//
//	c-c    crt/fifopeer client-lat against crt/fifopeer echo (blocking read/write)
//	go-c   binding/fifo (runtime poller) against crt/fifopeer echo
//	go-go  binding/fifo on both sides (`bench-peer fifo-echo`)
//	cgo    the plain blocking baseline, on both sides (`bench-peer fifo-echo-raw`):
//	       Go calling read(2)/write(2) directly on blocking descriptors, no
//	       poller, as a naive binding would (no cgo is involved: FIFO I/O is
//	       plain syscalls; the row keeps the framework's baseline label)
//
// Streams (64 KiB reads and writes on every side): c-c, go-c (Go writes, C
// reads), c-go; under "fifo" with the default pipe capacity (64 KiB), under
// "fifo-1m" with 1 MiB, set by the reader (F_SETPIPE_SZ: C fcntl, Go
// File.SetPipeSize) on every set-up alike. The Go side waits in the runtime
// poller: each time the pipe runs empty (or full) that costs a failed read
// (write), an epoll wake-up and the scheduler's hand-off, where a blocking C
// read just sleeps in the kernel; a larger pipe means fewer such waits per
// byte.

const fifoMsg = 64 // bytes per round trip

func init() {
	addBench(benchPrimitive{name: "fifo", order: 50,
		what:  "64-byte message out and back over two FIFOs (cgo row: blocking read/write syscalls, no poller)",
		setup: benchFIFOSetup})
	addBench(benchPrimitive{name: "fifo-1m", order: 51, setup: benchFIFO1M})
	benchPeers["fifo-echo"] = func(args []string) error { return fifoEcho(args, false) }
	benchPeers["fifo-echo-raw"] = func(args []string) error { return fifoEcho(args, true) }
}

// fifoEcho serves round trips: open args[0] for reading, then args[1] for
// writing; echo 64-byte messages until EOF. raw uses blocking open, read and
// write syscalls (the baseline).
func fifoEcho(args []string, raw bool) error {
	if len(args) != 2 {
		return usagef("fifo-echo REQ RESP")
	}
	buf := make([]byte, fifoMsg)
	if raw {
		in, err := unix.Open(args[0], unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		out, err := unix.Open(args[1], unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		for {
			n, err := rawReadFull(in, buf)
			if err != nil || n == 0 {
				return err
			}
			if err := rawWriteAll(out, buf[:n]); err != nil {
				return err
			}
		}
	}
	ctx := context.Background()
	in, err := fifo.Open(ctx, args[0], os.O_RDONLY)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := fifo.Open(ctx, args[1], os.O_WRONLY)
	if err != nil {
		return err
	}
	defer out.Close()
	for {
		if _, err := io.ReadFull(in, buf); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if _, err := out.Write(buf); err != nil {
			return err
		}
	}
}

// rawReadFull reads len(b) bytes with blocking read(2) calls; 0 at EOF.
func rawReadFull(fd int, b []byte) (int, error) {
	got := 0
	for got < len(b) {
		n, err := unix.Read(fd, b[got:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return got, err
		}
		if n == 0 {
			if got > 0 {
				return got, io.ErrUnexpectedEOF
			}
			return 0, nil
		}
		got += n
	}
	return got, nil
}

func rawWriteAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// latProc is a C client that keeps its objects open across blocks: each line
// K written to its stdin makes it do K round trips and print K latencies in
// ns, one a line. Closing its stdin ends it.
type latProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startLatProc(name string, args ...string) (*latProc, error) {
	cmd, err := peer.Command(name, args...)
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &latProc{cmd: cmd, in: in, out: bufio.NewReader(out)}, nil
}

// expect reads one line and checks it is want, or kills the process after d.
func (p *latProc) expect(want string, d time.Duration) error {
	return expectLine(p.out, p.cmd, want, d)
}

// expectLine reads one line from r; it kills cmd when none comes within d.
func expectLine(r *bufio.Reader, cmd *exec.Cmd, want string, d time.Duration) error {
	t := time.AfterFunc(d, func() { cmd.Process.Kill() })
	defer t.Stop()
	line, err := r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("%s: waiting for %q: %w", filepath.Base(cmd.Path), want, err)
	}
	if got := strings.TrimSpace(line); got != want {
		return fmt.Errorf("%s: got %q, want %q", filepath.Base(cmd.Path), got, want)
	}
	return nil
}

// block asks for k round trips and reads their latencies. A client that
// hangs (its partner died) is killed after a minute.
func (p *latProc) block(k int) ([]time.Duration, error) {
	t := time.AfterFunc(time.Minute, func() { p.cmd.Process.Kill() })
	defer t.Stop()
	if _, err := fmt.Fprintf(p.in, "%d\n", k); err != nil {
		return nil, err
	}
	lats := make([]time.Duration, k)
	for i := range lats {
		line, err := p.out.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(p.cmd.Path), err)
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
		if err != nil {
			return nil, err
		}
		lats[i] = time.Duration(ns)
	}
	return lats, nil
}

// stop closes the client's stdin and waits for it (killing it after 5s).
func (p *latProc) stop() {
	p.in.Close()
	stopCmd(p.cmd, 5*time.Second)
}

// stopCmd waits up to d for cmd to exit, then kills it.
func stopCmd(cmd *exec.Cmd, d time.Duration) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	t := time.AfterFunc(d, func() { cmd.Process.Kill() })
	cmd.Wait()
	t.Stop()
}

// killCmd ends a server that never exits by itself.
func killCmd(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Kill()
	cmd.Wait()
}

func benchFIFOSetup() (configs []benchConfig, stream []benchThroughput, cleanupFn func(), err error) {
	var cl benchCleanup
	defer func() {
		if err != nil {
			cl.run()
		}
	}()
	dir, err := os.MkdirTemp("", "posixipc-bench-fifo-")
	if err != nil {
		return nil, nil, nil, err
	}
	cl.add(func() { os.RemoveAll(dir) })
	pair := func(tag string) (req, resp string, err error) {
		req, resp = filepath.Join(dir, tag+".req"), filepath.Join(dir, tag+".resp")
		if err := fifo.Make(req, 0o600); err != nil {
			return "", "", err
		}
		return req, resp, fifo.Make(resp, 0o600)
	}
	// server starts an echo server; it exits at EOF, once the client closed.
	server := func(cmd *exec.Cmd, err error) error {
		if err != nil {
			return err
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		cl.add(func() { stopCmd(cmd, 5*time.Second) })
		return nil
	}
	msg := make([]byte, fifoMsg)

	// c-c
	req, resp, err := pair("cc")
	if err != nil {
		return nil, nil, nil, err
	}
	if err := server(peer.Command("fifopeer", "echo", req, resp, strconv.Itoa(fifoMsg))); err != nil {
		return nil, nil, nil, err
	}
	cc, err := startLatProc("fifopeer", "client-lat", req, resp, strconv.Itoa(fifoMsg))
	if err != nil {
		return nil, nil, nil, err
	}
	cl.add(cc.stop)
	configs = append(configs, benchConfig{label: "c-c", block: cc.block})

	// go-c and go-go: binding/fifo against a C and a Go echo server
	goClient := func(label, req, resp string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w, err := fifo.Open(ctx, req, os.O_WRONLY)
		if err != nil {
			return err
		}
		cl.add(func() { w.Close() })
		r, err := fifo.Open(ctx, resp, os.O_RDONLY)
		if err != nil {
			return err
		}
		cl.add(func() { r.Close() })
		buf := make([]byte, fifoMsg)
		configs = append(configs, benchConfig{label: label, block: func(k int) ([]time.Duration, error) {
			lats := make([]time.Duration, k)
			for i := range lats {
				t0 := time.Now()
				if _, err := w.Write(msg); err != nil {
					return nil, err
				}
				if _, err := io.ReadFull(r, buf); err != nil {
					return nil, err
				}
				lats[i] = time.Since(t0)
			}
			return lats, nil
		}})
		return nil
	}
	if req, resp, err = pair("gc"); err != nil {
		return nil, nil, nil, err
	}
	if err := server(peer.Command("fifopeer", "echo", req, resp, strconv.Itoa(fifoMsg))); err != nil {
		return nil, nil, nil, err
	}
	if err := goClient("go-c", req, resp); err != nil {
		return nil, nil, nil, err
	}
	if req, resp, err = pair("gg"); err != nil {
		return nil, nil, nil, err
	}
	if err := server(selfCmd("bench-peer", "fifo-echo", req, resp)); err != nil {
		return nil, nil, nil, err
	}
	if err := goClient("go-go", req, resp); err != nil {
		return nil, nil, nil, err
	}

	// cgo: the plain blocking baseline on both sides
	if req, resp, err = pair("raw"); err != nil {
		return nil, nil, nil, err
	}
	if err := server(selfCmd("bench-peer", "fifo-echo-raw", req, resp)); err != nil {
		return nil, nil, nil, err
	}
	wfd, rfd, err := rawFIFOPair(req, resp, 10*time.Second)
	if err != nil {
		return nil, nil, nil, err
	}
	cl.add(func() { unix.Close(wfd); unix.Close(rfd) })
	rbuf := make([]byte, fifoMsg)
	configs = append(configs, benchConfig{label: "cgo", block: func(k int) ([]time.Duration, error) {
		lats := make([]time.Duration, k)
		for i := range lats {
			t0 := time.Now()
			if err := rawWriteAll(wfd, msg); err != nil {
				return nil, err
			}
			if n, err := rawReadFull(rfd, rbuf); err != nil || n == 0 {
				return nil, errors.Join(err, io.ErrUnexpectedEOF)
			}
			lats[i] = time.Since(t0)
		}
		return lats, nil
	}})

	spath := filepath.Join(dir, "stream")
	if err := fifo.Make(spath, 0o600); err != nil {
		return nil, nil, nil, err
	}
	return configs, fifoStreams(spath, 0), cl.run, nil
}

// benchFIFO1M: the streams only, with a 1 MiB pipe.
func benchFIFO1M() ([]benchConfig, []benchThroughput, func(), error) {
	dir, err := os.MkdirTemp("", "posixipc-bench-fifo-")
	if err != nil {
		return nil, nil, nil, err
	}
	spath := filepath.Join(dir, "stream")
	if err := fifo.Make(spath, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, nil, nil, err
	}
	return nil, fifoStreams(spath, 1<<20), func() { os.RemoveAll(dir) }, nil
}

// rawFIFOPair opens req for writing and resp for reading as the baseline
// client: the opens themselves are non-blocking (retried until the server is
// there, so a dead server cannot hang the report), then the descriptors are
// made blocking; every read and write after that is a blocking syscall.
func rawFIFOPair(req, resp string, limit time.Duration) (wfd, rfd int, err error) {
	deadline := time.Now().Add(limit)
	for {
		wfd, err = unix.Open(req, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != unix.ENXIO || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Microsecond)
	}
	if err != nil {
		return -1, -1, &os.PathError{Op: "open", Path: req, Err: err}
	}
	// The server's blocking open of resp for writing has already counted it
	// as a writer, so reads never see a premature EOF.
	rfd, err = unix.Open(resp, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(wfd)
		return -1, -1, &os.PathError{Op: "open", Path: resp, Err: err}
	}
	if err = unix.SetNonblock(wfd, false); err == nil {
		err = rawHandshake(wfd, rfd, deadline)
	}
	if err == nil {
		err = unix.SetNonblock(rfd, false)
	}
	if err != nil {
		unix.Close(wfd)
		unix.Close(rfd)
		return -1, -1, err
	}
	return wfd, rfd, nil
}

// rawHandshake sends one message and reads its echo on the still
// non-blocking rfd: the server opens resp for writing only after its open of
// req returned, and a read before that finds no writer and reports EOF. Once
// the echo is in, the writer is there for good.
func rawHandshake(wfd, rfd int, deadline time.Time) error {
	buf := make([]byte, fifoMsg)
	if err := rawWriteAll(wfd, buf); err != nil {
		return err
	}
	for got := 0; got < fifoMsg; {
		n, err := unix.Read(rfd, buf[got:])
		if n > 0 {
			got += n
			continue
		}
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			return os.NewSyscallError("read", err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("fifo baseline: no echo from the server: %w", os.ErrDeadlineExceeded)
		}
		time.Sleep(100 * time.Microsecond) // no writer yet (EOF) or no echo yet (EAGAIN)
	}
	return nil
}

const fifoStreamBlock = 65536 // bytes per read and write on every side

func fifoStreamBytes(quick bool) int64 {
	if quick {
		return 32 << 20
	}
	return 128 << 20
}

// medianRun runs one transfer n times (5, or 3 with quick) and returns the
// one of median throughput: on a shared machine one transfer is easily
// halved by a neighbour's burst, and the median of several is steadier than
// their mean. Every set-up of a stream gets the same treatment.
func medianRun(quick bool, run func() (int64, time.Duration, error)) (int64, time.Duration, error) {
	n := 5
	if quick {
		n = 3
	}
	type res struct {
		b int64
		d time.Duration
	}
	rs := make([]res, 0, n)
	for i := 0; i < n; i++ {
		b, d, err := run()
		if err != nil {
			return 0, 0, err
		}
		rs = append(rs, res{b, d})
	}
	sort.Slice(rs, func(i, j int) bool {
		return float64(rs[i].b)/rs[i].d.Seconds() < float64(rs[j].b)/rs[j].d.Seconds()
	})
	m := rs[len(rs)/2]
	return m.b, m.d, nil
}

// fifoStreams streams bytes one way through the FIFO at path: C→C, Go→C and
// C→Go. Each figure is timed by the reader, from its open's return to EOF.
// pipeSize > 0: the reader sets the pipe's capacity first.
func fifoStreams(path string, pipeSize int) []benchThroughput {
	// cReader runs the C reader while write feeds the FIFO; the C reader
	// prints "BYTES NANOSECONDS".
	cReader := func(total int64, write func() error) (int64, time.Duration, error) {
		args := []string{"read", path}
		if pipeSize > 0 {
			args = append(args, "fast", strconv.Itoa(pipeSize))
		}
		cmd, err := peer.Command("fifopeer", args...)
		if err != nil {
			return 0, 0, err
		}
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return 0, 0, err
		}
		if err := cmd.Start(); err != nil {
			return 0, 0, err
		}
		werr := write()
		if werr != nil {
			cmd.Process.Kill()
		}
		var n, ns int64
		fmt.Fscan(out, &n, &ns)
		if err := cmd.Wait(); werr != nil || err != nil {
			return 0, 0, errors.Join(werr, err)
		}
		if n != total || ns <= 0 {
			return 0, 0, fmt.Errorf("the C reader got %d of %d bytes", n, total)
		}
		return n, time.Duration(ns), nil
	}
	cWriter := func(total int64) (*exec.Cmd, error) {
		cmd, err := peer.Command("fifopeer", "write", path, strconv.FormatInt(total, 10), strconv.Itoa(fifoStreamBlock))
		if err != nil {
			return nil, err
		}
		cmd.Stderr = os.Stderr
		return cmd, cmd.Start()
	}
	openCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), 10*time.Second)
	}
	buf := make([]byte, fifoStreamBlock)
	return []benchThroughput{
		{label: "c-c", run: func(quick bool) (int64, time.Duration, error) {
			total := fifoStreamBytes(quick)
			return medianRun(quick, func() (int64, time.Duration, error) {
				return cReader(total, func() error {
					w, err := cWriter(total)
					if err != nil {
						return err
					}
					return w.Wait()
				})
			})
		}},
		{label: "go-c", run: func(quick bool) (int64, time.Duration, error) {
			total := fifoStreamBytes(quick)
			return medianRun(quick, func() (int64, time.Duration, error) {
				return cReader(total, func() error {
					ctx, cancel := openCtx()
					defer cancel()
					f, err := fifo.Open(ctx, path, os.O_WRONLY)
					if err != nil {
						return err
					}
					for left := total; left > 0; {
						n := min(left, int64(len(buf)))
						if _, err := f.Write(buf[:n]); err != nil {
							f.Close()
							return err
						}
						left -= n
					}
					return f.Close()
				})
			})
		}},
		{label: "c-go", run: func(quick bool) (int64, time.Duration, error) {
			return medianRun(quick, func() (int64, time.Duration, error) {
				return fifoGoReader(fifoStreamBytes(quick), cWriter, path, pipeSize, buf)
			})
		}},
	}
}

// fifoGoReader reads what a C writer streams through path, in Go.
func fifoGoReader(total int64, cWriter func(int64) (*exec.Cmd, error), path string, pipeSize int, buf []byte) (int64, time.Duration, error) {
	w, err := cWriter(total)
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := fifo.Open(ctx, path, os.O_RDONLY)
	if err != nil {
		killCmd(w)
		return 0, 0, err
	}
	if pipeSize > 0 {
		if _, err := f.SetPipeSize(pipeSize); err != nil {
			f.Close()
			killCmd(w)
			return 0, 0, err
		}
	}
	t0 := time.Now()
	var got int64
	for {
		n, err := f.Read(buf)
		got += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			f.Close()
			killCmd(w)
			return 0, 0, err
		}
	}
	d := time.Since(t0)
	f.Close()
	if err := w.Wait(); err != nil {
		return 0, 0, err
	}
	if got != total {
		return 0, 0, fmt.Errorf("the Go reader got %d of %d bytes", got, total)
	}
	return got, d, nil
}
