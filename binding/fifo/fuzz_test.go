//go:build linux && cgo

package fifo_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/fifo"
	"github.com/posixipc/posixipc/internal/testutil"
)

// FuzzMakeOpen: any permission and open flags get a clear error or a FIFO
// that opens and closes; Open never hangs past its context, never opens a
// non-FIFO, and leaves no descriptor behind.
func FuzzMakeOpen(f *testing.F) {
	for _, s := range []struct {
		perm uint32
		flag int
		name string
	}{
		{0o600, os.O_RDWR, "f"}, {0o644, os.O_RDONLY | syscall.O_NONBLOCK, "f"}, {0o600, os.O_WRONLY | syscall.O_NONBLOCK, "f"},
		{0o7777, os.O_RDONLY, "f"}, {0xffffffff, -1, "f"}, {0, os.O_WRONLY, ""}, {0o600, os.O_RDWR | os.O_TRUNC, "a/b"},
		{0o600, os.O_RDWR, ".."}, {0o600, os.O_RDWR, "x\x00y"},
	} {
		f.Add(s.perm, s.flag, s.name)
	}
	dir := f.TempDir()
	regular := filepath.Join(dir, "regular")
	if err := os.WriteFile(regular, []byte("data"), 0o600); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, perm uint32, flag int, name string) {
		before := testutil.FDs()
		path := filepath.Join(dir, "fifo-"+name)
		defer os.Remove(path)
		err := fifo.Make(path, os.FileMode(perm))
		if err != nil {
			var pe *fs.PathError
			if !errors.As(err, &pe) {
				t.Fatalf("Make(%q, %o): %v is not a *fs.PathError", path, perm, err)
			}
			return
		}
		st, err := os.Lstat(path)
		if err != nil || st.Mode()&fs.ModeNamedPipe == 0 {
			t.Fatalf("Make(%q) made no FIFO: %v %v", path, st, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		for _, p := range []string{path, regular} {
			fl, err := fifo.Open(ctx, p, flag)
			if err == nil {
				if p == regular {
					t.Errorf("Open(%q, %#x) opened a regular file", p, flag)
				}
				if err := fl.Close(); err != nil {
					t.Fatalf("close: %v", err)
				}
			}
		}
		if after := testutil.FDs(); after > before {
			t.Fatalf("flag %#x: %d descriptors open before, %d after", flag, before, after)
		}
	})
}
