//go:build linux && cgo

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/posixipc/posixipc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := cli(t, "", args...)
		require.Equal(t, 0, r.code, r.stderr)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		require.Len(t, lines, 3, r.stdout)
		assert.True(t, strings.HasPrefix(lines[0], "posixipc "), lines[0])
		assert.Equal(t, runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH, lines[1])
		assert.Equal(t, "glibc "+posixipc.GlibcVersion(), lines[2])
	}
	assert.Equal(t, exitUsage, cli(t, "", "version", "extra").code)
}

// posixipc cflags finds the headers, and a C build with its output
// compiles a peer that includes them.
func TestCflags(t *testing.T) {
	r := cli(t, "", "cflags")
	require.Equal(t, 0, r.code, r.stderr)
	flag := strings.TrimSpace(r.stdout)
	require.True(t, strings.HasPrefix(flag, "-I"), flag)
	_, err := os.Stat(filepath.Join(flag[2:], "posixipc_layout.h"))
	require.NoError(t, err)
	src := filepath.Join(t.TempDir(), "peer.c")
	require.NoError(t, os.WriteFile(src, []byte("#include \"posixipc_layout.h\"\nint main(void) { return sizeof(struct posixipc_sync) == 0; }\n"), 0o644))
	out, err := exec.Command("cc", flag, "-fsyntax-only", src).CombinedOutput()
	require.NoError(t, err, "%s", out)
}
