//go:build linux && cgo

package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/posixipc/posixipc"
)

const modulePath = "github.com/posixipc/posixipc"

func init() {
	register(&command{
		name:    "version",
		summary: "the module version, the Go version and the glibc version this runs on",
		usage:   "posixipc version        (also: posixipc --version)",
		run: func(args []string) error {
			if _, err := parseFlags(flag.NewFlagSet("version", flag.ContinueOnError), args, 0, 0); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "posixipc %s\n%s %s/%s\nglibc %s\n", moduleVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH, posixipc.GlibcVersion())
			return nil
		},
	})
	register(&command{
		name:    "cflags",
		summary: "print the C compiler flags that find the module's headers (like pkg-config --cflags)",
		usage: "posixipc cflags\n" +
			"  prints -I<dir>, the directory of crt/posixipc_layout.h: $POSIXIPC_CRT when set, else the\n" +
			"  module's source (go list -m in this directory, the module cache for this binary's version,\n" +
			"  or the tree it was built from). Use: cc $(posixipc cflags) -c peer.c",
		run: func(args []string) error {
			if _, err := parseFlags(flag.NewFlagSet("cflags", flag.ContinueOnError), args, 0, 0); err != nil {
				return err
			}
			dir, err := headerDir()
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "-I%s\n", dir)
			return nil
		},
	})
}

// moduleVersion is the version of the module this binary was built from
// (its build info), "(devel)" for a build in the source tree.
func moduleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	if bi.Main.Path == modulePath {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == modulePath {
			return d.Version
		}
	}
	return "(unknown)"
}

// headerDir finds the module's crt directory, the home of its C headers.
func headerDir() (string, error) {
	has := func(d string) bool {
		_, err := os.Stat(filepath.Join(d, "posixipc_layout.h"))
		return d != "" && err == nil
	}
	var tried []string
	try := func(d string) bool {
		if d == "" {
			return false
		}
		tried = append(tried, d)
		return has(d)
	}
	if d := os.Getenv("POSIXIPC_CRT"); try(d) {
		return d, nil
	}
	if out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", modulePath).Output(); err == nil {
		if d := filepath.Join(strings.TrimSpace(string(out)), "crt"); try(d) {
			return d, nil
		}
	}
	if v := moduleVersion(); strings.HasPrefix(v, "v") {
		if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
			if d := filepath.Join(strings.TrimSpace(string(out)), modulePath+"@"+v, "crt"); try(d) {
				return d, nil
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok { // the tree this binary was built from
		if d := filepath.Join(filepath.Dir(file), "..", "..", "crt"); try(filepath.Clean(d)) {
			return filepath.Clean(d), nil
		}
	}
	return "", fmt.Errorf("the module's headers (crt/posixipc_layout.h) are not in %s: set POSIXIPC_CRT, or run go get %s: %w",
		strings.Join(tried, ", "), modulePath, errors.ErrUnsupported)
}
