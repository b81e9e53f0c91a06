//go:build linux && cgo

package shm_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/peer"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	// The test binary doubles as a Go peer process (testutil's one
	// convention: testutil.RunHelperSwitch, testutil.HelperEnv).
	testutil.RunHelperSwitch(func(name string, args []string) int { return runHelper(append([]string{name}, args...)) })
	goleak.VerifyTestMain(m)
}

// runHelper is the Go peer process: "open NAME" opens the segment and
// prints "ok" or the errno name.
func runHelper(args []string) int {
	if args[0] == "small-tmpfs" {
		return smallTmpfsHelper()
	}
	if args[0] == "open" {
		s, err := shm.Open(args[1])
		if err != nil {
			if errors.Is(err, syscall.EACCES) {
				fmt.Println("EACCES")
			} else {
				fmt.Println(err)
			}
			return 1
		}
		s.Close()
		fmt.Println("ok")
		return 0
	}
	return 2
}

func runPeer(t testing.TB, args ...string) (string, error) {
	t.Helper()
	cmd, err := peer.Command("shmpeer", args...)
	require.NoError(t, err)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if err != nil {
		t.Logf("shmpeer %v: %v: %s", args, err, errb.String())
	}
	return out.String(), err
}

// create makes a fresh POSIX segment, closed and unlinked at cleanup.
func create(t testing.TB, size int) (*shm.Segment, string) {
	t.Helper()
	n := testutil.Name("shm")
	s, err := shm.Create(n, size, 0o600)
	require.NoError(t, err)
	t.Cleanup(func() {
		s.Close()
		shm.Unlink(n)
	})
	return s, n
}

func TestWrittenByCReadByGo(t *testing.T) {
	testutil.CheckFDs(t)
	s, n := create(t, 4096)
	require.Equal(t, 4096, s.Size())
	require.Equal(t, n, s.Name())
	out, err := runPeer(t, "write", n, "100", "hello from C")
	require.NoError(t, err)
	require.Equal(t, "ok\n", out)
	buf := make([]byte, 12)
	k, err := s.ReadAt(buf, 100)
	require.NoError(t, err)
	require.Equal(t, 12, k)
	require.Equal(t, "hello from C", string(buf))
	require.Equal(t, "hello from C", string(s.Bytes()[100:112]))

	// A second mapping (Open) sees the same memory.
	s2, err := shm.Open(n)
	require.NoError(t, err)
	defer s2.Close()
	_, err = s2.WriteAt([]byte("hello from Go"), 2000)
	require.NoError(t, err)
	out, err = runPeer(t, "read", n, "2000", "13")
	require.NoError(t, err)
	require.Equal(t, "hello from Go", out)

	// Atomics at offsets are visible to C byte for byte (little endian).
	require.NoError(t, s.StoreUint32(8, 0x41424344))
	require.NoError(t, s.StoreUint64(16, 0x3132333435363738))
	v, err := s.AddUint32(8, 1)
	require.NoError(t, err)
	require.Equal(t, uint32(0x41424345), v)
	ok, err := s.CompareAndSwapUint64(16, 0x3132333435363738, 0x3132333435363739)
	require.NoError(t, err)
	require.True(t, ok)
	out, err = runPeer(t, "read", n, "8", "4")
	require.NoError(t, err)
	require.Equal(t, "ECBA", out)
	out, err = runPeer(t, "read", n, "16", "8")
	require.NoError(t, err)
	require.Equal(t, "97654321", out)
	u, err := s2.LoadUint64(16)
	require.NoError(t, err)
	require.Equal(t, uint64(0x3132333435363739), u)
}

func TestCreateIsPublishedWhole(t *testing.T) {
	n := testutil.Name("whole")
	var duringGo error
	var duringC string
	s, err := shm.CreateWith(n, 8192, 0o600, func(s *shm.Segment) error {
		// Nobody sees the object before it is initialised.
		_, duringGo = shm.Open(n)
		duringC, _ = runPeer(t, "open", n)
		_, err := s.WriteAt([]byte("ready"), 0)
		return err
	})
	require.NoError(t, err)
	defer shm.Unlink(n)
	defer s.Close()
	require.ErrorIs(t, duringGo, fs.ErrNotExist)
	require.Equal(t, "ENOENT\n", duringC)
	out, err := runPeer(t, "read", n, "0", "5")
	require.NoError(t, err)
	require.Equal(t, "ready", out)
	out, _ = runPeer(t, "size", n)
	require.Equal(t, "8192\n", out)
	info, err := shm.Stat(n)
	require.NoError(t, err)
	require.Equal(t, int64(8192), info.Size)
	require.Equal(t, os.FileMode(0o600), info.Mode)

	// A failed initialisation creates nothing.
	n2 := testutil.Name("fail")
	boom := errors.New("boom")
	_, err = shm.CreateWith(n2, 4096, 0o600, func(*shm.Segment) error { return boom })
	require.ErrorIs(t, err, boom)
	_, err = shm.Open(n2)
	require.ErrorIs(t, err, fs.ErrNotExist)
}

func TestOpenNeverShrinks(t *testing.T) {
	s, n := create(t, 8192)
	_ = s
	_, err := shm.OpenSize(n, 8193)
	require.ErrorIs(t, err, syscall.EINVAL)
	require.Contains(t, err.Error(), "smaller")
	_, err = shm.CreateOrOpen(n, 16384, 0o600)
	require.ErrorIs(t, err, syscall.EINVAL)
	o, err := shm.CreateOrOpen(n, 4096, 0o600)
	require.NoError(t, err)
	require.Equal(t, 8192, o.Size(), "maps the whole object")
	require.NoError(t, o.Close())
	out, _ := runPeer(t, "size", n)
	require.Equal(t, "8192\n", out)

	// A segment a C peer created but has not sized yet.
	n0 := testutil.Name("zero")
	out, err = runPeer(t, "create", n0, "0", "600")
	require.NoError(t, err)
	require.Equal(t, "ok\n", out)
	defer shm.Unlink(n0)
	_, err = shm.Open(n0)
	require.ErrorIs(t, err, syscall.EAGAIN)
}

func TestErrors(t *testing.T) {
	_, n := create(t, 4096)
	_, err := shm.Create(n, 4096, 0o600)
	require.ErrorIs(t, err, syscall.EEXIST)
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, n, pe.Path)
	_, err = shm.Open(testutil.Name("none"))
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorIs(t, shm.Unlink(testutil.Name("none")), fs.ErrNotExist)
	for _, size := range []int{0, -1, 1 << 50} {
		_, err = shm.Create(testutil.Name("size"), size, 0o600)
		require.ErrorIs(t, err, syscall.EINVAL, "size %d", size)
	}
	_, err = shm.OpenSize(n, -1)
	require.ErrorIs(t, err, syscall.EINVAL)
	for _, bad := range []string{"", "/", "a/b", "x\x00"} {
		_, err = shm.Create(bad, 4096, 0o600)
		require.ErrorIs(t, err, syscall.EINVAL, "name %q", bad)
		_, err = shm.Open(bad)
		require.ErrorIs(t, err, syscall.EINVAL, "name %q", bad)
	}
	_, err = shm.Create(strings.Repeat("n", 252), 4096, 0o600)
	require.ErrorIs(t, err, syscall.ENAMETOOLONG)
	_, err = shm.Ftok("/nonexistent/x", 1)
	require.ErrorIs(t, err, fs.ErrNotExist)
	_, err = shm.Ftok("/", 0)
	require.ErrorIs(t, err, syscall.EINVAL)
}

func TestEACCES(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run the other side as uid 65534")
	}
	_, n := create(t, 4096)
	cmd, err := peer.Command("shmpeer", "open", n)
	require.NoError(t, err)
	out, _ := testutil.Unprivileged(t, cmd).Output()
	require.Equal(t, "EACCES\n", string(out))
	cmd = exec.Command(testutil.ExecutableCopy(t))
	cmd.Env = testutil.HelperEnv("open", n)
	out, _ = testutil.Unprivileged(t, cmd).Output()
	require.Equal(t, "EACCES\n", string(out))
}

func TestTruncatedByPeer(t *testing.T) {
	s, n := create(t, 64<<10)
	_, err := s.WriteAt([]byte("x"), 60000)
	require.NoError(t, err)
	out, err := runPeer(t, "truncate", n, "4096")
	require.NoError(t, err)
	require.Equal(t, "ok\n", out)

	// Inside what is left: fine.
	_, err = s.WriteAt([]byte("still here"), 100)
	require.NoError(t, err)
	// Beyond it: an error, not a SIGBUS.
	buf := make([]byte, 100)
	_, err = s.ReadAt(buf, 8192)
	require.ErrorIs(t, err, syscall.EFAULT)
	var fe *shm.FaultError
	require.ErrorAs(t, err, &fe)
	require.Contains(t, err.Error(), "truncated")
	_, err = s.WriteAt(buf, 10000)
	require.ErrorIs(t, err, syscall.EFAULT)
	_, err = s.LoadUint32(40000)
	require.ErrorIs(t, err, syscall.EFAULT)
	require.ErrorIs(t, s.StoreUint64(50000, 1), syscall.EFAULT)
	_, err = s.AddUint64(50000, 1)
	require.ErrorIs(t, err, syscall.EFAULT)
	_, err = s.CompareAndSwapUint32(50000, 0, 1)
	require.ErrorIs(t, err, syscall.EFAULT)
	// A read that starts inside and runs past the truncation fails too.
	_, err = s.ReadAt(make([]byte, 8192), 0)
	require.ErrorIs(t, err, syscall.EFAULT)
	// The segment is still usable below the cut.
	k, err := s.ReadAt(buf[:10], 100)
	require.NoError(t, err)
	require.Equal(t, "still here", string(buf[:k]))
}

func TestAccessorBounds(t *testing.T) {
	s, _ := create(t, 4096)
	buf := make([]byte, 16)
	k, err := s.ReadAt(buf, 4090)
	require.Equal(t, 6, k)
	require.ErrorIs(t, err, io.EOF)
	k, err = s.ReadAt(buf, 4096)
	require.Equal(t, 0, k)
	require.ErrorIs(t, err, io.EOF)
	for _, off := range []int64{-1, 4097, 1 << 62} {
		_, err = s.ReadAt(buf, off)
		require.ErrorIs(t, err, syscall.EINVAL, "offset %d", off)
	}
	_, err = s.WriteAt(buf, 4090)
	require.ErrorIs(t, err, syscall.EINVAL)
	require.Equal(t, byte(0), s.Bytes()[4090], "a write that does not fit writes nothing")
	_, err = s.LoadUint32(2)
	require.ErrorIs(t, err, syscall.EINVAL)
	_, err = s.LoadUint64(4)
	require.ErrorIs(t, err, syscall.EINVAL)
	_, err = s.LoadUint64(4096)
	require.ErrorIs(t, err, syscall.EINVAL)
	_, err = s.LoadUint32(4092)
	require.NoError(t, err)
}

func TestPinAndClose(t *testing.T) {
	s, _ := create(t, 4096)
	require.NoError(t, s.Pin())
	require.NoError(t, s.Pin())
	err := s.Close()
	require.ErrorIs(t, err, syscall.EBUSY)
	require.Contains(t, err.Error(), "2 object(s)")
	_, err = s.ReadAt(make([]byte, 1), 0)
	require.NoError(t, err, "refused Close leaves the mapping intact")
	s.Unpin()
	s.Unpin()
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "idempotent")
	require.ErrorIs(t, s.Pin(), os.ErrClosed)
	_, err = s.ReadAt(make([]byte, 1), 0)
	require.ErrorIs(t, err, os.ErrClosed)
	require.ErrorIs(t, s.Sync(), os.ErrClosed)
}

func TestConcurrentAccessAndClose(t *testing.T) {
	s, _ := create(t, 4096)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				if _, err := s.AddUint64(0, 1); err != nil {
					assert.ErrorIs(t, err, os.ErrClosed)
					return
				}
			}
		}()
	}
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, s.Close())
	wg.Wait()
}

func TestSysV(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	key, err := shm.Ftok(path, 'p')
	require.NoError(t, err)
	out, err := runPeer(t, "ftok", path, strconv.Itoa('p'))
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("%d\n", key), out, "same key as C's ftok")

	s, err := shm.CreateSysV(key, 8192, 0o600)
	require.NoError(t, err)
	t.Cleanup(func() { shm.RemoveSysV(key) })
	defer s.Close()
	require.GreaterOrEqual(t, s.SysVID(), 0)
	require.Equal(t, 8192, s.Size())
	_, err = shm.CreateSysV(key, 8192, 0o600)
	require.ErrorIs(t, err, syscall.EEXIST)

	out, err = runPeer(t, "sysv-write", fmt.Sprint(key), "500", "sysv from C")
	require.NoError(t, err)
	require.Equal(t, "ok\n", out)
	buf := make([]byte, 11)
	_, err = s.ReadAt(buf, 500)
	require.NoError(t, err)
	require.Equal(t, "sysv from C", string(buf))
	_, err = s.WriteAt([]byte("sysv from Go"), 1000)
	require.NoError(t, err)
	out, err = runPeer(t, "sysv-read", fmt.Sprint(key), "1000", "12")
	require.NoError(t, err)
	require.Equal(t, "sysv from Go", out)

	_, err = shm.OpenSysV(key, 8193)
	require.ErrorIs(t, err, syscall.EINVAL)
	o, err := shm.OpenSysV(key, 0)
	require.NoError(t, err)
	require.Equal(t, "sysv from C", string(o.Bytes()[500:511]))
	require.NoError(t, o.Close())

	require.NoError(t, shm.RemoveSysV(key))
	_, err = shm.OpenSysV(key, 0)
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.NoError(t, s.Close(), "still attached after IPC_RMID until detached")

	// A private segment.
	p, err := shm.CreateSysV(0, 4096, 0o600)
	require.NoError(t, err)
	id := p.SysVID()
	t.Cleanup(func() { unix.SysvShmCtl(id, unix.IPC_RMID, nil) })
	require.NoError(t, p.Remove())
	require.NoError(t, p.Close())
	_, err = unix.SysvShmCtl(id, unix.IPC_STAT, &unix.SysvShmDesc{})
	require.Error(t, err, "removed once detached")
	_, err = shm.CreateSysV(key, 0, 0o600)
	require.ErrorIs(t, err, syscall.EINVAL)
}

func TestMapFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "map")
	s, err := shm.MapFile(path, 4096, os.O_CREATE|os.O_EXCL, 0o600)
	require.NoError(t, err)
	_, err = s.WriteAt([]byte("file data"), 10)
	require.NoError(t, err)
	require.NoError(t, s.Sync())
	require.NoError(t, s.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Len(t, b, 4096)
	require.Equal(t, "file data", string(b[10:19]))

	_, err = shm.MapFile(path, 4096, os.O_CREATE|os.O_EXCL, 0o600)
	require.ErrorIs(t, err, fs.ErrExist)
	_, err = shm.MapFile(path, 8192, os.O_CREATE, 0o600)
	require.ErrorIs(t, err, syscall.EINVAL, "never grows or shrinks an existing file")
	s, err = shm.MapFile(path, 0, 0, 0)
	require.NoError(t, err)
	require.Equal(t, 4096, s.Size())
	require.NoError(t, s.Close())
	_, err = shm.MapFile(path, 0, os.O_CREATE, 0o600)
	require.ErrorIs(t, err, syscall.EINVAL)
	st, _ := os.Stat(path)
	require.Equal(t, int64(4096), st.Size())
}

func TestOpenFileFlags(t *testing.T) {
	n := testutil.Name("openfile")
	defer shm.Unlink(n)
	_, err := shm.OpenFile(n, 0, 0, 0)
	require.ErrorIs(t, err, fs.ErrNotExist)
	s, err := shm.OpenFile(n, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600, 4096)
	require.NoError(t, err)
	defer s.Close()
	_, err = shm.OpenFile(n, os.O_CREATE|os.O_EXCL, 0o600, 4096)
	require.ErrorIs(t, err, fs.ErrExist)
	s2, err := shm.OpenFile(n, os.O_CREATE, 0o600, 4096) // exists: opened
	require.NoError(t, err)
	require.NoError(t, s2.Close())
	s3, err := shm.OpenFile(n, 0, 0, 0)
	require.NoError(t, err)
	assert.Equal(t, 4096, s3.Size())
	require.NoError(t, s3.Close())
	for _, f := range []int{os.O_EXCL, os.O_APPEND, os.O_WRONLY} {
		_, err = shm.OpenFile(n, f, 0o600, 4096)
		assert.ErrorIs(t, err, syscall.EINVAL, "%#x", f)
	}
}

// Place is the one check, pin and prefault of the packages that put C
// objects in a segment; its name format is theirs.
func TestPlace(t *testing.T) {
	n := testutil.Name("place")
	s, err := shm.Create(n, 4096, 0o600)
	require.NoError(t, err)
	defer shm.Unlink(n)
	defer s.Close()
	for _, c := range []struct {
		off         int64
		size, align int
		why         string
	}{{-8, 8, 8, "negative"}, {4, 8, 8, "not a multiple"}, {4096 - 8, 16, 8, "do not fit"}, {1 << 40, 8, 8, "do not fit"}} {
		_, _, err := s.Place("place", c.off, c.size, c.align)
		assert.ErrorIs(t, err, syscall.EINVAL, "%+v", c)
		assert.ErrorContains(t, err, c.why)
	}
	nm, p, err := s.Place("place", 64, 32, 8)
	require.NoError(t, err)
	assert.Equal(t, n+"@64", nm)
	assert.Equal(t, shm.PlaceName(n, 64), nm)
	assert.Equal(t, unsafe.Pointer(&s.Bytes()[64]), p)
	require.NoError(t, s.Unpin(), "Place pinned the segment once")
	assert.Error(t, s.Unpin(), "and only once")
	var none *shm.Segment
	_, _, err = none.Place("place", 0, 8, 8)
	assert.ErrorIs(t, err, syscall.EINVAL)
}
