//go:build linux && cgo

package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/posixipc/posixipc/binding/shm"
)

func init() {
	addDemoStep(demoStep{order: 30, title: "POSIX shared memory: Go and a C program (crt/shmpeer.c) share a segment; a truncation is an error, not a crash", run: demoShm})
}

func demoShm(log func(string, ...any)) error {
	name := fmt.Sprintf("/posixipc-demo-shm-%d", os.Getpid())
	msg := fmt.Sprintf("hello from Go (pid %d)", os.Getpid())
	seg, err := shm.CreateWith(name, 4096, 0o600, func(s *shm.Segment) error {
		_, err := s.WriteAt(append([]byte(msg), 0), 0)
		return err
	})
	if err != nil {
		return err
	}
	defer shm.Unlink(name)
	defer seg.Close()
	log("Go created segment %s (4096 bytes), wrote %q before publishing it", name, msg)
	out, err := runPeerOut("shmpeer", "reply", name)
	if err != nil {
		return err
	}
	log("C   read at offset 0: %q", strings.TrimSpace(out))
	buf := make([]byte, 256)
	if _, err := seg.ReadAt(buf, 256); err != nil {
		return err
	}
	if i := strings.IndexByte(string(buf), 0); i >= 0 {
		buf = buf[:i]
	}
	log("Go  read at offset 256: %q", buf)

	if _, err := runPeerOut("shmpeer", "truncate", name, "0"); err != nil {
		return err
	}
	log("C   truncated the object to 0 bytes under Go's mapping")
	_, err = seg.ReadAt(buf[:16], 0)
	log("Go  ReadAt after the truncation: %v", err)
	if err == nil {
		return fmt.Errorf("ReadAt after truncation: no error")
	}
	log("segment removed (shm_unlink)")
	return nil
}
