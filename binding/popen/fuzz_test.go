//go:build linux && cgo

package popen_test

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/posixipc/posixipc/binding/popen"
	"github.com/posixipc/posixipc/internal/testutil"
)

// FuzzOpenMode: any mode string gets a clear error (EINVAL) or a pipe that
// closes with the command's status; no crash, no descriptor or child left.
// The command is fixed ("exit 0"): only the mode is fuzzed.
func FuzzOpenMode(f *testing.F) {
	for _, m := range []string{"r", "w", "re", "we", "", "rw", "x", "r+", "ee", "er", "r\x00", "wee", "re\x00e"} {
		f.Add(m)
	}
	if p, err := popen.Open("exit 0", "r"); err == nil { // warm up the runtime's own descriptors
		p.Close()
	}
	f.Fuzz(func(t *testing.T, mode string) {
		before := testutil.FDs()
		p, err := popen.Open("exit 0", mode)
		if err != nil {
			if !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("mode %q: %v, want an error wrapping EINVAL", mode, err)
			}
		} else {
			if mode == "" || !strings.ContainsAny(mode[:1], "rw") {
				t.Errorf("mode %q accepted", mode)
			}
			if err := p.Close(); err != nil {
				t.Fatalf("mode %q: close: %v", mode, err)
			}
		}
		if after := testutil.FDs(); after > before {
			t.Fatalf("mode %q: %d descriptors open before, %d after", mode, before, after)
		}
	})
}
