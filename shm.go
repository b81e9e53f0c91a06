//go:build linux && cgo

package posixipc

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import "unsafe"

// ShmOpen wraps shm_open(3) and returns the file descriptor.
func ShmOpen(name string, oflag int, mode uint32) (int, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var fd C.int
	if e := C.pi_shm_open(cname, C.int(oflag), C.uint(mode), &fd); e != 0 {
		return -1, errnoErr(e)
	}
	return int(fd), nil
}

// ShmUnlink wraps shm_unlink(3).
func ShmUnlink(name string) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return errnoErr(C.pi_shm_unlink(cname))
}

// Ftok wraps ftok(3): the System V IPC key of path and projID.
func Ftok(path string, projID int) (int, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var k C.int
	if e := C.pi_ftok(cpath, C.int(projID), &k); e != 0 {
		return -1, errnoErr(e)
	}
	return int(k), nil
}
