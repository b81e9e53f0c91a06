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

	"github.com/posixipc/posixipc/binding/fifo"
	"github.com/posixipc/posixipc/internal/peer"
)

func init() {
	addDemoStep(demoStep{order: 50, title: "FIFO: Go streams lines through a C program (crt/fifopeer.c) and reads them back upper-cased", run: demoFIFO})
}

func demoFIFO(log func(string, ...any)) error {
	dir, err := os.MkdirTemp("", "posixipc-demo-fifo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	for _, p := range []string{in, out} {
		if err := fifo.Make(p, 0o600); err != nil {
			return err
		}
	}
	log("Go made FIFOs %s and %s (mkfifo)", in, out)
	pp, err := peer.Path("fifopeer")
	if err != nil {
		return err
	}
	c := exec.Command(pp, "upper", in, out)
	c.Stderr = os.Stderr
	if err := c.Start(); err != nil {
		return err
	}
	defer c.Wait()
	defer c.Process.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := fifo.Open(ctx, in, os.O_WRONLY)
	if err != nil {
		return err
	}
	defer w.Close()
	r, err := fifo.Open(ctx, out, os.O_RDONLY)
	if err != nil {
		return err
	}
	defer r.Close()
	log("both opens met the C peer's blocking opens (Go waited without holding a thread)")
	lines := []string{"hello from go", "one write per line: each is atomic (<= PIPE_BUF)", "bye"}
	for _, l := range lines {
		if _, err := w.Write([]byte(l + "\n")); err != nil {
			return err
		}
		log("Go wrote   %q", l)
	}
	w.Close()
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		log("Go read    %q", sc.Text())
		if sc.Text() != strings.ToUpper(lines[n]) {
			return fmt.Errorf("demo fifo: got %q, want %q", sc.Text(), strings.ToUpper(lines[n]))
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if err := c.Wait(); err != nil {
		return err
	}
	log("the C peer saw EOF and exited 0; FIFOs removed")
	return nil
}
