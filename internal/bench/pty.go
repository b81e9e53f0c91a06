//go:build linux && cgo

package bench

// The pty row of `posixipc bench`: 64 bytes written to a pseudoterminal's
// master and read back from a program that echoes them on the slave in raw
// mode. c-c is crt/ptypeer against itself; go-c and go-go are binding/pty
// against crt/ptypeer and this binary's Go echo peer; cgo is plain
// blocking read(2)/write(2) on a master this set-up opens through the raw
// shims, against crt/ptypeer.

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/binding/pty"
	"github.com/posixipc/posixipc/internal/peer"
	"golang.org/x/sys/unix"
)

const ptyBenchSize = 64

func init() {
	addBench(benchPrimitive{name: "pty", order: 80, what: "64 bytes through a pseudoterminal's master to a raw-mode echo on the slave and back", setup: benchPtySetup})
	benchPeers["pty-echo"] = ptyEcho
}

// ptyEcho is the Go echo peer: raw mode on its terminal (stdin), "ready",
// then what it reads goes back out.
func ptyEcho(args []string) error {
	if _, err := pty.MakeRaw(0); err != nil {
		return err
	}
	os.Stdout.WriteString("ready\n")
	_, err := io.Copy(os.Stdout, os.Stdin)
	return err
}

// ptyReady reads the echo peer's "ready\n" from r.
func ptyReady(r io.Reader, cmd *exec.Cmd) error {
	return expectLine(bufio.NewReaderSize(r, 16), cmd, "ready", 10*time.Second)
}

func benchPtySetup() ([]benchConfig, []benchThroughput, func(), error) {
	cl := &benchCleanup{}
	fail := func(err error) ([]benchConfig, []benchThroughput, func(), error) {
		cl.run()
		return nil, nil, nil, err
	}
	out, in := make([]byte, ptyBenchSize), make([]byte, ptyBenchSize)
	// goPing starts cmd on a pseudoterminal (binding/pty) and times round
	// trips through its master.
	goPing := func(label string, cmd *exec.Cmd, err error) (benchConfig, error) {
		if err != nil {
			return benchConfig{}, err
		}
		p, err := pty.Start(cmd, nil)
		if err != nil {
			return benchConfig{}, err
		}
		cl.add(func() { p.Close(); killCmd(cmd) })
		if err := ptyReady(p, cmd); err != nil {
			return benchConfig{}, err
		}
		return benchConfig{label: label, block: func(k int) ([]time.Duration, error) {
			return latencies(k, func() error {
				if _, err := p.Write(out); err != nil {
					return err
				}
				_, err := io.ReadFull(p, in)
				return err
			})
		}}, nil
	}
	ccmd, err := peer.Command("ptypeer", "echo")
	cfgGC, err := goPing("go-c", ccmd, err)
	if err != nil {
		return fail(err)
	}
	gcmd, err := selfCmd("bench-peer", "pty-echo")
	cfgGG, err := goPing("go-go", gcmd, err)
	if err != nil {
		return fail(err)
	}
	cfgRaw, err := rawPty(cl, out, in)
	if err != nil {
		return fail(err)
	}
	cfgC := benchConfig{label: "c-c", block: func(k int) ([]time.Duration, error) {
		return cLatencies("ptypeer", "ping-lat", strconv.Itoa(k), strconv.Itoa(ptyBenchSize))
	}}
	return []benchConfig{cfgC, cfgGC, cfgGG, cfgRaw}, nil, cl.run, nil
}

// rawPty is the baseline: a blocking master opened with the raw shims,
// crt/ptypeer echoing on its slave, plain read(2)/write(2).
func rawPty(cl *benchCleanup, out, in []byte) (benchConfig, error) {
	m, err := posixipc.PosixOpenpt(unix.O_RDWR | unix.O_NOCTTY | unix.O_CLOEXEC)
	if err != nil {
		return benchConfig{}, err
	}
	cl.add(func() { unix.Close(m) })
	if err := posixipc.Grantpt(m); err != nil {
		return benchConfig{}, err
	}
	if err := posixipc.Unlockpt(m); err != nil {
		return benchConfig{}, err
	}
	name, err := posixipc.PtsnameR(m)
	if err != nil {
		return benchConfig{}, err
	}
	tty, err := os.OpenFile(name, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return benchConfig{}, err
	}
	defer tty.Close()
	cmd, err := peer.Command("ptypeer", "echo")
	if err != nil {
		return benchConfig{}, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		return benchConfig{}, err
	}
	cl.add(func() { killCmd(cmd) })
	if err := ptyReady(fdReader(m), cmd); err != nil {
		return benchConfig{}, err
	}
	return benchConfig{label: "cgo", block: func(k int) ([]time.Duration, error) {
		return latencies(k, func() error {
			if _, err := unix.Write(m, out); err != nil {
				return err
			}
			for got := 0; got < len(in); {
				n, err := unix.Read(m, in[got:])
				if err == unix.EINTR {
					continue
				}
				if err != nil {
					return err
				}
				got += n
			}
			return nil
		})
	}}, nil
}

// fdReader reads a descriptor with plain read(2).
type fdReader int

func (f fdReader) Read(b []byte) (int, error) {
	for {
		n, err := unix.Read(int(f), b)
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}
