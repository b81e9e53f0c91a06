//go:build linux && cgo

package flock

// Lock modes, byte ranges and lock holders.

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Mode is the kind of lock.
type Mode int

func (m Mode) String() string {
	switch m {
	case Shared:
		return "shared"
	case Exclusive:
		return "exclusive"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Range is a byte range of a file, as struct flock's l_start and l_len with
// l_whence SEEK_SET. Len 0 means from Start to the end of the file, however
// far it grows.
type Range struct {
	Start int64
	Len   int64
}

// Whole is the range of the whole file.
var Whole = Range{0, 0}

// Check reports a range the kernel would refuse: a negative start or length,
// or an end beyond the largest file offset. The error wraps syscall.EINVAL.
func (r Range) Check() error {
	switch {
	case r.Start < 0:
		return fmt.Errorf("range %v: negative start: %w", r, syscall.EINVAL)
	case r.Len < 0:
		return fmt.Errorf("range %v: negative length: %w", r, syscall.EINVAL)
	case r.Len > 0 && r.Len-1 > math.MaxInt64-r.Start:
		return fmt.Errorf("range %v: ends beyond the largest file offset: %w", r, syscall.EINVAL)
	}
	return nil
}

// String formats r as ParseRange reads it: "START:LEN".
func (r Range) String() string {
	return strconv.FormatInt(r.Start, 10) + ":" + strconv.FormatInt(r.Len, 10)
}

// ParseRange reads "START:LEN" (decimal byte offsets; LEN 0 means to the end
// of the file) and checks the range (Range.Check).
func ParseRange(s string) (Range, error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return Range{}, fmt.Errorf("range %q: want START:LEN: %w", s, syscall.EINVAL)
	}
	num := func(what, v string) (int64, error) {
		if v == "" || strings.TrimLeft(v, "0123456789") != "" {
			return 0, fmt.Errorf("range %q: %s %q is not a decimal number: %w", s, what, v, syscall.EINVAL)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("range %q: %s %q is out of range: %w", s, what, v, syscall.EINVAL)
		}
		return n, nil
	}
	start, err := num("start", a)
	if err != nil {
		return Range{}, err
	}
	n, err := num("length", b)
	if err != nil {
		return Range{}, err
	}
	r := Range{start, n}
	return r, r.Check()
}

// Holder describes a lock that conflicts with a requested one.
type Holder struct {
	Mode  Mode
	Range Range // Len 0: to the end of the file
	// PID is the process holding a classic fcntl lock, or -1 for an OFD lock
	// (whose owner the kernel does not record).
	PID int
}

func lockType(m Mode) (int16, error) {
	switch m {
	case Shared:
		return unix.F_RDLCK, nil
	case Exclusive:
		return unix.F_WRLCK, nil
	}
	return 0, fmt.Errorf("mode %v: want Shared or Exclusive: %w", m, syscall.EINVAL)
}

func flockHow(m Mode) (int, error) {
	switch m {
	case Shared:
		return unix.LOCK_SH, nil
	case Exclusive:
		return unix.LOCK_EX, nil
	}
	return 0, fmt.Errorf("mode %v: want Shared or Exclusive: %w", m, syscall.EINVAL)
}
