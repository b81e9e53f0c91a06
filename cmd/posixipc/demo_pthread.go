//go:build linux && cgo

package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"unsafe"

	"github.com/posixipc/posixipc/binding/pthread"
	"github.com/posixipc/posixipc/binding/shm"
)

func init() {
	addDemoStep(demoStep{order: 40, title: "process-shared robust mutex: a Go goroutine and a C program (crt/pthreadpeer.c) increment one counter in shared memory", run: demoPthread})
}

func demoPthread(log func(string, ...any)) error {
	name := fmt.Sprintf("/posixipc-demo-mutex-%d", os.Getpid())
	seg, err := shm.Create(name, 4096, 0o600)
	if err != nil {
		return err
	}
	defer shm.Unlink(name)
	defer seg.Close()
	m, err := pthread.NewMutex(seg, pthread.LayoutMutex, nil)
	if err != nil {
		return err
	}
	defer m.Close()
	log("Go initialised a robust, error-checking, process-shared pthread_mutex_t at offset %d of %s (struct posixipc_sync, crt/posixipc_layout.h)", pthread.LayoutMutex, name)
	const n = 100000
	counter := (*uint64)(unsafe.Pointer(&seg.Bytes()[pthread.LayoutCounter]))
	var wg sync.WaitGroup
	var gerr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			if gerr = m.Lock(context.Background()); gerr != nil {
				return
			}
			*counter++
			if gerr = m.Unlock(); gerr != nil {
				return
			}
		}
	}()
	out, err := runPeerOut("pthreadpeer", "count", name, "0", fmt.Sprint(n))
	wg.Wait()
	if err != nil {
		return err
	}
	if gerr != nil {
		return gerr
	}
	ns := strings.TrimPrefix(strings.TrimSpace(out), "ns ")
	log("Go and C each incremented the counter %d times under the mutex (C took %s ns)", n, ns)
	if err := m.Lock(context.Background()); err != nil {
		return err
	}
	total := *counter
	m.Unlock()
	log("counter = %d (exact: %d)", total, 2*n)
	if total != 2*n {
		return fmt.Errorf("counter %d, want %d", total, 2*n)
	}
	log("segment removed (shm_unlink)")
	return nil
}
