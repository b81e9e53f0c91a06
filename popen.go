//go:build linux && cgo

package posixipc

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import "unsafe"

// PopenFile is the FILE * that popen(3) returned, as an opaque handle. It
// points to C memory owned by glibc until Pclose; Go never dereferences it.
type PopenFile uintptr

// Popen wraps popen(3): it runs command with /bin/sh -c and returns the
// stream's handle and its file descriptor (fileno). mode is passed to glibc as
// it is ("r", "w", with "e" for close-on-exec).
func Popen(command, mode string) (PopenFile, int, error) {
	ccmd := C.CString(command)
	defer C.free(unsafe.Pointer(ccmd))
	cmode := C.CString(mode)
	defer C.free(unsafe.Pointer(cmode))
	var fp C.uintptr_t
	var fd C.int
	if e := C.pi_popen(ccmd, cmode, &fp, &fd); e != 0 {
		return 0, -1, errnoErr(e)
	}
	return PopenFile(fp), int(fd), nil
}

// Pclose wraps pclose(3): it closes the stream (and its file descriptor),
// waits for the shell with waitpid(2) and returns its wait status. It blocks
// in C, holding an OS thread, until the child exits.
func Pclose(fp PopenFile) (status int, err error) {
	var st C.int
	if e := C.pi_pclose(C.uintptr_t(fp), &st); e != 0 {
		return 0, errnoErr(e)
	}
	return int(st), nil
}
