//go:build linux && cgo

package fifo_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/fifo"
	"github.com/posixipc/posixipc/internal/peer"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newFIFO makes a FIFO in a fresh temporary directory (removed with the test).
func newFIFO(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, fifo.Make(p, 0o600))
	return p
}

// openPair opens a reader (non-blocking, so it does not wait) and then a
// writer of the FIFO at p; the caller closes them.
func openPair(t testing.TB, p string) (r, w *fifo.File) {
	t.Helper()
	r, err := fifo.Open(context.Background(), p, os.O_RDONLY|syscall.O_NONBLOCK)
	require.NoError(t, err)
	w, err = fifo.Open(context.Background(), p, os.O_WRONLY)
	require.NoError(t, err)
	return r, w
}

// startPeer starts fifopeer with args; its stdout is returned by wait.
func startPeer(t testing.TB, args ...string) (wait func() string) {
	t.Helper()
	c, err := peer.Command("fifopeer", args...)
	require.NoError(t, err)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	require.NoError(t, c.Start())
	var once sync.Once
	var werr error
	wait = func() string {
		once.Do(func() { werr = c.Wait() })
		require.NoError(t, werr, "fifopeer %v: %s", args, errb.String())
		return out.String()
	}
	t.Cleanup(func() {
		c.Process.Kill()
		once.Do(func() { werr = c.Wait() })
	})
	return wait
}

func pattern(off, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((off + i) % 251)
	}
	return b
}

func TestMake(t *testing.T) {
	p := newFIFO(t)
	st, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, fs.ModeNamedPipe, st.Mode().Type())
	err = fifo.Make(p, 0o600)
	assert.ErrorIs(t, err, fs.ErrExist)
	var pe *fs.PathError
	assert.ErrorAs(t, err, &pe)
	assert.ErrorIs(t, fifo.Make(p+"2", os.ModeDir|0o600), syscall.EINVAL)
	assert.ErrorIs(t, fifo.Make(filepath.Join(p+"nodir", "x"), 0o600), fs.ErrNotExist)
}

func TestOpenRejectsNonFIFO(t *testing.T) {
	testutil.CheckFDs(t)
	ctx := context.Background()
	reg := filepath.Join(t.TempDir(), "regular")
	require.NoError(t, os.WriteFile(reg, []byte("data"), 0o600))
	_, err := fifo.Open(ctx, reg, os.O_RDONLY)
	assert.ErrorIs(t, err, syscall.EINVAL)
	b, _ := os.ReadFile(reg)
	assert.Equal(t, "data", string(b), "nothing consumed")
	_, err = fifo.Open(ctx, reg+"-missing", os.O_RDONLY)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	p := newFIFO(t)
	for _, fl := range []int{os.O_RDONLY | os.O_CREATE, os.O_WRONLY | os.O_RDWR, os.O_RDONLY | os.O_APPEND} {
		_, err = fifo.Open(ctx, p, fl)
		assert.ErrorIs(t, err, syscall.EINVAL, "flag %#x", fl)
	}
}

func TestGoReadsCWriter(t *testing.T) {
	testutil.CheckFDs(t)
	p := newFIFO(t)
	const n = 1<<20 + 77
	// The reader opens first and waits; the C writer comes later.
	type res struct {
		f   *fifo.File
		err error
	}
	opened := make(chan res)
	go func() {
		f, err := fifo.Open(context.Background(), p, os.O_RDONLY)
		opened <- res{f, err}
	}()
	select {
	case r := <-opened:
		t.Fatalf("reader open returned without a writer: %v", r.err)
	case <-time.After(50 * time.Millisecond):
	}
	wait := startPeer(t, "write", p, strconv.Itoa(n), "4000")
	r := <-opened
	require.NoError(t, r.err)
	got, err := io.ReadAll(r.f)
	require.NoError(t, err)
	require.NoError(t, r.f.Close())
	wait()
	require.Equal(t, n, len(got))
	assert.True(t, bytes.Equal(pattern(0, n), got), "byte for byte")
}

func TestGoWritesCReader(t *testing.T) {
	testutil.CheckFDs(t)
	p := newFIFO(t)
	opened := make(chan error)
	var f *fifo.File
	go func() {
		var err error
		f, err = fifo.Open(context.Background(), p, os.O_WRONLY)
		opened <- err
	}()
	select {
	case err := <-opened:
		t.Fatalf("writer open returned without a reader: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	wait := startPeer(t, "read", p, "check")
	require.NoError(t, <-opened)
	const n = 3<<20 + 5
	for off := 0; off < n; off += 100000 {
		_, err := f.Write(pattern(off, min(100000, n-off)))
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())
	fields := strings.Fields(wait())
	require.Len(t, fields, 3)
	assert.Equal(t, strconv.Itoa(n), fields[0])
	assert.Equal(t, "ok", fields[2])
}

func TestGoToGoOpenSynchronisation(t *testing.T) {
	testutil.CheckFDs(t)
	p := newFIFO(t)
	ctx := context.Background()
	wc := make(chan *fifo.File)
	go func() {
		w, err := fifo.Open(ctx, p, os.O_WRONLY)
		assert.NoError(t, err)
		wc <- w
	}()
	time.Sleep(20 * time.Millisecond)
	r, err := fifo.Open(ctx, p, os.O_RDONLY)
	require.NoError(t, err)
	w := <-wc
	require.NotNil(t, w)
	_, err = w.Write([]byte("hello"))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(b))
	require.NoError(t, r.Close())
	require.NoError(t, r.Close(), "Close is idempotent")
}

// TestReaderSeesWriterThatCameAndWent: a writer that opens and closes between
// two probes is not missed (POLLHUP), and Read then returns EOF.
func TestReaderSeesWriterThatCameAndWent(t *testing.T) {
	testutil.CheckFDs(t)
	p := newFIFO(t)
	done := make(chan error)
	var r *fifo.File
	go func() {
		var err error
		r, err = fifo.Open(context.Background(), p, os.O_RDONLY)
		done <- err
	}()
	// Open the write side as soon as the reader has the FIFO open.
	var fd int
	require.True(t, testutil.Eventually(2*time.Second, func() bool {
		var err error
		fd, err = unix.Open(p, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		return err == nil
	}))
	unix.Write(fd, []byte("x"))
	unix.Close(fd)
	require.NoError(t, <-done)
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, "x", string(b))
	r.Close()
}

func TestOpenCancel(t *testing.T) {
	testutil.CheckFDs(t)
	p := newFIFO(t)
	for _, fl := range []int{os.O_RDONLY, os.O_WRONLY} {
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(30 * time.Millisecond); cancel() }()
		start := time.Now()
		_, err := fifo.Open(ctx, p, fl)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Less(t, time.Since(start), time.Second)

		ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err = fifo.Open(ctx, p, fl)
		cancel()
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		var pe *fs.PathError
		assert.ErrorAs(t, err, &pe)
	}
	// After the cancelled reader, a writer still finds no reader.
	_, err := fifo.Open(context.Background(), p, os.O_WRONLY|syscall.O_NONBLOCK)
	assert.ErrorIs(t, err, syscall.ENXIO)
}

func TestNonblockOpen(t *testing.T) {
	testutil.CheckFDs(t)
	p := newFIFO(t)
	_, err := fifo.Open(context.Background(), p, os.O_WRONLY|syscall.O_NONBLOCK)
	assert.ErrorIs(t, err, syscall.ENXIO)
	r, err := fifo.Open(context.Background(), p, os.O_RDONLY|syscall.O_NONBLOCK)
	require.NoError(t, err)
	w, err := fifo.Open(context.Background(), p, os.O_WRONLY|syscall.O_NONBLOCK)
	require.NoError(t, err)
	rw, err := fifo.Open(context.Background(), p, os.O_RDWR)
	require.NoError(t, err)
	for _, f := range []*fifo.File{r, w, rw} {
		require.NoError(t, f.Close())
	}
}

// TestManyWaitersHoldNoThreads: waiting opens sleep in Go, not in open(2).
func TestManyWaitersHoldNoThreads(t *testing.T) {
	testutil.CheckFDs(t)
	p := newFIFO(t)
	const n = 300
	before := testutil.Threads()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		fl := os.O_WRONLY
		if i%2 == 0 {
			fl = os.O_RDONLY
		}
		// Readers wait on one FIFO, writers on another, so none meet.
		path := p
		if fl == os.O_RDONLY {
			path = p + "r"
		}
		go func() {
			defer wg.Done()
			_, err := fifo.Open(ctx, path, fl)
			errs <- err
		}()
	}
	require.NoError(t, fifo.Make(p+"r", 0o600))
	time.Sleep(100 * time.Millisecond)
	grew := testutil.Threads() - before
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !assert.Error(t, err) {
			break
		}
	}
	// One thread per waiter would be 300; the runtime's own threads for 300
	// goroutines polling with short system calls vary with the load (a
	// loaded container saw 31), so the bound is well below n, not tight.
	// One thread per waiter would be 300. fifo holds at most MaxProbes in
	// system calls at once; the rest is the runtime's (a CI run under -asan,
	// before the probes were bounded, saw 80).
	bound := fifo.MaxProbes + 2*testutil.RuntimeThreads()
	assert.Less(t, grew, bound, "%d waiting opens added %d threads", n, grew)
}

func TestDeadlinesAndClose(t *testing.T) {
	testutil.CheckFDs(t)
	p := newFIFO(t)
	r, w := openPair(t, p)

	require.NoError(t, r.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err := r.Read(make([]byte, 10))
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)

	// Fill the pipe: the write blocks, then its deadline expires.
	require.NoError(t, w.SetWriteDeadline(time.Now().Add(50*time.Millisecond)))
	n, err := w.Write(make([]byte, 4<<20))
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.Less(t, n, 4<<20)

	// Close unblocks a blocked write.
	require.NoError(t, w.SetWriteDeadline(time.Time{}))
	done := make(chan error)
	go func() { _, err := w.Write(make([]byte, 1<<20)); done <- err }()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, w.Close())
	assert.ErrorIs(t, <-done, os.ErrClosed)

	// The reader drains what was written, then sees EOF.
	require.NoError(t, r.SetReadDeadline(time.Time{}))
	got, err := io.Copy(io.Discard, r)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, got, int64(n), "what the timed-out write wrote is there")
	require.NoError(t, r.Close())
}

// TestPassedDeadlineTakesWhatIsThere: a deadline that has passed still
// lets a call take what is there (one try, as every blocking call of the
// module does); then it fails at once.
func TestPassedDeadlineTakesWhatIsThere(t *testing.T) {
	testutil.CheckFDs(t)
	p := newFIFO(t)
	r, w := openPair(t, p)
	defer r.Close()
	defer w.Close()
	_, err := w.Write([]byte("there"))
	require.NoError(t, err)
	require.NoError(t, r.SetReadDeadline(time.Now().Add(-time.Second)))
	b := make([]byte, 8)
	n, err := r.Read(b)
	require.NoError(t, err)
	assert.Equal(t, "there", string(b[:n]))
	t0 := time.Now()
	_, err = r.Read(b)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.Less(t, time.Since(t0), time.Second)
}

// TestDroppedFileCleanedUp: a File dropped without Close, after a wait made
// its waiter (its own FIFO descriptor, a sentinel and an eventfd), leaves
// no descriptor behind once collected.
func TestDroppedFileCleanedUp(t *testing.T) {
	p := newFIFO(t)
	ctx := context.Background()
	w, err := fifo.Open(ctx, p, os.O_RDWR) // keeps the FIFO open for the readers
	require.NoError(t, err)
	defer w.Close()
	before := testutil.FDs()
	for i := 0; i < 10; i++ {
		r, err := fifo.Open(ctx, p, os.O_RDONLY|syscall.O_NONBLOCK)
		require.NoError(t, err)
		require.NoError(t, r.SetReadDeadline(time.Now().Add(5*time.Millisecond)))
		_, err = r.Read(make([]byte, 1)) // waits in C: the waiter exists
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	}
	ok := testutil.Eventually(5*time.Second, func() bool { runtime.GC(); return testutil.FDs() <= before })
	assert.True(t, ok, "descriptors: %d before, %d after", before, testutil.FDs())
}

func TestWriteEPIPE(t *testing.T) {
	testutil.CheckFDs(t)
	p := newFIFO(t)
	r, w := openPair(t, p)
	require.NoError(t, r.Close())
	_, err := w.Write([]byte("x"))
	assert.ErrorIs(t, err, syscall.EPIPE)
	require.NoError(t, w.Close())
}

// TestPipeBufAtomicC: several C writers send PipeBuf-byte records at once;
// none is interleaved with another.
func TestPipeBufAtomicC(t *testing.T) {
	testutil.CheckFDs(t)
	p := newFIFO(t)
	out := startPeer(t, "pipebuf", p)()
	assert.Equal(t, strconv.Itoa(fifo.PipeBuf), strings.TrimSpace(out), "fpathconf(_PC_PIPE_BUF)")

	const writers, count = 4, 300
	r, err := fifo.Open(context.Background(), p, os.O_RDONLY|syscall.O_NONBLOCK)
	require.NoError(t, err)
	// Hold a write end until every record is read: otherwise EOF comes
	// whenever no writer happens to have the FIFO open (between one peer's
	// close and the next one's open), and a late peer then blocks forever.
	hold, err := fifo.Open(context.Background(), p, os.O_WRONLY|syscall.O_NONBLOCK)
	require.NoError(t, err)
	var waits []func() string
	for i := 0; i < writers; i++ {
		waits = append(waits, startPeer(t, "records", p, strconv.Itoa(i), strconv.Itoa(count), strconv.Itoa(fifo.PipeBuf)))
	}
	seen := map[byte]int{}
	rec := make([]byte, fifo.PipeBuf)
	for n := 0; n < writers*count; n++ {
		_, err := io.ReadFull(r, rec)
		require.NoError(t, err)
		require.Equal(t, bytes.Repeat(rec[:1], len(rec)), rec, "record %d interleaved", n)
		seen[rec[0]]++
	}
	for _, w := range waits {
		w()
	}
	require.NoError(t, hold.Close())
	_, err = io.ReadFull(r, rec)
	require.ErrorIs(t, err, io.EOF, "no record beyond the writers' own")
	require.NoError(t, r.Close())
	for i := 0; i < writers; i++ {
		assert.Equal(t, count, seen[byte('A'+i)], "writer %d", i)
	}
}

// TestPipeBufAtomicGo: Go writers (goroutines sharing one File, and a second
// File) send PipeBuf-byte records to a C reader that checks them.
func TestPipeBufAtomicGo(t *testing.T) {
	testutil.CheckFDs(t)
	p := newFIFO(t)
	wait := startPeer(t, "checkrecords", p, strconv.Itoa(fifo.PipeBuf))
	ctx := context.Background()
	w1, err := fifo.Open(ctx, p, os.O_WRONLY)
	require.NoError(t, err)
	w2, err := fifo.Open(ctx, p, os.O_WRONLY)
	require.NoError(t, err)
	const writers, count = 4, 200
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		w := w1
		if i%2 == 1 {
			w = w2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := bytes.Repeat([]byte{byte('a' + i)}, fifo.PipeBuf)
			for j := 0; j < count; j++ {
				if _, err := w.Write(rec); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, w1.Close())
	require.NoError(t, w2.Close())
	assert.Equal(t, fmt.Sprintf("%d 0", writers*count), strings.TrimSpace(wait()))
}

// BenchmarkFIFOThroughput moves 64 MiB from a C writer through a FIFO to a Go
// reader (File.Read: ppoll in C) and to a C reader (read(2)), in the same run, with
// the default pipe capacity (64 KiB) and with 1 MiB set by the reader on both
// sides (SetPipeSize, F_SETPIPE_SZ). Metrics: MB/s of each and the ratio Go/C
// (goal >= 0.9).
func BenchmarkFIFOThroughput(b *testing.B) {
	b.Run("pipe=64KiB", func(b *testing.B) { benchFIFO(b, 0) })
	b.Run("pipe=1MiB", func(b *testing.B) { benchFIFO(b, 1<<20) })
}

func benchFIFO(b *testing.B, pipeSize int) {
	const total = 64 << 20
	p := newFIFO(b)
	wpath, err := peer.Path("fifopeer")
	require.NoError(b, err)
	buf := make([]byte, 65536)
	var goNs, cNs int64
	b.SetBytes(total)
	for i := 0; i < b.N; i++ {
		w := exec.Command(wpath, "write", p, strconv.Itoa(total), "65536")
		require.NoError(b, w.Start())
		f, err := fifo.Open(context.Background(), p, os.O_RDONLY)
		require.NoError(b, err)
		if pipeSize > 0 {
			_, err = f.SetPipeSize(pipeSize)
			require.NoError(b, err)
		}
		start := time.Now()
		var got int64
		for {
			n, err := f.Read(buf)
			got += int64(n)
			if err == io.EOF {
				break
			}
			require.NoError(b, err)
		}
		goNs += time.Since(start).Nanoseconds()
		require.NoError(b, f.Close())
		require.NoError(b, w.Wait())
		require.EqualValues(b, total, got)

		b.StopTimer()
		w = exec.Command(wpath, "write", p, strconv.Itoa(total), "65536")
		require.NoError(b, w.Start())
		args := []string{"read", p}
		if pipeSize > 0 {
			args = append(args, "fast", strconv.Itoa(pipeSize))
		}
		out, err := exec.Command(wpath, args...).Output()
		require.NoError(b, err)
		require.NoError(b, w.Wait())
		var cb, ns int64
		_, err = fmt.Sscan(string(out), &cb, &ns)
		require.NoError(b, err)
		require.EqualValues(b, total, cb)
		cNs += ns
		b.StartTimer()
	}
	goMBs := float64(total) * float64(b.N) / float64(goNs) * 1e3
	cMBs := float64(total) * float64(b.N) / float64(cNs) * 1e3
	b.ReportMetric(goMBs, "Go-MB/s")
	b.ReportMetric(cMBs, "C-MB/s")
	b.ReportMetric(goMBs/cMBs, "Go/C")
}

// BenchmarkWriteRead: a 64-byte Write and the Read of it, on one FIFO in one
// process (no waiting): the cost of the I/O path itself. Goal: 0 allocs/op.
func BenchmarkWriteRead(b *testing.B) {
	p := newFIFO(b)
	r, w := openPair(b, p)
	defer r.Close()
	defer w.Close()
	msg, buf := make([]byte, 64), make([]byte, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := w.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(r, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRoundTripC: a 64-byte message to a C echo server (crt/fifopeer
// echo) and back over two FIFOs; the read waits in C (ppoll). ns/op
// is one round trip between two processes; allocs/op of the waiting path.
func BenchmarkRoundTripC(b *testing.B) {
	dir := b.TempDir()
	req, resp := filepath.Join(dir, "req"), filepath.Join(dir, "resp")
	require.NoError(b, fifo.Make(req, 0o600))
	require.NoError(b, fifo.Make(resp, 0o600))
	wait := startPeer(b, "echo", req, resp, "64")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := fifo.Open(ctx, req, os.O_WRONLY)
	require.NoError(b, err)
	r, err := fifo.Open(ctx, resp, os.O_RDONLY)
	require.NoError(b, err)
	msg, buf := make([]byte, 64), make([]byte, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := w.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(r, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	require.NoError(b, w.Close()) // the server sees EOF and exits
	wait()
	require.NoError(b, r.Close())
}

// TestManyBlockedReadersHoldNoThreads: of 300 Reads blocked on one File, one
// waits inside C and the others in Go; a deadline change reaches them all
// (the one in C and the parked ones), and Close wakes them with os.ErrClosed.
func TestManyBlockedReadersHoldNoThreads(t *testing.T) {
	testutil.CheckFDs(t)
	p := newFIFO(t)
	r, w := openPair(t, p)
	defer w.Close()

	const n = 300
	before := testutil.Threads()
	errs := make(chan error, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			_, err := r.Read(make([]byte, 8))
			errs <- err
		}()
	}
	time.Sleep(100 * time.Millisecond)
	grew := testutil.Threads() - before
	assert.Less(t, grew, 20, "%d blocked reads added %d threads", n, grew)

	// A deadline set while they wait takes effect for every one of them.
	require.NoError(t, r.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	for i := 0; i < n/2; i++ {
		err := <-errs
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		var pe *fs.PathError
		require.ErrorAs(t, err, &pe)
	}
	assert.Less(t, time.Since(start), 5*time.Second)
	for i := n / 2; i < n; i++ {
		require.ErrorIs(t, <-errs, os.ErrDeadlineExceeded)
	}

	// Extending a deadline while a Read waits lets it wait longer. The
	// margins are wide: on a loaded 2-CPU machine (CI runs packages in
	// parallel) a 10 ms sleep once outlasted a 30 ms deadline.
	first := time.Now().Add(300 * time.Millisecond)
	require.NoError(t, r.SetReadDeadline(first))
	got := make(chan error, 1)
	go func() {
		b := make([]byte, 8)
		n, err := r.Read(b)
		if err == nil && string(b[:n]) != "late" {
			err = fmt.Errorf("read %q", b[:n])
		}
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, r.SetReadDeadline(time.Now().Add(10*time.Second)))
	time.Sleep(time.Until(first) + 50*time.Millisecond) // the first deadline has passed
	_, err := w.Write([]byte("late"))
	require.NoError(t, err)
	require.NoError(t, <-got)

	// Close wakes every blocked Read.
	require.NoError(t, r.SetReadDeadline(time.Time{}))
	for i := 0; i < n; i++ {
		go func() {
			_, err := r.Read(make([]byte, 8))
			errs <- err
		}()
	}
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, r.Close())
	for i := 0; i < n; i++ {
		require.ErrorIs(t, <-errs, os.ErrClosed)
	}
	_, err = r.Read(make([]byte, 1))
	require.ErrorIs(t, err, os.ErrClosed)
	require.ErrorIs(t, r.SetDeadline(time.Now()), os.ErrClosed)
}

// TestBlockedWriteEPIPE: a Write waiting (in C) on a full pipe fails with
// EPIPE when the last reader closes; the SIGPIPE does not kill the process.
func TestBlockedWriteEPIPE(t *testing.T) {
	testutil.CheckFDs(t)
	p := newFIFO(t)
	r, w := openPair(t, p)
	done := make(chan error, 1)
	go func() { _, err := w.Write(make([]byte, 1<<20)); done <- err }()
	time.Sleep(30 * time.Millisecond)
	require.NoError(t, r.Close())
	err := <-done
	assert.ErrorIs(t, err, syscall.EPIPE)
	var pe *fs.PathError
	assert.ErrorAs(t, err, &pe)
	require.NoError(t, w.Close())
}

// A deadline too far to represent (year 9999) means no deadline: Read
// waits, and a nearer deadline set later still ends it (reliability #13).
func TestFarDeadline(t *testing.T) {
	p := newFIFO(t)
	f, err := fifo.Open(context.Background(), p, os.O_RDWR)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, f.SetReadDeadline(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)))
	done := make(chan error, 1)
	go func() {
		_, err := f.Read(make([]byte, 8))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Read returned at once: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	require.NoError(t, f.SetReadDeadline(time.Now().Add(10*time.Millisecond)))
	assert.ErrorIs(t, <-done, os.ErrDeadlineExceeded)
}

// TestWaitModes: a wait blocks in read(2) or write(2) on the waiter's own
// open file description of the FIFO (the blocking mode) where it can; a
// deadline, a deadline change or Close ends it (a sentinel swapped over
// that descriptor), and the next wait opens the FIFO again and works. The
// polling mode (the fallback without /proc) passes the same tests.
func TestWaitModes(t *testing.T) {
	t.Run("block", func(t *testing.T) {
		testutil.CheckFDs(t)
		p := newFIFO(t)
		r, w := openPair(t, p)
		defer r.Close()
		defer w.Close()
		// A blocked read, kicked by a deadline change, goes on and gets
		// what is written later.
		got := make(chan string, 1)
		go func() {
			b := make([]byte, 16)
			n, err := r.Read(b)
			if err != nil {
				got <- err.Error()
				return
			}
			got <- string(b[:n])
		}()
		time.Sleep(20 * time.Millisecond)
		require.NoError(t, r.SetReadDeadline(time.Now().Add(time.Hour)))
		time.Sleep(20 * time.Millisecond)
		_, err := w.Write([]byte("after"))
		require.NoError(t, err)
		assert.Equal(t, "after", <-got)
		assert.Equal(t, []string{"block"}, fifo.WaitModes(r))
		// A deadline ends a blocked read; the next read works.
		require.NoError(t, r.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
		_, err = r.Read(make([]byte, 4))
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
		require.NoError(t, r.SetReadDeadline(time.Time{}))
		_, err = w.Write([]byte("again"))
		require.NoError(t, err)
		b := make([]byte, 8)
		n, err := r.Read(b)
		require.NoError(t, err)
		assert.Equal(t, "again", string(b[:n]))
		assert.Equal(t, []string{"block"}, fifo.WaitModes(r), "still blocking after the kick")
		// A full pipe: the writer blocks in write(2) until the reader drains.
		done := make(chan error, 1)
		go func() { _, err := w.Write(make([]byte, 1<<20)); done <- err }()
		time.Sleep(20 * time.Millisecond)
		nn, err := io.CopyN(io.Discard, r, 1<<20)
		require.NoError(t, err)
		assert.Equal(t, int64(1<<20), nn)
		require.NoError(t, <-done)
		assert.Equal(t, []string{"block"}, fifo.WaitModes(w))
	})
	t.Run("poll", func(t *testing.T) {
		defer fifo.SetPollOnly(true)()
		for name, test := range map[string]func(*testing.T){
			"DeadlinesAndClose":              TestDeadlinesAndClose,
			"PassedDeadlineTakesWhatIsThere": TestPassedDeadlineTakesWhatIsThere,
			"BlockedWriteEPIPE":              TestBlockedWriteEPIPE,
			"GoReadsCWriter":                 TestGoReadsCWriter,
			"GoWritesCReader":                TestGoWritesCReader,
			"PipeBufAtomicGo":                TestPipeBufAtomicGo,
		} {
			t.Run(name, test)
		}
		p := newFIFO(t)
		r, w := openPair(t, p)
		defer r.Close()
		defer w.Close()
		require.NoError(t, r.SetReadDeadline(time.Now().Add(10*time.Millisecond)))
		_, err := r.Read(make([]byte, 4))
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.Equal(t, []string{"poll"}, fifo.WaitModes(r))
	})
}
