//go:build linux && cgo

package mq

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"syscall"

	"github.com/posixipc/posixipc/internal/errs"
	"golang.org/x/sys/unix"
)

// ErrDeadline is wrapped by the error of a call whose context deadline
// passed while it waited. errors.Is matches it against both
// context.DeadlineExceeded and syscall.ETIMEDOUT. Every package of the
// module reports a passed deadline with this same value.
var ErrDeadline = errs.Deadline

// LimitError reports a system limit that stopped a call, and the setting
// to raise (the same type in every package: errs.LimitError). It unwraps to
// the syscall.Errno the call returned.
type LimitError = errs.LimitError

func pathErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

var readProcInt = errs.ReadProcInt

const procMQ = "/proc/sys/fs/mqueue/"

// explainCreate turns the errno of a failed mq_open(O_CREAT) into a
// LimitError naming the limit, when one applies.
func explainCreate(err error, attr *Attr) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err
	}
	switch errno {
	case syscall.EINVAL:
		if attr == nil {
			return err
		}
		if m := readProcInt(procMQ + "msg_max"); m >= 0 && int64(attr.MaxMsg) > m {
			return &LimitError{Errno: errno, Setting: procMQ + "msg_max",
				Detail: fmt.Sprintf("maxmsg %d is above the system limit %d (privileged processes with CAP_SYS_RESOURCE may exceed it)", attr.MaxMsg, m)}
		}
		if m := readProcInt(procMQ + "msgsize_max"); m >= 0 && int64(attr.MsgSize) > m {
			return &LimitError{Errno: errno, Setting: procMQ + "msgsize_max",
				Detail: fmt.Sprintf("msgsize %d is above the system limit %d", attr.MsgSize, m)}
		}
	case syscall.EMFILE:
		var rl unix.Rlimit
		q := "unknown"
		if unix.Getrlimit(unix.RLIMIT_MSGQUEUE, &rl) == nil {
			q = strconv.FormatUint(rl.Cur, 10)
		}
		var nf unix.Rlimit
		f := "unknown"
		if unix.Getrlimit(unix.RLIMIT_NOFILE, &nf) == nil {
			f = strconv.FormatUint(nf.Cur, 10)
		}
		return &LimitError{Errno: errno, Setting: "RLIMIT_MSGQUEUE (ulimit -q) or RLIMIT_NOFILE (ulimit -n)",
			Detail: fmt.Sprintf("the user's queues would need more than RLIMIT_MSGQUEUE = %s bytes (each queue counts about maxmsg*(msgsize+pointer size)), or this process has RLIMIT_NOFILE = %s descriptors open", q, f)}
	case syscall.ENOSPC:
		return &LimitError{Errno: errno, Setting: procMQ + "queues_max",
			Detail: fmt.Sprintf("the system already holds queues_max = %d queues", readProcInt(procMQ+"queues_max"))}
	case syscall.ENFILE:
		return &LimitError{Errno: errno, Setting: "/proc/sys/fs/file-max", Detail: "the system-wide limit on open files was reached"}
	}
	return err
}
