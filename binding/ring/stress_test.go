//go:build linux && cgo

package ring_test

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/ring"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQueueStorm: producers and consumers, several goroutines on each of
// several handles, through a small ring: every record arrives exactly
// once.
func TestQueueStorm(t *testing.T) {
	name, _ := create(t, os.O_WRONLY, ring.Config{Slots: 8, Size: 16})
	const handles, perHandle, each = 2, 3, 3000
	var prods, cons []*ring.Ring
	for i := 0; i < handles; i++ {
		prods = append(prods, open(t, name, os.O_WRONLY, nil))
		cons = append(cons, open(t, name, os.O_RDONLY, nil))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	total := handles * perHandle * each
	var got sync.Map
	var n atomic.Int64
	var wg sync.WaitGroup
	for h := 0; h < handles; h++ {
		for g := 0; g < perHandle; g++ {
			id := h*perHandle + g
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 16)
				for i := 0; i < each; i++ {
					binary.LittleEndian.PutUint32(buf, uint32(id))
					binary.LittleEndian.PutUint32(buf[4:], uint32(i))
					if i%2 == 0 {
						if !assert.NoError(t, prods[h].Send(ctx, buf[:8])) {
							return
						}
						continue
					}
					l, err := prods[h].Loan(ctx)
					if !assert.NoError(t, err) {
						return
					}
					copy(l.Bytes(), buf[:8])
					if !assert.NoError(t, l.Commit(8)) {
						return
					}
				}
			}()
		}
	}
	cctx, ccancel := context.WithCancel(ctx)
	var cwg sync.WaitGroup
	for h := 0; h < handles; h++ {
		for g := 0; g < perHandle; g++ {
			cwg.Add(1)
			go func() {
				defer cwg.Done()
				buf := make([]byte, 16)
				for {
					var key uint64
					if g%2 == 0 {
						rec, err := cons[h].Receive(cctx, buf)
						if err != nil {
							return
						}
						require.Equal(t, 8, rec.N)
						key = binary.LittleEndian.Uint64(buf)
					} else {
						v, err := cons[h].Next(cctx)
						if err != nil {
							return
						}
						key = binary.LittleEndian.Uint64(v.Bytes())
						if !assert.NoError(t, v.Release()) {
							return
						}
					}
					if _, dup := got.LoadOrStore(key, true); dup {
						t.Errorf("record %x delivered twice", key)
					}
					if n.Add(1) == int64(total) {
						ccancel()
					}
				}
			}()
		}
	}
	wg.Wait()
	select {
	case <-cctx.Done():
	case <-time.After(30 * time.Second):
	}
	ccancel()
	cwg.Wait()
	assert.Equal(t, int64(total), n.Load(), "every record arrived")
}

// TestBroadcastOverwriteStorm: a producer overwrites as fast as it can
// while subscribers read; a record a subscriber gets (Receive, or a View
// that Release does not call overrun) is never torn, and what it lost is
// counted: seen + lost = the positions it covered.
func TestBroadcastOverwriteStorm(t *testing.T) {
	name, p := create(t, os.O_WRONLY, ring.Config{Slots: 4, Size: 256, Mode: ring.Broadcast, Full: ring.Overwrite})
	subs := []*ring.Ring{open(t, name, os.O_RDONLY, nil), open(t, name, os.O_RDONLY, nil)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := make(chan struct{})
	var pwg sync.WaitGroup
	pwg.Add(1)
	go func() {
		defer pwg.Done()
		buf := make([]byte, 256)
		for i := uint32(0); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			for j := range buf[:252] {
				buf[j] = byte(i) + byte(j)
			}
			binary.LittleEndian.PutUint32(buf[252:], crc32.ChecksumIEEE(buf[:252]))
			p.Send(ctx, buf)
		}
	}()
	var wg sync.WaitGroup
	for k, s := range subs {
		k, s := k, s
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256)
			var seen, lost, lostBefore uint64 // lostBefore: lost before the first record seen
			first, lastSeq := uint64(0), uint64(0)
			for i := 0; i < 20000; i++ {
				var seq uint64
				if k == 0 {
					rec, err := s.Receive(ctx, buf)
					if !assert.NoError(t, err) {
						return
					}
					require.Equal(t, crc32.ChecksumIEEE(buf[:252]), binary.LittleEndian.Uint32(buf[252:]), "a torn record from Receive")
					seq, lost = rec.Seq, lost+rec.Lost
				} else {
					v, err := s.Next(ctx)
					if !assert.NoError(t, err) {
						return
					}
					b := append(buf[:0], v.Bytes()...)
					seq, lost = v.Seq(), lost+v.Lost()
					if err := v.Release(); err != nil {
						require.ErrorIs(t, err, ring.ErrOverrun)
						lost++ // what it showed may be torn: not counted as seen
						lastSeq = seq
						continue
					}
					require.Equal(t, crc32.ChecksumIEEE(b[:252]), binary.LittleEndian.Uint32(b[252:]), "a torn record from a released View")
				}
				if seen == 0 {
					first, lostBefore = seq, lost
				} else {
					require.Greater(t, seq, lastSeq, "positions only grow")
				}
				lastSeq = seq
				seen++
			}
			t.Logf("subscriber %d: %d seen, %d lost over positions %d..%d", k, seen, lost, first, lastSeq)
			if k == 0 { // Receive: every position it passed is either seen or counted lost
				assert.Equal(t, lastSeq-first+1, seen+lost-lostBefore)
			}
		}()
	}
	wg.Wait()
	close(stop)
	pwg.Wait()
}
