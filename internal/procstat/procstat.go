//go:build linux && cgo

// Package procstat reads what /proc says about this process: its OS threads
// and open descriptors. The CLI's benchmark report and the tests use it (it
// does not import testing, so the CLI binary does not link it).
package procstat

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// Threads returns the OS threads of this process (Threads: in
// /proc/self/status), -1 when it cannot tell.
func Threads() int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return -1
}

// FDs returns the number of open file descriptors of this process.
func FDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents) - 1 // the directory's own descriptor
}
