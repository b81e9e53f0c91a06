//go:build linux && cgo

package bench

// The iceoryx anchor of the ring rows: Debian's iceoryx 2.0.3 (C binding,
// blocking WaitSet) measured in the same run, C↔C, when it is installed
// (`make bench-anchors`). The bench starts RouDi (iox-roudi) when none
// runs and stops it after, removing what it leaves: its segments in
// /dev/shm and its sockets and locks in /tmp.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/posixipc/posixipc/internal/peer"
)

// ioxInclude returns the iceoryx C binding's include directory, "" when it
// is not installed.
func ioxInclude() string {
	m, _ := filepath.Glob("/usr/include/iceoryx/v*/iceoryx_binding_c/publisher.h")
	if len(m) == 0 {
		return ""
	}
	return filepath.Dir(filepath.Dir(m[0]))
}

// roudiRunning reports whether an iox-roudi process runs.
func roudiRunning() bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm")); err == nil && strings.TrimSpace(string(b)) == "iox-roudi" {
			return true
		}
	}
	return false
}

// benchIceoryx adds the "iox" round trip to cl's set-up: a 64-byte
// publish/subscribe ping-pong, pinned like the ring's rows. It returns
// false (and why) when iceoryx is not installed.
func benchIceoryx(cl *benchCleanup) (benchConfig, string, error) {
	inc := ioxInclude()
	roudi, lerr := exec.LookPath("iox-roudi")
	if inc == "" || lerr != nil {
		return benchConfig{}, "iceoryx is not installed (make bench-anchors installs Debian's libiceoryx-binding-c-dev and iceoryx)", nil
	}
	bin, err := peer.Build("iox/ioxpeer", "-I", inc, "-liceoryx_binding_c")
	if err != nil {
		return benchConfig{}, "", err
	}
	if !roudiRunning() {
		if err := startRoudi(cl, roudi); err != nil {
			return benchConfig{}, "", err
		}
	}
	tag := fmt.Sprint("ring", os.Getpid())
	if err := cl.server(farSide(exec.Command(bin, "pong", tag), nil)); err != nil {
		return benchConfig{}, "", fmt.Errorf("ioxpeer pong: %w", err)
	}
	return benchConfig{label: "iox", block: func(k int) ([]time.Duration, error) {
		return cmdLatencies(nearSide(exec.Command(bin, "ping", tag, fmt.Sprint(k), fmt.Sprint(benchMsg)), nil))
	}}, "", nil
}

// startRoudi runs RouDi for the bench; cl stops it and removes what it
// made that was not there before.
func startRoudi(cl *benchCleanup, roudi string) error {
	before := map[string]bool{}
	for _, d := range []string{"/dev/shm", os.TempDir()} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			before[filepath.Join(d, e.Name())] = true
		}
	}
	cmd := exec.Command(roudi)
	cmd.Stdout, cmd.Stderr = nil, nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	cl.add(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		for _, d := range []string{"/dev/shm", os.TempDir()} {
			ents, _ := os.ReadDir(d)
			for _, e := range ents {
				p := filepath.Join(d, e.Name())
				if !before[p] && iceoryxFile(d, e.Name()) {
					os.Remove(p)
				}
			}
		}
	})
	// RouDi is up when its socket is.
	for end := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(filepath.Join("/tmp", "roudi")); err == nil {
			return nil
		}
		if time.Now().After(end) {
			return errors.New("iox-roudi did not come up in 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// iceoryxFile reports whether a file RouDi or its clients make: its
// management and payload segments (the latter named after the user) and
// its sockets and locks.
func iceoryxFile(dir, name string) bool {
	if dir == "/dev/shm" {
		u := os.Getenv("USER")
		if u == "" {
			if os.Getuid() == 0 {
				u = "root"
			}
		}
		return name == "iceoryx_mgmt" || name == u
	}
	return name == "roudi" || name == "roudi.lock" || name == "iox-unique-roudi.lock" || strings.HasPrefix(name, "ioxpeer-")
}
