//go:build linux && cgo

package mem

// Pause is the PAUSE instruction, the body of a spin loop: it tells the
// core that this is a spin, so the other hyperthread and the memory
// pipeline are not starved.
func Pause()
