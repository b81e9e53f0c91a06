//go:build linux && cgo && !(amd64 && race)

package mem

import "sync/atomic"

// Every build but race builds on amd64: sync/atomic, which the compiler
// inlines as single instructions in Go code, where a fault is recovered
// under debug.SetPanicOnFault like any other (in race builds on other
// architectures sync/atomic runs in the race runtime, where a fault is
// fatal; amd64's race builds use atomic_race_amd64.s instead).

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
