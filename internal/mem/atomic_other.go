//go:build linux && cgo && !amd64

package mem

import "sync/atomic"

// On other architectures the atomics are sync/atomic: safe to fault in
// ordinary builds; in race builds a fault in them is fatal (see
// atomic_amd64.s for why amd64 is different).

func Load32(p *uint32) uint32               { return atomic.LoadUint32(p) }
func Store32(p *uint32, v uint32)           { atomic.StoreUint32(p, v) }
func Add32(p *uint32, d uint32) uint32      { return atomic.AddUint32(p, d) }
func CAS32(p *uint32, old, new uint32) bool { return atomic.CompareAndSwapUint32(p, old, new) }
func Load64(p *uint64) uint64               { return atomic.LoadUint64(p) }
func Store64(p *uint64, v uint64)           { atomic.StoreUint64(p, v) }
func Add64(p *uint64, d uint64) uint64      { return atomic.AddUint64(p, d) }
func CAS64(p *uint64, old, new uint64) bool { return atomic.CompareAndSwapUint64(p, old, new) }

// Pause does nothing on this architecture.
func Pause() {}

// Set32 and Set64 are release stores; here, sequentially consistent ones.
func Set32(p *uint32, v uint32) { atomic.StoreUint32(p, v) }
func Set64(p *uint64, v uint64) { atomic.StoreUint64(p, v) }
