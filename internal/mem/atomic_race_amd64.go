//go:build linux && cgo && race

package mem

// Race builds: the atomics in assembly (atomic_race_amd64.s).

// Load32 loads *p, sequentially consistent.
//
//go:noescape
func Load32(p *uint32) uint32

// Store32 stores v at *p, sequentially consistent.
//
//go:noescape
func Store32(p *uint32, v uint32)

// Add32 adds d to *p and returns the new value, sequentially consistent.
//
//go:noescape
func Add32(p *uint32, d uint32) uint32

// CAS32 sets *p to new if it holds old and reports whether it did, sequentially consistent.
//
//go:noescape
func CAS32(p *uint32, old, new uint32) bool

// Load64 loads *p, sequentially consistent.
//
//go:noescape
func Load64(p *uint64) uint64

// Store64 stores v at *p, sequentially consistent.
//
//go:noescape
func Store64(p *uint64, v uint64)

// Add64 adds d to *p and returns the new value, sequentially consistent.
//
//go:noescape
func Add64(p *uint64, d uint64) uint64

// CAS64 sets *p to new if it holds old and reports whether it did, sequentially consistent.
//
//go:noescape
func CAS64(p *uint64, old, new uint64) bool

// Set32 stores v at *p with release order only: the stores before it are
// seen first, but a later load may pass it (no fence). For words that no
// Dekker-style handshake reads.
//
//go:noescape
func Set32(p *uint32, v uint32)

// Set64 is Set32 for a uint64.
//
//go:noescape
func Set64(p *uint64, v uint64)
