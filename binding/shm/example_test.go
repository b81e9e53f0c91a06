//go:build linux && cgo

package shm_test

import (
	"encoding/binary"
	"fmt"
	"os"

	"github.com/posixipc/posixipc/binding/shm"
)

// A segment shared with a C program that declares
//
//	struct stats { uint64_t requests; uint32_t state; uint32_t pad; char tag[16]; };
//
// and maps it with shm_open("/stats-…") and mmap: Go reaches the fields
// through the fault-safe accessors at their offsets (no unsafe), which
// return an error, not a crash, if a peer truncates the object.
func Example_cStruct() {
	const (
		offRequests = 0  // uint64_t, 8-byte aligned: atomic access
		offState    = 8  // uint32_t
		offTag      = 16 // char[16]
		size        = 32
	)
	name := fmt.Sprintf("/posixipc-example-stats-%d", os.Getpid())
	seg, err := shm.CreateWith(name, 4096, 0o600, func(s *shm.Segment) error {
		// Initialised before the name appears: a peer never sees it half-made.
		_, err := s.WriteAt([]byte("ready"), offTag)
		return err
	})
	if err != nil {
		panic(err)
	}
	defer shm.Unlink(name)
	defer seg.Close()

	for i := 0; i < 5; i++ {
		if _, err := seg.AddUint64(offRequests, 1); err != nil {
			panic(err)
		}
	}
	if err := seg.StoreUint32(offState, 2); err != nil {
		panic(err)
	}
	n, _ := seg.LoadUint64(offRequests)
	st, _ := seg.LoadUint32(offState)
	raw := make([]byte, size)
	seg.ReadAt(raw, 0)
	fmt.Println(n, st, binary.LittleEndian.Uint64(raw[offRequests:]), string(raw[offTag:offTag+5]))
	// Output: 5 2 5 ready
}
