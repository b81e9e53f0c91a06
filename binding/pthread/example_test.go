//go:build linux && cgo

package pthread_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/posixipc/posixipc/binding/pthread"
	"github.com/posixipc/posixipc/binding/shm"
)

// A robust mutex guarding a counter in shared memory, with the owner-death
// recovery pattern. A C program would map the same segment and use
// struct posixipc_sync of crt/posixipc_layout.h.
func ExampleMutex() {
	name := fmt.Sprintf("/posixipc-example-%d", os.Getpid())
	// The mutex is initialised before the segment gets its name, so no peer
	// can open the segment and find it half-made.
	var m *pthread.Mutex
	seg, err := shm.CreateWith(name, 4096, 0o600, func(s *shm.Segment) (err error) {
		m, err = pthread.NewMutex(s, pthread.LayoutMutex, nil) // robust, error-checking
		return err
	})
	if err != nil {
		panic(err)
	}
	defer shm.Unlink(name)
	defer seg.Close() // after m.Close: the mutex pins the segment
	defer m.Close()

	ctx := context.Background()
	err = m.Lock(ctx)
	if errors.Is(err, pthread.ErrOwnerDead) {
		// The previous holder died inside its critical section: repair the
		// data it protects, then mark the mutex consistent.
		err = m.MarkConsistent()
	}
	if err != nil {
		panic(err)
	}
	// The counter, through the fault-safe accessors: no unsafe, and an
	// error rather than a crash if a peer truncated the segment.
	n, err := seg.AddUint64(pthread.LayoutCounter, 1)
	if err != nil {
		panic(err)
	}
	if err := m.Unlock(); err != nil { // from the goroutine that locked
		panic(err)
	}
	st, _ := m.State()
	fmt.Println(n, st)
	// Output: 1 unlocked (errorcheck, robust)
}
