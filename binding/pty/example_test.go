//go:build linux && cgo

package pty_test

import (
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/posixipc/posixipc/binding/pty"
)

// A program run on a pseudoterminal sees a terminal (and so colours, line
// buffering, prompts); its output ends with io.EOF when it exits.
func Example_start() {
	cmd := exec.Command("sh", "-c", "test -t 1 && echo on a terminal")
	p, err := pty.Start(cmd, &pty.Size{Rows: 24, Cols: 80})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	out, _ := io.ReadAll(p) // every byte the program wrote, then io.EOF
	cmd.Wait()
	fmt.Println(strings.TrimSpace(string(out)))
	// Output: on a terminal
}
