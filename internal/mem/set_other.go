//go:build linux && cgo && !amd64

package mem

import "sync/atomic"

// Pause does nothing on this architecture.
func Pause() {}

// Set32 and Set64 are release stores; here, sequentially consistent ones.
func Set32(p *uint32, v uint32) { atomic.StoreUint32(p, v) }
func Set64(p *uint64, v uint64) { atomic.StoreUint64(p, v) }
