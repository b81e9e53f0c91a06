//go:build linux && cgo

package name

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{"q": "/q", "/q": "/q", "a.b-c_d": "/a.b-c_d",
		"/" + strings.Repeat("x", MaxLen): "/" + strings.Repeat("x", MaxLen), "...": "/..."} {
		got, err := Canonical(in)
		assert.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for in, errno := range map[string]syscall.Errno{"": syscall.EINVAL, "/": syscall.EINVAL, "//": syscall.EINVAL,
		"/a/b": syscall.EINVAL, "a/": syscall.EINVAL, "//q": syscall.EINVAL, "/.": syscall.EINVAL, "..": syscall.EINVAL, "/a\x00": syscall.EINVAL,
		strings.Repeat("x", MaxLen+1): syscall.ENAMETOOLONG} {
		_, err := Canonical(in)
		assert.ErrorIs(t, err, errno, "%q", in)
		var ne *Error
		assert.True(t, errors.As(err, &ne), "%q", in)
		assert.Contains(t, err.Error(), "invalid IPC name")
	}
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"", "/", "q", "/q", "a/b", "\x00", strings.Repeat("y", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Canonical(s)
		if err != nil {
			if !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENAMETOOLONG) {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		body := c[1:]
		if c[0] != '/' || body == "" || len(body) > MaxLen || strings.ContainsAny(body, "/\x00") {
			t.Fatalf("%q -> %q breaks the rule", s, c)
		}
		if c2, err := Canonical(c); err != nil || c2 != c {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, c, c2, err)
		}
	})
}
