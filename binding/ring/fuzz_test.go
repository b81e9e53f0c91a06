//go:build linux && cgo

package ring_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/ring"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/require"
)

// FuzzConfig: any shape either makes a working ring (a record goes through
// it) or is refused with EINVAL and leaves nothing behind; never a crash
// or a clamp.
func FuzzConfig(f *testing.F) {
	f.Add(4, 64, uint32(1), uint32(0), 0)
	f.Add(2, 1, uint32(2), uint32(2), 2)
	f.Add(3, 8, uint32(1), uint32(0), 0)
	f.Add(1<<24, 1<<30, uint32(1), uint32(0), 4096)
	f.Add(-4, -1, uint32(9), uint32(7), -1)
	f.Add(8, 32, uint32(3), uint32(1), 2) // SPSC
	f.Add(8, 32, uint32(3), uint32(2), 0) // SPSC cannot overwrite
	f.Fuzz(func(t *testing.T, slots, size int, mode, full uint32, parts int) {
		if slots > 1<<12 || size > 1<<16 || parts > 256 { // stay within this machine's memory
			return
		}
		name := testutil.Name("fuzz")
		r, err := ring.Create(name, os.O_WRONLY, 0o600, ring.Config{Slots: slots, Size: size, Mode: ring.Mode(mode), Full: ring.Full(full), Participants: parts})
		if err != nil {
			require.ErrorIs(t, err, syscall.EINVAL)
			_, serr := os.Stat(shm.Dir + name)
			require.True(t, os.IsNotExist(serr), "a refused Create left %s", name)
			return
		}
		defer ring.Remove(name)
		defer r.Close()
		c, err := ring.Open(name, os.O_RDONLY, 0, nil)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, r.TrySend([]byte{1}))
		rec, err := c.TryReceive(make([]byte, size))
		require.NoError(t, err)
		require.Equal(t, 1, rec.N)
	})
}

// FuzzSegment: whatever a peer writes over a ring's header, table and
// slots, Open and every call either work or fail with an error, within
// their deadlines; never a crash, a hang or a panic.
func FuzzSegment(f *testing.F) {
	for _, b := range []uint8{0, 1, 2} { // Queue, Broadcast, SPSC
		f.Add(b, int64(8), uint64(2))         // version
		f.Add(b, int64(24), uint64(3))        // slots
		f.Add(b, int64(128), uint64(1<<50))   // tail
		f.Add(b, int64(192), uint64(1<<40))   // head
		f.Add(b, int64(512+16), uint64(99))   // an entry's cursor
		f.Add(b, int64(4608+16), uint64(1e9)) // slot 0's length
		f.Add(b, int64(4608), ^uint64(0))     // slot 0's sequence
		f.Add(b, int64(260), ^uint64(0))      // the waiter counts
		f.Add(b, int64(64), uint64(1e9))      // the producer and sub_gen words
		f.Add(b, int64(72), uint64(5))        // the consumer word
	}
	{
		f.Fuzz(func(t *testing.T, m uint8, off int64, v uint64) {
			mode := []ring.Mode{ring.Queue, ring.Broadcast, ring.SPSC}[m%3]
			name := testutil.Name("fuzz")
			p, err := ring.Create(name, os.O_WRONLY, 0o600, ring.Config{Slots: 4, Size: 64, Mode: mode})
			require.NoError(t, err)
			defer ring.Remove(name)
			defer p.Close()
			bg := context.Background()
			require.NoError(t, p.Send(bg, []byte("before")))
			seg, err := shm.Open(name)
			require.NoError(t, err)
			defer seg.Close()
			if off < 0 || off > int64(seg.Size())-8 || (off < 8 && v == 0) {
				return // (no magic: Open waits a second for a creator; TestUnfinishedCreator)
			}
			var b [8]byte
			binary.NativeEndian.PutUint64(b[:], v)
			_, err = seg.WriteAt(b[:], off&^7)
			require.NoError(t, err)
			c, err := ring.Open(name, os.O_RDONLY, 0, nil)
			if err != nil {
				return
			}
			defer c.Close()
			buf := make([]byte, 64)
			for i := 0; i < 2; i++ {
				ctx, cancel := context.WithTimeout(bg, 5*time.Millisecond)
				t0 := time.Now()
				_, rerr := c.Receive(ctx, buf)
				serr := p.Send(ctx, []byte("after"))
				_, berr := p.SendBatch(ctx, [][]byte{[]byte("b1"), []byte("b2")})
				_, cerr := c.ReceiveBatch(ctx, [][]byte{buf, make([]byte, 64)}, make([]ring.Record, 2))
				cancel()
				require.Less(t, time.Since(t0), 5*time.Second, "a call outlived its deadline")
				for _, err := range []error{rerr, serr, berr, cerr} {
					var pe interface{ Unwrap() error }
					if err != nil && !errors.As(err, &pe) {
						t.Fatalf("an error that is not a *fs.PathError: %v", err)
					}
				}
			}
			c.Stat()
			ring.Inspect(name)
		})
	}
}

// FuzzBatchLengths: CommitBatch with any lengths either publishes every
// loan of the batch with its length, in order, or refuses with EINVAL and
// publishes nothing (the loans stay out and commit later).
func FuzzBatchLengths(f *testing.F) {
	f.Add([]byte{1, 16, 0}, uint8(0))
	f.Add([]byte{17}, uint8(1))
	f.Add([]byte{0xff, 3}, uint8(1))
	f.Add([]byte{5, 5, 5, 5, 5, 5, 5, 5}, uint8(2))
	f.Fuzz(func(t *testing.T, raw []byte, mode uint8) {
		if len(raw) == 0 || len(raw) > 8 {
			return
		}
		m := []ring.Mode{ring.Queue, ring.SPSC, ring.Broadcast}[mode%3]
		name, p := create(t, os.O_WRONLY, ring.Config{Slots: 8, Size: 16, Mode: m})
		c := open(t, name, os.O_RDONLY, nil)
		ctx := context.Background()
		loans := make([]ring.Loan, len(raw))
		n, err := p.LoanBatch(ctx, loans)
		require.NoError(t, err)
		lens := make([]int, n)
		bad := false
		for i := range lens {
			lens[i] = int(int8(raw[i])) // -128 to 127 against 16-byte slots
			bad = bad || lens[i] < 0 || lens[i] > 16
		}
		done, err := p.CommitBatch(loans[:n], lens)
		buf := make([]byte, 16)
		if bad {
			require.ErrorIs(t, err, syscall.EINVAL)
			require.Zero(t, done)
			_, err = c.TryReceive(buf)
			require.ErrorIs(t, err, syscall.EAGAIN, "a refused batch published something")
			for i := range lens {
				lens[i] = 1
			}
			done, err = p.CommitBatch(loans[:n], lens)
		}
		require.NoError(t, err)
		require.Equal(t, n, done)
		for i := range lens {
			rec, err := c.TryReceive(buf)
			require.NoError(t, err)
			require.Equal(t, lens[i], rec.N)
			require.Equal(t, uint64(i), rec.Seq)
		}
	})
}
