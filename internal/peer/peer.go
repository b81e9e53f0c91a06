//go:build linux && cgo

// Package peer builds and runs the C peer programs of crt/ for tests,
// benchmarks, the demo and the CLI.
//
// A peer is crt/NAME.c, compiled on first use with the system C compiler
// (cc, or $CC) into a cache directory keyed by the hash of the sources, so
// plain `go test ./...` works with no prior `make`. Concurrent test binaries
// share the cache safely: each build is written to a temporary file and
// renamed into place.
package peer

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// SourceDir returns the crt/ directory: $POSIXIPC_CRT when set, else the one
// of the module this package was compiled from.
func SourceDir() string {
	if d := os.Getenv("POSIXIPC_CRT"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "crt")
}

var (
	mu    sync.Mutex
	built = map[string]string{}
)

// Path returns the path of the compiled peer NAME (crt/NAME.c), building it
// first when needed. The peer is linked with -lrt -lpthread and may include
// any header of crt/.
func Path(name string) (string, error) { return Build(name) }

// Build is Path for a peer that needs more compiler arguments (extra: -I
// and -l flags of an optional library, such as crt/iox/ioxpeer's
// iceoryx); NAME may name a subdirectory of crt/ ("iox/ioxpeer").
func Build(name string, extra ...string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	key := name + "\x00" + strings.Join(extra, "\x00")
	if p, ok := built[key]; ok {
		return p, nil
	}
	dir := SourceDir()
	src := filepath.Join(dir, name+".c")
	h := sha256.New()
	files := []string{src}
	hdrs, _ := filepath.Glob(filepath.Join(dir, "*.h"))
	sort.Strings(hdrs)
	files = append(files, hdrs...)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("peer %s: %w", name, err)
		}
		h.Write([]byte(filepath.Base(f)))
		h.Write(b)
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	h.Write([]byte(cc))
	h.Write([]byte(key))
	cache := filepath.Join(os.TempDir(), "posixipc-peers-"+fmt.Sprint(os.Getuid()))
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(cache, strings.ReplaceAll(name, "/", "-")+"-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(out); err == nil {
		built[key] = out
		return out, nil
	}
	tmp := fmt.Sprintf("%s.tmp%d", out, os.Getpid())
	args := []string{"-O2", "-Wall", "-D_GNU_SOURCE", "-I", dir, "-o", tmp, src}
	args = append(args, extra...)
	args = append(args, "-lrt", "-lpthread")
	cmd := exec.Command(cc, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("peer %s: %s %s: %v\n%s", name, cc, strings.Join(args, " "), err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	built[key] = out
	return out, nil
}

// Command returns an exec.Cmd that runs peer NAME with args.
func Command(name string, args ...string) (*exec.Cmd, error) {
	p, err := Path(name)
	if err != nil {
		return nil, err
	}
	return exec.Command(p, args...), nil
}

// Output runs the C peer name with args (built on first use) and returns
// its standard output; a failure says the peer's command line and its
// standard error.
func Output(name string, args ...string) (string, error) {
	cmd, err := Command(name, args...)
	if err != nil {
		return "", err
	}
	var errb strings.Builder
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return string(out), nil
}

// StartReady starts a far-side server and waits for the "ready" line it
// prints once its objects are open. When that line does not come, it kills
// and reaps the server and says what came instead.
func StartReady(what string, cmd *exec.Cmd) error {
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		return err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		return fmt.Errorf("%s: %q %v", what, line, err)
	}
	return nil
}
