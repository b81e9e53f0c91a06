//go:build linux && cgo

package sysvsem_test

import (
	"context"
	"fmt"
	"os"

	"github.com/posixipc/posixipc/binding/sysvsem"
)

// Two semaphores hand a resource over atomically, and Undo gives a unit
// back if its holder dies: take one of "free" (0) and one of "slots" (1)
// in one step, or neither.
func Example_undo() {
	s, err := sysvsem.Open(sysvsem.Private, os.O_CREATE, 0o600, []int{1, 4})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	defer s.Remove()
	ctx := context.Background()

	take := []sysvsem.Op{{Num: 0, Delta: -1, Flags: sysvsem.Undo}, {Num: 1, Delta: -1, Flags: sysvsem.Undo}}
	if err := s.Do(ctx, take...); err != nil {
		panic(err)
	}
	v, _ := s.Values()
	fmt.Println("held:", v)
	give := []sysvsem.Op{{Num: 0, Delta: 1, Flags: sysvsem.Undo}, {Num: 1, Delta: 1, Flags: sysvsem.Undo}}
	if err := s.Do(ctx, give...); err != nil {
		panic(err)
	}
	v, _ = s.Values()
	fmt.Println("given back:", v)
	// Output:
	// held: [0 3]
	// given back: [1 4]
}
