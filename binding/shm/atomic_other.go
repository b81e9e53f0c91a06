//go:build linux && cgo && !amd64

package shm

import "sync/atomic"

// On other architectures the accessors use sync/atomic: safe to fault in
// ordinary builds; in race builds a fault in them is fatal (see
// atomic_amd64.s for why amd64 is different).

func load32(p *uint32) uint32               { return atomic.LoadUint32(p) }
func store32(p *uint32, v uint32)           { atomic.StoreUint32(p, v) }
func add32(p *uint32, d uint32) uint32      { return atomic.AddUint32(p, d) }
func cas32(p *uint32, old, new uint32) bool { return atomic.CompareAndSwapUint32(p, old, new) }
func load64(p *uint64) uint64               { return atomic.LoadUint64(p) }
func store64(p *uint64, v uint64)           { atomic.StoreUint64(p, v) }
func add64(p *uint64, d uint64) uint64      { return atomic.AddUint64(p, d) }
func cas64(p *uint64, old, new uint64) bool { return atomic.CompareAndSwapUint64(p, old, new) }
