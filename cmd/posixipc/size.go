//go:build linux && cgo

package main

import (
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sizeValue is a flag.Value for byte counts with an optional unit, as
// util-linux's tools take them: 4096, 4k or 4KiB (1024), 4KB (1000), 1M or
// 1MiB, 1MB, 1G or 1GiB, 1GB.
type sizeValue struct{ n int64 }

var sizeUnits = []struct {
	suffix string
	mult   int64
}{ // longest first
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
	{"k", 1 << 10}, {"K", 1 << 10}, {"M", 1 << 20}, {"m", 1 << 20}, {"G", 1 << 30}, {"g", 1 << 30}, {"T", 1 << 40},
	{"B", 1}, {"b", 1},
}

// parseSize reads a byte count with an optional unit.
func parseSize(s string) (int64, error) {
	num, mult := s, int64(1)
	for _, u := range sizeUnits {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = v, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (a number of bytes, optionally with a unit: 4096, 4k, 4KiB, 1M, 1MiB, 1G)", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

func (v *sizeValue) String() string { return strconv.FormatInt(v.n, 10) }

func (v *sizeValue) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	v.n = n
	return nil
}

// Type names the value in --help ("SIZE").
func (v *sizeValue) Type() string { return "size" }

// sizeFlag adds a size flag to fs.
func sizeFlag(fs *flag.FlagSet, name string, def int64, usage string) *int64 {
	v := &sizeValue{def}
	fs.Var(v, name, usage+" (units: k/KiB, M/MiB, G/GiB; KB, MB, GB are powers of 1000)")
	return &v.n
}

// given reports whether the flag name was set on the command line.
func given(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// warnf prints a warning of the command on stderr: the command goes on.
func warnf(cmd, format string, a ...any) {
	fmt.Fprintf(stderr, "posixipc %s: warning: %s\n", cmd, fmt.Sprintf(format, a...))
}
