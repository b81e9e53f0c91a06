//go:build linux && cgo

package popen_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/posixipc/posixipc/binding/popen"
)

// Read a command's output through glibc's popen and get its exit status.
func Example_exitStatus() {
	p, err := popen.Open("echo hello; exit 3", "re")
	if err != nil {
		panic(err)
	}
	out, _ := io.ReadAll(p)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = p.CloseContext(ctx) // kills the child if it does not exit in time
	var ee *popen.ExitError
	if errors.As(err, &ee) {
		fmt.Printf("%q exit code %d\n", out, ee.ExitCode())
	}
	// Output: "hello\n" exit code 3
}
