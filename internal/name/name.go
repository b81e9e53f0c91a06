//go:build linux && cgo

// Package name holds the one naming rule of every named POSIX IPC object of
// the module (message queues, semaphores, shared-memory segments).
//
// glibc treats names differently per family (mq_open needs the leading '/',
// sem_open and shm_open strip leading slashes, long names fail with EINVAL or
// ENAMETOOLONG depending on the family). The module checks names in Go, before
// any C call, with one rule:
//
//	"/" followed by 1 to MaxLen bytes, none of them '/' or NUL, and not "." or "..".
//
// The leading '/' may be omitted: Canonical adds it. Every violation is an
// *Error that unwraps to syscall.EINVAL (or syscall.ENAMETOOLONG for a name
// that is too long), so errors.Is works.
package name

import (
	"fmt"
	"strings"
	"syscall"
)

// MaxLen is the longest name, in bytes, after the leading '/'. It is the
// shortest family limit: glibc's sem_open prefixes "sem." to the name and the
// whole must fit NAME_MAX (255).
const MaxLen = 251

// Error reports a name that breaks the rule.
type Error struct {
	Name   string
	Reason string
	errno  syscall.Errno
}

func (e *Error) Error() string { return fmt.Sprintf("invalid IPC name %q: %s", e.Name, e.Reason) }

// Unwrap returns syscall.EINVAL or syscall.ENAMETOOLONG.
func (e *Error) Unwrap() error { return e.errno }

// Canonical checks n and returns it with exactly one leading '/'.
func Canonical(n string) (string, error) {
	body := strings.TrimPrefix(n, "/")
	switch {
	case body == "":
		return "", &Error{n, "empty (a name is \"/\" followed by 1 to 251 bytes)", syscall.EINVAL}
	case len(body) > MaxLen:
		return "", &Error{n, fmt.Sprintf("%d bytes after the '/', at most %d allowed", len(body), MaxLen), syscall.ENAMETOOLONG}
	case strings.ContainsRune(body, '/'):
		return "", &Error{n, "contains '/' after the leading one", syscall.EINVAL}
	case strings.ContainsRune(body, 0):
		return "", &Error{n, "contains a NUL byte", syscall.EINVAL}
	case body == "." || body == "..":
		return "", &Error{n, "\".\" and \"..\" are not names", syscall.EINVAL}
	}
	return "/" + body, nil
}

// SemPrefix is what glibc puts before a named semaphore's name to make its
// file in /dev/shm: the semaphore "/X" is the file /dev/shm/sem.X.
const SemPrefix = "sem."

// Segment checks n as the name of a POSIX shared-memory segment and returns
// it canonical. On top of Canonical's rule, a segment name may not begin
// with "sem.": glibc keeps the named semaphore "/X" in the file
// /dev/shm/sem.X, which is also the segment "/sem.X", so such a segment and
// a semaphore would be one object. The families stay apart by refusing it.
func Segment(n string) (string, error) {
	cn, err := Canonical(n)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(cn[1:], SemPrefix) {
		return "", &Error{n, "segment names may not begin with \"sem.\": glibc keeps the named semaphore \"/X\" in /dev/shm/sem.X, which would be this segment", syscall.EINVAL}
	}
	return cn, nil
}
