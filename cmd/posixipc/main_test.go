//go:build linux && cgo

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// cliPath is the posixipc binary built once for the end-to-end tests.
var cliPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "posixipc-cli")
	if err != nil {
		panic(err)
	}
	cliPath = filepath.Join(dir, "posixipc")
	if out, err := exec.Command("go", "build", "-o", cliPath, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("building the CLI: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goroutine leak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// cliResult is what one run of the CLI did.
type cliResult struct {
	stdout, stderr string
	code           int
}

// cli runs the built posixipc binary with args and stdin.
func cli(t testing.TB, stdin string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(cliPath, args...)
	cmd.Stdin = bytes.NewBufferString(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running posixipc %v: %v", args, err)
	}
	return cliResult{o.String(), e.String(), code}
}
