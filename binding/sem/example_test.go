//go:build linux && cgo

package sem_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/posixipc/posixipc/binding/sem"
)

// A named semaphore limits a pool: at most 3 workers, of any process (a C
// program opens the same semaphore with sem_open("/pool-…", 0)), use the
// resource at once.
func Example_pool() {
	name := fmt.Sprintf("/posixipc-example-pool-%d", os.Getpid())
	s, err := sem.Open(name, os.O_CREATE|os.O_EXCL, 0o600, 3)
	if err != nil {
		panic(err)
	}
	defer sem.Unlink(name)
	defer s.Close()

	var in, most atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Wait(context.Background()); err != nil {
				panic(err)
			}
			n := in.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			in.Add(-1)
			if err := s.Post(); err != nil {
				panic(err)
			}
		}()
	}
	wg.Wait()
	v, _ := s.Value()
	fmt.Println("at most 3 at once:", most.Load() <= 3, "- units back:", v)
	// Output: at most 3 at once: true - units back: 3
}
