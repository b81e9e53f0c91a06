//go:build linux && cgo

package main

import (
	"flag"
	"os"
	"strconv"

	"github.com/posixipc/posixipc/binding/fifo"
)

const fifoUsage = `posixipc fifo make PATH [--mode 0600]
  Creates a FIFO (named pipe) at PATH with mkfifo(3); the mode is octal and the
  umask applies.`

func init() {
	register(&command{
		name:    "fifo",
		summary: "FIFOs (named pipes): make",
		usage:   fifoUsage,
		run: func(args []string) error {
			return subcommands("fifo", map[string]func([]string) error{"make": fifoMake}, args)
		},
	})
}

func fifoMake(args []string) error {
	fs := flag.NewFlagSet("fifo make", flag.ContinueOnError)
	mode := fs.String("mode", "0600", "permissions, octal")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	m, err := strconv.ParseUint(*mode, 8, 32)
	if err != nil || m&^0o777 != 0 {
		return usagef("--mode %q: want octal permission bits such as 0600", *mode)
	}
	return fifo.Make(pos[0], os.FileMode(m))
}
