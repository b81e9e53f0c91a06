//go:build linux && cgo

package posixipc

/*
#include "shim.h"
*/
import "C"

// FifoWaitIO is the wait of the one goroutine of a FIFO direction inside C
// (pi_fifo_wait_io: ppoll(2), then read(2) or write(2)): it waits until fd
// is readable (write false) or writable (write true), evfd (an eventfd) is
// readable or timeout nanoseconds (CLOCK_MONOTONIC, < 0: none) have passed,
// then reads into or writes buf once. slept reports that ppoll slept (the
// data was not there at once). It fails with ECANCELED when evfd was kicked
// (it drains evfd) and ETIMEDOUT when the timeout passed. buf must not be
// empty. It does not allocate.
func FifoWaitIO(fd, evfd int, write bool, buf []byte, timeout int64) (n int, slept bool, err error) {
	r := C.pi_fifo_wait_io(C.int(fd), C.int(evfd), cbool(write), bufPtr(buf), C.size_t(len(buf)), C.int64_t(timeout))
	if r < 0 {
		return 0, false, errnoErr(C.int(-r))
	}
	return int(r & (C.PI_FIFO_WAITED - 1)), r&C.PI_FIFO_WAITED != 0, nil
}
