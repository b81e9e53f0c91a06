//go:build linux && cgo

package sig_test

import (
	"context"
	"fmt"
	"os"

	"github.com/posixipc/posixipc/binding/sig"
)

// A realtime signal carries a value and says who sent it: a C daemon does
// sigqueue(pid, SIGRTMIN+3, (union sigval){.sival_int = 42}).
func Example_value() {
	s := sig.RTMin() + 3
	r, err := sig.Take(s)
	if err != nil {
		panic(err)
	}
	defer r.Close()
	if err := sig.Queue(os.Getpid(), s, 42); err != nil { // here to ourselves
		panic(err)
	}
	in, err := r.Receive(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println(sig.Name(in.Signo), in.Code == sig.CodeQueue, in.Pid == os.Getpid(), in.Value)
	// Output: SIGRTMIN+3 true true 42
}
