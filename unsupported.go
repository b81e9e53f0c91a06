//go:build !linux || !cgo

// posixipc calls glibc through cgo: it builds only on Linux with cgo
// enabled (CGO_ENABLED=1, a C compiler such as gcc). Elsewhere the build
// stops here with one message that says so.

package posixipc

var _ = posixipc_needs_linux_and_cgo__build_on_linux_with_CGO_ENABLED_1_and_gcc
