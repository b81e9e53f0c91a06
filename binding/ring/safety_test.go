//go:build linux && cgo

package ring_test

import (
	"context"
	"os"
	"runtime/debug"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/ring"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Offsets of the documented layout (crt/posixipc_ring.h).
const (
	offVersion = 8
	offMode    = 12
	offSlots   = 24
	offParts   = 32
	offTail    = 128
	offHead    = 192
	hdrSize64  = 512 + 64*64 // the header of a ring with the default 64 entries
	slotLen    = 16
	slotSeq    = 0
)

// poke opens the ring's segment as a peer that writes its bytes would.
func poke(t *testing.T, name string) *shm.Segment {
	t.Helper()
	s, err := shm.Open(name)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// TestTruncatedSegment: a peer that truncates the segment makes every
// call fail with an error wrapping EFAULT (the batch calls too), never a
// SIGBUS; only the memory of a loan or view (raw, by design) faults, which
// debug.SetPanicOnFault turns into a panic the program may recover.
func TestTruncatedSegment(t *testing.T) {
	name, p := create(t, os.O_WRONLY, ring.Config{Slots: 4, Size: 4096})
	c := open(t, name, os.O_RDONLY, nil)
	ctx := context.Background()
	require.NoError(t, p.Send(ctx, []byte("x")))
	l, err := p.Loan(ctx)
	require.NoError(t, err)
	batch := make([]ring.Loan, 1)
	n, err := p.LoanBatch(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	views := make([]ring.View, 1)
	n, err = c.NextBatch(ctx, views)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.NoError(t, os.Truncate(shm.Dir+name, 0))

	_, err = p.LoanBatch(ctx, batch)
	require.ErrorIs(t, err, syscall.EFAULT)
	_, err = p.CommitBatch(batch, []int{1})
	require.ErrorIs(t, err, syscall.EFAULT)
	_, err = p.SendBatch(ctx, [][]byte{[]byte("z")})
	require.ErrorIs(t, err, syscall.EFAULT)
	_, err = c.ReleaseBatch(views)
	require.ErrorIs(t, err, syscall.EFAULT)
	_, err = c.ReceiveBatch(ctx, [][]byte{make([]byte, 4096)}, make([]ring.Record, 1))
	require.ErrorIs(t, err, syscall.EFAULT)
	_, err = c.NextBatch(ctx, views)
	require.ErrorIs(t, err, syscall.EFAULT)

	require.ErrorIs(t, p.Send(ctx, []byte("y")), syscall.EFAULT)
	require.ErrorIs(t, l.Commit(1), syscall.EFAULT)
	_, err = c.TryReceive(make([]byte, 4096))
	require.ErrorIs(t, err, syscall.EFAULT)
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = c.Next(tctx)
	require.ErrorIs(t, err, syscall.EFAULT)
	_, err = c.Stat()
	require.ErrorIs(t, err, syscall.EFAULT)
	_, err = ring.Open(name, os.O_RDONLY, 0, nil)
	require.Error(t, err, "a truncated ring does not open")

	// The loan's memory is the mapping itself: touching it faults.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	faulted := func() (f bool) {
		defer func() { f = recover() != nil }()
		l.Bytes()[0] = 1
		return false
	}()
	assert.True(t, faulted, "a write into a truncated loan faults (recoverable under SetPanicOnFault)")
	p.Close()
	c.Close()
}

// TestCorruptValues: values no participant writes are reported as
// ErrCorrupt (EUCLEAN) and passed, and a wait on garbage still ends at its
// deadline.
func TestCorruptValues(t *testing.T) {
	name, p := create(t, os.O_WRONLY, ring.Config{Slots: 4, Size: 16})
	c := open(t, name, os.O_RDONLY, nil)
	s := poke(t, name)
	ctx := context.Background()
	require.NoError(t, p.Send(ctx, []byte("a")))
	require.NoError(t, p.Send(ctx, []byte("b")))
	// record 0 claims to be longer than its slot
	require.NoError(t, s.StoreUint32(hdrSize64+slotLen, 1<<20))
	buf := make([]byte, 16)
	_, err := c.Receive(ctx, buf)
	require.ErrorIs(t, err, ring.ErrCorrupt)
	require.ErrorIs(t, err, syscall.EUCLEAN)
	rec, err := c.Receive(ctx, buf)
	require.NoError(t, err, "the corrupt record was passed")
	assert.Equal(t, "b", string(buf[:rec.N]))

	// a slot sequence far ahead: the consumer waits, and its deadline holds
	require.NoError(t, s.StoreUint64(hdrSize64+2*(64+64)+slotSeq, 1<<40))
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = c.Receive(tctx, buf)
	require.Error(t, err)
	// a tail far ahead: waits slice and still end at the deadline
	require.NoError(t, s.StoreUint64(offTail, 1<<50))
	t0 := time.Now()
	tctx2, cancel2 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel2()
	_, err = c.Receive(tctx2, buf)
	require.Error(t, err)
	assert.Less(t, time.Since(t0), 3*time.Second)
}

// TestLaggingHints: tail and head are hints. Moved back (as a taker that
// was slow to store them does), the next call walks them forward past the
// taken slots: nothing is taken twice, nothing is skipped. Slots whose
// seq is all ahead of the hint are garbage: ErrCorrupt, not a hang.
func TestLaggingHints(t *testing.T) {
	name, p := create(t, os.O_WRONLY, ring.Config{Slots: 8, Size: 16})
	c := open(t, name, os.O_RDONLY, nil)
	s := poke(t, name)
	ctx := context.Background()
	buf := make([]byte, 16)
	for _, m := range []string{"a", "b", "c", "d", "e"} {
		require.NoError(t, p.Send(ctx, []byte(m)))
	}
	rec, err := c.Receive(ctx, buf)
	require.NoError(t, err)
	require.Equal(t, "a", string(buf[:rec.N]))
	require.NoError(t, s.StoreUint64(offTail, 1)) // five produced
	require.NoError(t, s.StoreUint64(offHead, 0)) // one consumed
	require.NoError(t, p.Send(ctx, []byte("f")))
	for _, want := range []string{"b", "c", "d", "e", "f"} {
		rec, err := c.Receive(ctx, buf)
		require.NoError(t, err)
		require.Equal(t, want, string(buf[:rec.N]))
		require.EqualValues(t, want[0]-'a', rec.Seq)
	}
	_, err = c.TryReceive(buf)
	require.ErrorIs(t, err, syscall.EAGAIN)

	// every slot's seq far ahead: no walk ends
	for i := int64(0); i < 8; i++ {
		require.NoError(t, s.StoreUint64(hdrSize64+i*(64+64)+slotSeq, 1<<40))
	}
	require.NoError(t, s.StoreUint64(offTail, 0))
	require.ErrorIs(t, p.TrySend([]byte("g")), ring.ErrCorrupt)
	require.NoError(t, s.StoreUint64(offHead, 0))
	_, err = c.TryReceive(buf)
	require.ErrorIs(t, err, ring.ErrCorrupt)
}

// TestCorruptHeader: Open refuses a header that no creator writes.
// TestUnfinishedCreator: a ring without its magic yet (a C creator that
// has not finished) is waited for up to a second: Open succeeds when the
// magic comes within it, and fails with EAGAIN when it does not.
func TestUnfinishedCreator(t *testing.T) {
	name, _ := create(t, os.O_WRONLY, ring.Config{Slots: 4, Size: 16})
	seg := poke(t, name)
	require.NoError(t, seg.StoreUint64(0, 0))
	go func() {
		time.Sleep(100 * time.Millisecond)
		seg.StoreUint64(0, ring.Magic)
	}()
	r, err := ring.Open(name, os.O_RDONLY, 0, nil)
	require.NoError(t, err, "the creator finished within the wait")
	require.NoError(t, r.Close())
	require.NoError(t, seg.StoreUint64(0, 0))
	t0 := time.Now()
	_, err = ring.Open(name, os.O_RDONLY, 0, nil)
	require.ErrorIs(t, err, syscall.EAGAIN)
	assert.GreaterOrEqual(t, time.Since(t0), time.Second)
}

func TestCorruptHeader(t *testing.T) {
	for _, tc := range []struct {
		off  int64
		v    uint32
		want error
	}{
		{offVersion, 1, syscall.EPROTO}, // the claim-window protocol, before claim-first
		{offVersion, 2, syscall.EPROTO}, // before SPSC
		{offVersion, 4, syscall.EPROTO},
		{offMode, 4, syscall.EUCLEAN},
		{offSlots, 3, syscall.EUCLEAN},
		{offSlots, 1 << 30, syscall.EUCLEAN},
		{offParts, 0, syscall.EUCLEAN},
	} {
		name, _ := create(t, os.O_WRONLY, ring.Config{Slots: 4, Size: 16})
		require.NoError(t, poke(t, name).StoreUint32(tc.off, tc.v))
		_, err := ring.Open(name, os.O_RDONLY, 0, nil)
		require.ErrorIs(t, err, tc.want, "%+v", tc)
		_, err = ring.Inspect(name)
		require.Error(t, err)
	}
	name, _ := create(t, os.O_WRONLY, ring.Config{Slots: 4, Size: 16})
	require.NoError(t, poke(t, name).StoreUint64(0, 0xdead))
	_, err := ring.Open(name, os.O_RDONLY, 0, nil)
	require.ErrorIs(t, err, syscall.EINVAL, "not a ring")
}
