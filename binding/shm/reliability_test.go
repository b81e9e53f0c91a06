//go:build linux && cgo

package shm_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/posixipc/posixipc/binding/pthread"
	"github.com/posixipc/posixipc/binding/sem"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/name"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Segment names that begin with "sem." would be glibc's files of named
// semaphores: refused, with the name rule's error type (reliability #9).
func TestSemPrefixRefused(t *testing.T) {
	for _, n := range []string{"/sem.x", "sem.x"} {
		_, err := shm.Create(n, 4096, 0o600)
		require.ErrorIs(t, err, syscall.EINVAL)
		var ne *name.Error
		assert.True(t, errors.As(err, &ne), "%v", err)
		_, err = shm.Open(n)
		assert.ErrorIs(t, err, syscall.EINVAL)
		assert.ErrorIs(t, shm.Unlink(n), syscall.EINVAL)
		_, err = shm.Stat(n)
		assert.ErrorIs(t, err, syscall.EINVAL)
	}
	seg, err := shm.Create("/semx"+testutil.Name("p")[1:], 4096, 0o600) // only the exact prefix
	require.NoError(t, err)
	seg.Remove()
	seg.Close()
}

// An Unpin without its Pin is refused, so Close cannot unmap under an
// object still in use (reliability #15).
func TestUnpinRefused(t *testing.T) {
	n := testutil.Name("unpin")
	seg, err := shm.Create(n, 4096, 0o600)
	require.NoError(t, err)
	defer shm.Unlink(n)
	require.NoError(t, seg.Pin())
	require.NoError(t, seg.Unpin())
	assert.ErrorIs(t, seg.Unpin(), syscall.EINVAL)
	require.NoError(t, seg.Pin())
	assert.ErrorIs(t, seg.Close(), syscall.EBUSY, "the refused Unpin did not count")
	require.NoError(t, seg.Unpin())
	require.NoError(t, seg.Close())
}

// The fault-safe accessors return an error, not a crash, when a peer
// truncated the object, in race builds too, where sync/atomic would run on
// the system stack (reliability #11; make test runs this under -race).
func TestAccessorsAfterTruncation(t *testing.T) {
	n := testutil.Name("trunc")
	seg, err := shm.Create(n, 3*4096, 0o600)
	require.NoError(t, err)
	defer shm.Unlink(n)
	defer seg.Close()
	require.NoError(t, os.Truncate(shm.Dir+n, 0))
	off := int64(4096 + 64)
	checks := map[string]error{}
	_, checks["LoadUint32"] = seg.LoadUint32(off)
	checks["StoreUint32"] = seg.StoreUint32(off, 1)
	_, checks["AddUint32"] = seg.AddUint32(off, 1)
	_, checks["CompareAndSwapUint32"] = seg.CompareAndSwapUint32(off, 0, 1)
	_, checks["LoadUint64"] = seg.LoadUint64(off)
	checks["StoreUint64"] = seg.StoreUint64(off, 1)
	_, checks["AddUint64"] = seg.AddUint64(off, 1)
	_, checks["CompareAndSwapUint64"] = seg.CompareAndSwapUint64(off, 0, 1)
	_, checks["ReadAt"] = seg.ReadAt(make([]byte, 8), off)
	_, checks["WriteAt"] = seg.WriteAt(make([]byte, 8), off)
	checks["Prefault"] = seg.Prefault(0, 64)
	for what, err := range checks {
		var fe *shm.FaultError
		assert.True(t, errors.As(err, &fe), "%s: %v", what, err)
		assert.ErrorIs(t, err, syscall.EFAULT, what)
	}
}

// In a private mount namespace with a 64 KiB tmpfs on /dev/shm
// (reliability #10): creating a larger segment fails with ENOSPC at Create
// (fallocate), and a segment a peer sized without reserving it gives an
// error at Prefault, not a SIGBUS.
func TestSmallTmpfs(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare(1) not installed (util-linux)")
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	script := `mount -t tmpfs -o size=64k posixipc-test /dev/shm && exec "$0" -test.run='^$'`
	args := []string{"-m", "--propagation", "private"}
	if os.Geteuid() != 0 {
		args = append([]string{"-r"}, args...) // a user namespace maps us to root
	}
	cmd := exec.Command("unshare", append(args, "sh", "-c", script, exe)...)
	cmd.Env = testutil.HelperEnv("small-tmpfs")
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "unshare failed") || strings.Contains(string(out), "mount:") {
		t.Skipf("no private mount namespace here (needs root or unprivileged user namespaces): %s", out)
	}
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "create: ENOSPC")
	assert.Contains(t, string(out), "prefault: EFAULT")
	assert.Contains(t, string(out), "constructors: EFAULT")
}

func smallTmpfsHelper() int {
	_, err := shm.Create("/big", 1<<20, 0o600)
	switch {
	case errors.Is(err, syscall.ENOSPC):
		fmt.Println("create: ENOSPC")
	default:
		fmt.Println("create:", err)
		return 1
	}
	// A peer's segment, sized with ftruncate only (sparse), on a full tmpfs.
	f, err := os.OpenFile(shm.Dir+"/sparse", os.O_RDWR|os.O_CREATE, 0o600)
	if err == nil {
		err = f.Truncate(1 << 20)
	}
	if err != nil {
		fmt.Println("sparse:", err)
		return 1
	}
	fill, _ := os.Create(shm.Dir + "/fill")
	fill.Write(make([]byte, 128<<10)) // takes what is left
	seg, err := shm.Open("/sparse")
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	if err := seg.Prefault(512<<10, 64); errors.Is(err, syscall.EFAULT) {
		fmt.Println("prefault: EFAULT")
	} else {
		fmt.Println("prefault:", err)
		return 1
	}
	// The constructors of placed objects on the pages tmpfs cannot back:
	// errors, not SIGBUS inside glibc.
	_, errM := pthread.NewMutex(seg, 600<<10, nil)
	_, errC := pthread.NewCond(seg, 700<<10)
	_, errR := pthread.NewRWMutex(seg, 800<<10, nil)
	_, errS := sem.Init(seg, 900<<10, 1)
	for what, err := range map[string]error{"NewMutex": errM, "NewCond": errC, "NewRWMutex": errR, "sem.Init": errS} {
		if !errors.Is(err, syscall.EFAULT) {
			fmt.Println(what+":", err)
			return 1
		}
	}
	fmt.Println("constructors: EFAULT")
	return 0
}
