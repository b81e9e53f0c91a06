//go:build linux && cgo

package posixipc

/*
#include "shim.h"
*/
import "C"

import (
	"unsafe"
)

// PosixOpenpt wraps posix_openpt(3): a new pseudoterminal master.
func PosixOpenpt(flags int) (int, error) {
	var fd C.int
	if e := C.pi_posix_openpt(C.int(flags), &fd); e != 0 {
		return -1, errnoErr(e)
	}
	return int(fd), nil
}

// Grantpt wraps grantpt(3).
func Grantpt(fd int) error { return errnoErr(C.pi_grantpt(C.int(fd))) }

// Unlockpt wraps unlockpt(3).
func Unlockpt(fd int) error { return errnoErr(C.pi_unlockpt(C.int(fd))) }

// PtsnameR wraps ptsname_r(3): the path of the slave of master fd.
func PtsnameR(fd int) (string, error) {
	var buf [128]C.char
	if e := C.pi_ptsname_r(C.int(fd), &buf[0], C.size_t(len(buf))); e != 0 {
		return "", errnoErr(e)
	}
	return C.GoString(&buf[0]), nil
}

// SigRecord is one queued signal as the handler of SigTake writes it to its
// pipe (struct pi_sig_record): SigRecordSize bytes, native byte order.
type SigRecord struct {
	Signo, Code, Pid, UID, Value, _ int32
}

// SigRecordSize is sizeof(struct pi_sig_record).
const SigRecordSize = C.sizeof_struct_pi_sig_record

var _ [unsafe.Sizeof(SigRecord{}) - SigRecordSize]struct{}
var _ [SigRecordSize - unsafe.Sizeof(SigRecord{})]struct{}

// Sigqueue wraps sigqueue(3): sig with the integer value to pid.
func Sigqueue(pid, sig, value int) error {
	return errnoErr(C.pi_sigqueue(C.int(pid), C.int(sig), C.int(value)))
}

// PidfdSigqueue sends sig with value to the process of pidfd as sigqueue
// does (pidfd_send_signal(2) with a SI_QUEUE siginfo).
func PidfdSigqueue(pidfd, sig, value int) error {
	return errnoErr(C.pi_pidfd_sigqueue(C.int(pidfd), C.int(sig), C.int(value)))
}

// SIGRTMIN returns glibc's SIGRTMIN (above the realtime signals glibc keeps
// for itself).
func SIGRTMIN() int { return int(C.pi_sigrtmin()) }

// SIGRTMAX returns SIGRTMAX.
func SIGRTMAX() int { return int(C.pi_sigrtmax()) }

// SigTake installs the module's SA_SIGINFO|SA_ONSTACK handler for sig
// (sigaction): each signal becomes one SigRecord written to wfd, a
// non-blocking pipe. SigGive restores the disposition SigTake replaced.
func SigTake(sig, wfd int) error { return errnoErr(C.pi_sig_take(C.int(sig), C.int(wfd))) }

// SigGive restores the disposition of sig that SigTake replaced
// (sigaction).
func SigGive(sig int) error { return errnoErr(C.pi_sig_give(C.int(sig))) }

// SigLost returns how many records of sig the handler could not write (its
// pipe was full) since the last call, and clears the count.
func SigLost(sig int) int { return int(C.pi_sig_lost(C.int(sig))) }
