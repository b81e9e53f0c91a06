//go:build linux && cgo

package fifo_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/posixipc/posixipc/binding/fifo"
)

// A FIFO pair: a writer and a reader rendezvous at open, as with C's
// open(2) on a FIFO, but the wait is cancellable.
func Example_pair() {
	dir, _ := os.MkdirTemp("", "fifo-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "pipe")
	if err := fifo.Make(path, 0o600); err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		w, err := fifo.Open(ctx, path, os.O_WRONLY) // waits for the reader
		if err != nil {
			panic(err)
		}
		w.Write([]byte("through the FIFO"))
		w.Close()
	}()
	r, err := fifo.Open(ctx, path, os.O_RDONLY) // waits for the writer
	if err != nil {
		panic(err)
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	fmt.Println(string(b))
	// Output: through the FIFO
}
