//go:build linux && cgo

package shm

// The accessors' atomics, in assembly (atomic_amd64.s): sequentially
// consistent, like sync/atomic, and safe to fault in (see the .s file).

//go:noescape
func load32(p *uint32) uint32

//go:noescape
func store32(p *uint32, v uint32)

//go:noescape
func add32(p *uint32, d uint32) uint32

//go:noescape
func cas32(p *uint32, old, new uint32) bool

//go:noescape
func load64(p *uint64) uint64

//go:noescape
func store64(p *uint64, v uint64)

//go:noescape
func add64(p *uint64, d uint64) uint64

//go:noescape
func cas64(p *uint64, old, new uint64) bool
