//go:build linux && cgo

package fifo

// MaxProbes is maxProbes, for the thread-bound test.
const MaxProbes = maxProbes
