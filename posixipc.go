//go:build linux && cgo

// Package posixipc is the raw layer of the posixipc module: Go-typed mirrors of
// thin C shims (shim.c) over glibc's POSIX IPC calls.
//
// This is the only package of the module that imports "C". Its functions
// carry no policy and own no lifetimes: each one calls one shim, which calls
// one libc function, and returns what it returned. Errors are bare
// syscall.Errno values (never wrapped here, and never allocated), so the
// binding packages can wrap them in *fs.PathError or *os.SyscallError with the
// operation and object name.
//
// Most users want the idiomatic packages under binding/ instead (binding/mq,
// binding/sem, binding/shm, binding/pthread, binding/popen, binding/fifo,
// binding/flock).
//
// Rules kept here:
//   - C types never leave this package: every argument and result is a Go type.
//   - Go memory passed to C (message buffers, names) is used by C only for the
//     duration of the call; no Go pointer is stored in C or in shared memory.
//   - The pthread_* calls return their error number and the others set errno;
//     the shims turn both into one form: 0 or the error number.
//
// Stability: every exported name is the raw layer that the binding packages
// build on, except those of baseline.go (Noop and the *Plain calls), which
// exist only as the plain cgo baselines of the benchmarks and may change
// with them. The waiter and helper types (MqWaiter, Waiter, Helper,
// PthreadHandle) are the C state of the binding packages' blocking calls:
// use them only as those packages do.
package posixipc

/*
#cgo CFLAGS: -O2 -Wall -D_GNU_SOURCE
#cgo LDFLAGS: -lrt -lpthread
#include "shim.h"
*/
import "C"

import (
	"syscall"
	"unsafe"
)

// Frequent error numbers, boxed once so that returning them does not allocate
// (as golang.org/x/sys/unix does).
var (
	errEAGAIN    error = syscall.EAGAIN
	errEINTR     error = syscall.EINTR
	errETIMEDOUT error = syscall.ETIMEDOUT
	errECANCELED error = syscall.ECANCELED
	errEINVAL    error = syscall.EINVAL
	errENOENT    error = syscall.ENOENT
)

// errnoErr turns a shim's return value into an error: nil for 0, otherwise the
// syscall.Errno, without allocating for the frequent ones.
func errnoErr(e C.int) error {
	switch syscall.Errno(e) {
	case 0:
		return nil
	case syscall.EAGAIN:
		return errEAGAIN
	case syscall.EINTR:
		return errEINTR
	case syscall.ETIMEDOUT:
		return errETIMEDOUT
	case syscall.ECANCELED:
		return errECANCELED
	case syscall.EINVAL:
		return errEINVAL
	case syscall.ENOENT:
		return errENOENT
	}
	return syscall.Errno(e)
}

// GlibcVersion wraps gnu_get_libc_version(3): the version of the C library
// this process runs on, such as "2.36".
func GlibcVersion() string { return C.GoString(C.pi_glibc_version()) }

// Strerror wraps strerror_r(3): the C library's wording of e ("File
// exists"), as C tools print it.
func Strerror(e syscall.Errno) string {
	var buf [256]byte
	C.pi_strerror(C.int(e), (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	return C.GoString((*C.char)(unsafe.Pointer(&buf[0])))
}
