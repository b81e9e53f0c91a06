//go:build linux && cgo

package hardening

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestNoLeftoverObjects is the suite's POSIX object leak check, run by
// `make test-all` after everything else with HARDENING_LEAKCHECK_SINCE set to
// the Unix time the run started (skipped otherwise). It fails on every object
// created since then and still present: in /dev/shm (shared memory segments
// and named semaphores, "sem.NAME"), in the mqueue namespace (read through an
// mqueue file system mounted in a temporary directory, unmounted after) and
// among System V segments (/proc/sysvipc/shm, an unattached segment whose
// creator has exited). A name of the tests' scheme (testutil.Name:
// /pit-PREFIX-PID-...) whose PID is still running belongs to a test binary
// that has not finished (another run on the machine) and is not counted.
func TestNoLeftoverObjects(t *testing.T) {
	v := os.Getenv("HARDENING_LEAKCHECK_SINCE")
	if v == "" {
		t.Skip("run by make test-all after the suite (HARDENING_LEAKCHECK_SINCE)")
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	require.NoError(t, err)
	since := time.Unix(sec, 0)

	var leaks []string
	leaks = append(leaks, newEntries(t, "/dev/shm", since)...)

	dir := t.TempDir()
	require.NoError(t, unix.Mount("none", dir, "mqueue", 0, ""), "mounting an mqueue file system")
	unmounted := false
	t.Cleanup(func() { // before TempDir's removal; also when newEntries fails
		if !unmounted {
			unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	mq := newEntries(t, dir, since)
	require.NoError(t, unix.Unmount(dir, 0))
	unmounted = true
	for _, l := range mq {
		leaks = append(leaks, "mqueue "+l)
	}
	leaks = append(leaks, sysvLeaks(t, since)...)
	for _, l := range leaks {
		t.Errorf("left behind: %s", l)
	}
	t.Logf("POSIX/SysV objects left by the suite: %d", len(leaks))
}

// newEntries lists the entries of dir changed since since that no running
// test binary owns.
func newEntries(t testing.TB, dir string, since time.Time) []string {
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		var st unix.Stat_t
		if unix.Lstat(filepath.Join(dir, e.Name()), &st) != nil {
			continue // removed meanwhile
		}
		if time.Unix(st.Ctim.Unix()).Before(since) || ownerRunning(e.Name()) {
			continue
		}
		out = append(out, filepath.Join(dir, e.Name()))
	}
	return out
}

// sysvListLeaks lists the objects of /proc/sysvipc/FILE changed (ctime)
// since the run began: queues and sets have no attach count, so each one
// the run created and did not remove is a leak.
func sysvListLeaks(t testing.TB, file, what, idCol string, since time.Time) []string {
	f, err := os.Open("/proc/sysvipc/" + file)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	cols := strings.Fields(sc.Text())
	var out []string
	for sc.Scan() {
		v := strings.Fields(sc.Text())
		if len(v) < len(cols) {
			continue
		}
		m := map[string]string{}
		for i, c := range cols {
			m[c] = v[i]
		}
		ctime, _ := strconv.ParseInt(m["ctime"], 10, 64)
		if ctime >= since.Unix() {
			out = append(out, fmt.Sprintf("%s key %s id %s", what, m["key"], m[idCol]))
		}
	}
	return out
}

// ownerRunning reports whether name follows testutil.Name's scheme
// (pit-PREFIX-PID-N-N, or sem.pit-...) with the PID of a running process.
func ownerRunning(name string) bool {
	name = strings.TrimPrefix(name, "sem.")
	if !strings.HasPrefix(name, "pit-") {
		return false
	}
	f := strings.Split(name, "-")
	if len(f) < 5 {
		return false
	}
	pid, err := strconv.Atoi(f[len(f)-3])
	return err == nil && pidAlive(pid)
}

func pidAlive(pid int) bool {
	return pid > 0 && (unix.Kill(pid, 0) == nil || unix.Kill(pid, 0) == syscall.EPERM)
}

// sysvLeaks lists System V segments changed since since, attached by nobody,
// whose creator has exited.
func sysvLeaks(t testing.TB, since time.Time) []string {
	f, err := os.Open("/proc/sysvipc/shm")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header: key shmid perms size cpid lpid nattch uid gid cuid cgid atime dtime ctime ...
	var out []string
	for sc.Scan() {
		v := strings.Fields(sc.Text())
		if len(v) < 14 {
			continue
		}
		cpid, _ := strconv.Atoi(v[4])
		nattch, _ := strconv.Atoi(v[6])
		ctime, _ := strconv.ParseInt(v[13], 10, 64)
		if nattch == 0 && ctime >= since.Unix() && !pidAlive(cpid) {
			out = append(out, fmt.Sprintf("System V segment key %s id %s (%s bytes, creator pid %d)", v[0], v[1], v[3], cpid))
		}
	}
	for _, kind := range []struct{ file, what, id string }{
		{"msg", "System V message queue", "msqid"}, {"sem", "System V semaphore set", "semid"},
	} {
		out = append(out, sysvListLeaks(t, kind.file, kind.what, kind.id, since)...)
	}
	return out
}
