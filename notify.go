package posixipc

// #include <stdint.h>
import "C"

import "runtime/cgo"

//export posixipcMqNotify
func posixipcMqNotify(h C.uintptr_t) {
	// The handle was registered by MqNotifyThread's caller; glibc runs this on a
	// thread of its own. A handle already deleted means the registration was
	// withdrawn after the kernel fired it: ignore it.
	defer func() { _ = recover() }()
	if f, ok := cgo.Handle(h).Value().(func()); ok {
		f()
	}
}
