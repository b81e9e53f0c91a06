//go:build linux && cgo

package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"syscall"
	"time"

	"github.com/posixipc/posixipc/binding/shm"
)

const shmUsage = `posixipc shm create NAME --size N [--mode 0600] [--excl]  # without --excl an existing one of at least N bytes is kept
posixipc shm write  NAME [--offset O] [--] [DATA]  # no DATA: stdin; DATA that begins with '-' goes after --
posixipc shm read   NAME [--offset O] [--len N]  # raw bytes to stdout (default: to the end)
posixipc shm stat   NAME [--json]
posixipc shm rm     NAME... | --all --prefix P`

func init() {
	register(&command{
		name:    "shm",
		summary: "POSIX shared memory: create, write, read, stat, rm",
		usage:   shmUsage,
		run: func(args []string) error {
			return subcommands("shm", map[string]func([]string) error{
				"create": shmCreate, "write": shmWrite, "read": shmRead, "stat": shmStat, "rm": shmRm,
			}, args)
		},
	})
}

func shmCreate(args []string) error {
	fs := flag.NewFlagSet("shm create", flag.ContinueOnError)
	size := sizeFlag(fs, "size", 0, "size in bytes (required)")
	mode := fs.String("mode", "0600", "permission bits, octal")
	excl := fs.Bool("excl", false, "fail if the segment exists")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *size <= 0 {
		return usagef("--size N is required and must be positive")
	}
	perm, err := parseMode(*mode)
	if err != nil {
		return err
	}
	if *size > math.MaxInt {
		return usagef("--size %d: too large", *size)
	}
	var s *shm.Segment
	if *excl {
		s, err = shm.Create(pos[0], int(*size), perm)
	} else {
		s, err = shm.CreateOrOpen(pos[0], int(*size), perm)
	}
	if err != nil {
		return err
	}
	if int64(s.Size()) != *size {
		warnf("shm create", "%s exists with %d bytes, not the %d asked: kept as it is (--excl fails instead)", s.Name(), s.Size(), *size)
	}
	return s.Close()
}

func shmWrite(args []string) error {
	fs := flag.NewFlagSet("shm write", flag.ContinueOnError)
	off := sizeFlag(fs, "offset", 0, "byte offset")
	pos, err := parseFlags(fs, args, 1, 2)
	if err != nil {
		return err
	}
	if *off < 0 {
		return usagef("--offset %d: must not be negative", *off)
	}
	var data []byte
	if len(pos) == 2 {
		data = []byte(pos[1])
	} else if data, err = io.ReadAll(os.Stdin); err != nil {
		return err
	}
	s, err := shm.Open(pos[0])
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = s.WriteAt(data, *off)
	return err
}

func shmRead(args []string) error {
	fs := flag.NewFlagSet("shm read", flag.ContinueOnError)
	off := sizeFlag(fs, "offset", 0, "byte offset")
	n := sizeFlag(fs, "len", -1, "bytes to read (default: to the end)")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *off < 0 {
		return usagef("--offset %d: must not be negative", *off)
	}
	if *n < -1 {
		return usagef("--len %d: must not be negative", *n)
	}
	s, err := shm.Open(pos[0])
	if err != nil {
		return err
	}
	defer s.Close()
	size := int64(s.Size())
	if *n == -1 {
		*n = max(size-*off, 0)
	}
	if *off > size || *n > size-*off {
		return &os.PathError{Op: "read", Path: s.Name(), Err: fmt.Errorf("%d bytes at offset %d go past the end of the %d-byte segment: %w", *n, *off, size, syscall.EINVAL)}
	}
	buf := make([]byte, *n)
	if _, err := s.ReadAt(buf, *off); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	_, err = stdout.Write(buf)
	return err
}

// shmInfo is `shm stat --json`.
type shmInfo struct {
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	Mode  string `json:"mode"`
	UID   int    `json:"uid"`
	GID   int    `json:"gid"`
	MTime string `json:"mtime"`
}

func shmStat(args []string) error {
	fs := flag.NewFlagSet("shm stat", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	st, err := shm.Stat(pos[0])
	if err != nil {
		return err
	}
	info := shmInfo{Name: st.Name, Size: st.Size, Mode: fmt.Sprintf("%04o", uint32(st.Mode)),
		UID: st.UID, GID: st.GID, MTime: st.ModTime.UTC().Format(time.RFC3339Nano)}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(info)
	}
	fmt.Fprintf(stdout, "name  %s\nsize  %d\nmode  %s\nuid   %d\ngid   %d\nmtime %s\n",
		info.Name, info.Size, info.Mode, info.UID, info.GID, info.MTime)
	return nil
}

func shmRm(args []string) error { return rmCommand("shm", args, shm.Unlink) }
