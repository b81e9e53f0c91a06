//go:build linux && cgo

package main

import (
	"strings"
	"testing"

	"github.com/posixipc/posixipc/internal/peer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPtyRunCLI(t *testing.T) {
	r := cli(t, "", "pty", "run", "--cols", "101", "--rows", "33", "--", "stty", "size")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "33 101\r\n", r.stdout, "the child sees the size asked")

	r = cli(t, "", "pty", "run", "--", "sh", "-c", "test -t 0 && test -t 1 && echo tty; exit 3")
	assert.Equal(t, 3, r.code, "the child's status")
	assert.Equal(t, "tty\r\n", r.stdout)

	r = cli(t, "hello\n", "pty", "run", "--", "head", "-n", "1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "hello\r\nhello\r\n", "stdin reaches the child (the terminal echoes it, then head prints it)")

	color, err := peer.Path("ptypeer")
	require.NoError(t, err)
	r = cli(t, "", "pty", "run", "--", color, "color", "red")
	assert.Equal(t, "\x1b[31mred\x1b[0m\r\n", r.stdout, "a C program colours its output on a terminal")

	r = cli(t, "", "pty", "run", "--", "sh", "-c", "kill -TERM $$")
	assert.Equal(t, 143, r.code)
	r = cli(t, "", "pty", "run", "--", "/nonexistent/cmd")
	assert.Equal(t, 127, r.code)
	assert.True(t, strings.Contains(r.stderr, "no such file") || strings.Contains(r.stderr, "not found"), r.stderr)
	assert.Equal(t, 2, cli(t, "", "pty", "run", "--cols", "80", "--", "true").code)
	assert.Equal(t, 2, cli(t, "", "pty", "run").code)
}
