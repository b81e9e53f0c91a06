//go:build linux && cgo && !race

package mem

// Ordinary builds on amd64: the release stores are plain stores (x86 keeps
// stores in order).

// Set32 stores v at *p with release order only: the stores before it are
// seen first, but a later load may pass it (no fence). For words that no
// Dekker-style handshake reads.
func Set32(p *uint32, v uint32) { *p = v }

// Set64 is Set32 for a uint64.
func Set64(p *uint64, v uint64) { *p = v }
