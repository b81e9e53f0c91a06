//go:build linux && cgo

// Package mem holds the atomics that the module uses on memory shared with
// other processes (binding/shm's accessors, binding/ring): sequentially
// consistent like sync/atomic, and safe to fault in. On amd64 they are
// ordinary Go assembly functions, so a SIGBUS or SIGSEGV inside them (a
// peer truncated the object below the mapping) is a fault in Go code that
// debug.SetPanicOnFault turns into a recoverable panic, in race builds too,
// where sync/atomic runs in the race runtime on the system stack and a
// fault there kills the process. The race detector does not see these
// accesses: memory shared with other processes is outside its model anyway.
package mem
