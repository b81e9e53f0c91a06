//go:build linux && cgo

package main

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What a new user needs to adopt the module: a licence the README names,
// a go line that does not force a patch release on consumers, an Install
// section, a changelog with its v0.1.0 entry.
func TestAdoptable(t *testing.T) {
	lic, err := os.ReadFile("../../LICENSE")
	require.NoError(t, err)
	assert.Contains(t, string(lic), "MIT License")
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	for _, want := range []string{"MIT", "## Install", "go get github.com/posixipc/posixipc",
		"go install github.com/posixipc/posixipc/cmd/posixipc@latest", "posixipc cflags", "What needs root"} {
		assert.Contains(t, string(readme), want)
	}
	mod, err := os.ReadFile("../../go.mod")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)(?:\.(\d+))?$`).FindStringSubmatch(string(mod))
	require.NotNil(t, m, "a go line")
	minor, _ := strconv.Atoi(m[2])
	patch, _ := strconv.Atoi(m[3])
	assert.True(t, m[1] == "1" && (minor < 26 || minor == 26 && patch == 0), "go line %s: at most 1.26.0", m[0])
	cl, err := os.ReadFile("../../CHANGELOG.md")
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(cl), "## v0.1.0"), "a v0.1.0 entry")
}

// Built without cgo (or not on Linux), every package stops with one
// message that says why, not with undefined names of golang.org/x/sys.
func TestUnsupportedBuildSaysWhy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the module twice")
	}
	for _, env := range [][]string{{"CGO_ENABLED=0"}, {"GOOS=darwin", "GOARCH=arm64"}} {
		cmd := exec.Command("go", "build", "./...")
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		require.Error(t, err, "%v: the build must fail", env)
		assert.Contains(t, string(out), "posixipc_needs_linux_and_cgo", "%v", env)
		assert.NotContains(t, string(out), "unix.O_PATH", "%v", env)
	}
}
