//go:build linux && cgo

package posixipc

import "github.com/posixipc/posixipc/internal/name"

// NameError is the error of a name that the module's rule refuses: it
// names the reason and unwraps to syscall.EINVAL or syscall.ENAMETOOLONG.
// Every binding package returns it (inside a *fs.PathError) for a bad
// name, so errors.As(err, new(*posixipc.NameError)) finds it.
type NameError = name.Error

// NameMax is the longest name, in bytes after the leading '/' (glibc's
// sem_open prefixes "sem." to the name of a semaphore's file, so 251 is the
// limit every family shares).
const NameMax = name.MaxLen

// CanonicalName checks n by the rule of every named object of the module
// (queues, semaphores, segments): "/" followed by 1 to NameMax bytes, none
// of them '/' or NUL, not "." or ".."; a leading '/' may be left out. It
// returns the name with exactly one leading '/', or a *NameError.
func CanonicalName(n string) (string, error) { return name.Canonical(n) }

// SegmentName is CanonicalName for a shared-memory segment, which also may
// not begin with "sem." (glibc keeps the semaphore "/X" in the file
// /dev/shm/sem.X, which would be the segment "/sem.X").
func SegmentName(n string) (string, error) { return name.Segment(n) }
