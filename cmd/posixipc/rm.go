//go:build linux && cgo

package main

import (
	"errors"
	"flag"
	"strings"
)

// rmCommand is `posixipc FAMILY rm NAME... | --all --prefix P`: it removes
// every name given, or every object of the family whose name (after the
// '/') begins with P, and reports every failure (exit 1 if any).
func rmCommand(family string, args []string, remove func(string) error) error {
	fs := flag.NewFlagSet(family+" rm", flag.ContinueOnError)
	all := fs.Bool("all", false, "remove every object of this kind whose name begins with --prefix")
	prefix := fs.String("prefix", "", "with --all: the beginning of the names to remove (required)")
	names, err := parseFlags(fs, args, 0, -1)
	if err != nil {
		return err
	}
	switch {
	case *all && *prefix == "":
		return usagef("--all needs --prefix P (the beginning of the names to remove)")
	case *all && len(names) > 0:
		return usagef("--all --prefix takes no names")
	case !*all && *prefix != "":
		return usagef("--prefix goes with --all")
	case !*all && len(names) == 0:
		return usagef("want at least 1 name (or --all --prefix P)")
	}
	if *all {
		p := strings.TrimPrefix(*prefix, "/")
		entries, _ := listObjects()
		for _, e := range entries {
			if e.Type == family && strings.HasPrefix(strings.TrimPrefix(e.Name, "/"), p) {
				names = append(names, e.Name)
			}
		}
	}
	var errs []error
	for _, n := range names {
		if err := remove(n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
