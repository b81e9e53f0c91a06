//go:build linux && cgo

// Package mem holds the atomics that the module uses on memory shared with
// other processes (binding/shm's accessors, binding/ring): sequentially
// consistent like sync/atomic, plus release stores (Set32, Set64), and
// safe to fault in: a SIGBUS or SIGSEGV inside them (a peer truncated the
// object below the mapping) is a fault in Go code, which
// debug.SetPanicOnFault turns into a recoverable panic.
//
// In ordinary builds they are sync/atomic, which the compiler inlines as
// single instructions. In race builds on amd64 they are Go assembly
// functions (atomic_race_amd64.s): there sync/atomic runs in the race
// runtime on the system stack, where a fault kills the process. The race
// detector does not see these accesses either way: memory shared with
// other processes is outside its model.
package mem
