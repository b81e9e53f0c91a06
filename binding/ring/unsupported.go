//go:build !linux || !cgo

package ring

// The module builds only on Linux with cgo: importing the root package
// stops the build with one message that says so.
import _ "github.com/posixipc/posixipc"
