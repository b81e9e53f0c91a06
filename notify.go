//go:build linux && cgo

package posixipc

// #include <stdint.h>
import "C"

import "sync"

// The callbacks of mq_notify(3) registrations, by an integer handle: C keeps
// the integer, never a Go pointer.
var (
	notifyMu   sync.Mutex
	notifyFns  = map[uintptr]func(){}
	notifyNext uintptr
)

// RegisterNotify keeps fn under a new handle for MqNotifyThread.
func RegisterNotify(fn func()) uintptr {
	notifyMu.Lock()
	defer notifyMu.Unlock()
	notifyNext++
	notifyFns[notifyNext] = fn
	return notifyNext
}

// UnregisterNotify forgets handle h: a notification that fires for it later
// runs nothing.
func UnregisterNotify(h uintptr) {
	notifyMu.Lock()
	delete(notifyFns, h)
	notifyMu.Unlock()
}

//export posixipcMqNotify
func posixipcMqNotify(h C.uintptr_t) {
	// glibc runs this on a thread of its own. A handle already forgotten
	// means the registration was withdrawn after the kernel fired it. A
	// panic in the callback is not recovered: it ends the program, as any
	// goroutine's panic does.
	notifyMu.Lock()
	f := notifyFns[uintptr(h)]
	notifyMu.Unlock()
	if f != nil {
		f()
	}
}
