//go:build linux && cgo

package flock_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/posixipc/posixipc/binding/flock"
)

// A file-lock-guarded update: each updater has its own File (OFD locks
// belong to the open file description, so they exclude goroutines of one
// process as they exclude C programs' fcntl locks).
func Example_guardedUpdate() {
	dir, _ := os.MkdirTemp("", "flock-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "counter")
	os.WriteFile(path, []byte("0"), 0o600)

	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := flock.Open(path)
			if err != nil {
				panic(err)
			}
			defer f.Close() // releases the lock too
			if err := f.LockRange(context.Background(), flock.Whole, flock.Exclusive); err != nil {
				panic(err)
			}
			b, _ := os.ReadFile(path)
			n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			os.WriteFile(path, []byte(strconv.Itoa(n+1)), 0o600)
			f.UnlockRange(flock.Whole)
		}()
	}
	wg.Wait()
	b, _ := os.ReadFile(path)
	fmt.Println(string(b))
	// Output: 8
}
