//go:build linux && cgo && !race

package mem

import "sync/atomic"

// Ordinary builds on amd64: sync/atomic, which the compiler inlines as
// single instructions in Go code, where a fault is recovered under
// debug.SetPanicOnFault like any other; and plain stores for the release
// stores (x86 keeps stores in order).

// Load32 loads *p, sequentially consistent.
func Load32(p *uint32) uint32 { return atomic.LoadUint32(p) }

// Store32 stores v at *p, sequentially consistent.
func Store32(p *uint32, v uint32) { atomic.StoreUint32(p, v) }

// Add32 adds d to *p and returns the new value, sequentially consistent.
func Add32(p *uint32, d uint32) uint32 { return atomic.AddUint32(p, d) }

// CAS32 sets *p to new if it holds old and reports whether it did,
// sequentially consistent.
func CAS32(p *uint32, old, new uint32) bool { return atomic.CompareAndSwapUint32(p, old, new) }

// Load64 loads *p, sequentially consistent.
func Load64(p *uint64) uint64 { return atomic.LoadUint64(p) }

// Store64 stores v at *p, sequentially consistent.
func Store64(p *uint64, v uint64) { atomic.StoreUint64(p, v) }

// Add64 adds d to *p and returns the new value, sequentially consistent.
func Add64(p *uint64, d uint64) uint64 { return atomic.AddUint64(p, d) }

// CAS64 sets *p to new if it holds old and reports whether it did,
// sequentially consistent.
func CAS64(p *uint64, old, new uint64) bool { return atomic.CompareAndSwapUint64(p, old, new) }

// Set32 stores v at *p with release order only: the stores before it are
// seen first, but a later load may pass it (no fence). For words that no
// Dekker-style handshake reads.
func Set32(p *uint32, v uint32) { *p = v }

// Set64 is Set32 for a uint64.
func Set64(p *uint64, v uint64) { *p = v }
