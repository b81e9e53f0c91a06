//go:build linux && cgo

package ring_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/ring"
	"github.com/posixipc/posixipc/internal/peer"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// records reads n "SEQ LOST TEXT" lines of a ringpeer recv.
func records(t *testing.T, p *testutil.Proc, n int) []string {
	t.Helper()
	var got []string
	for i := 0; i < n; i++ {
		f := strings.SplitN(p.Next(t), " ", 3)
		require.Len(t, f, 3)
		got = append(got, f[2])
	}
	return got
}

func TestGoToC(t *testing.T) {
	name, p := create(t, os.O_WRONLY, ring.Config{Slots: 8, Size: 64})
	c := testutil.StartC(t, "ringpeer", "recv", name, "100")
	c.Expect(t, "ready")
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		if i%2 == 0 {
			require.NoError(t, p.Send(ctx, []byte(fmt.Sprint("go", i))))
			continue
		}
		l, err := p.Loan(ctx)
		require.NoError(t, err)
		require.NoError(t, l.Commit(copy(l.Bytes(), fmt.Sprint("go", i))))
	}
	got := records(t, c, 100)
	for i, s := range got {
		assert.Equal(t, fmt.Sprint("go", i), s)
	}
	c.WaitOK(t)
}

func TestCToGo(t *testing.T) {
	name, r := create(t, os.O_RDONLY, ring.Config{Slots: 4, Size: 32})
	c := testutil.StartC(t, "ringpeer", "send", name, "1000")
	ctx := context.Background()
	for i := 0; i < 1000; i++ {
		v, err := r.Next(ctx)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint("c", i), string(v.Bytes()))
		require.Equal(t, uint64(i), v.Seq())
		require.NoError(t, v.Release())
	}
	c.Expect(t, "done")
	c.WaitOK(t)
}

// TestCCreatesGoOpens: a ring made by the C header is one Go opens.
func TestCCreatesGoOpens(t *testing.T) {
	name := testutil.Name("ring")
	defer ring.Remove(name)
	_, err := peer.Output("ringpeer", "create", name, "16", "100", "broadcast", "overwrite")
	require.NoError(t, err)
	r, err := ring.Open(name, os.O_RDONLY, 0, nil)
	require.NoError(t, err)
	defer r.Close()
	assert.Equal(t, ring.Config{Slots: 16, Size: 100, Mode: ring.Broadcast, Full: ring.Overwrite, Participants: ring.DefaultParticipants}, r.Config())
	_, err = ring.Open(name, os.O_RDONLY, 0, &ring.Config{Tag: 1})
	require.ErrorIs(t, err, ring.ErrTag)
}

// TestBroadcastCAndGoSubscribers: C and Go subscribers on one ring each
// see every record from a Go producer, then from a C producer.
func TestBroadcastCAndGoSubscribers(t *testing.T) {
	name, p := create(t, os.O_WRONLY, ring.Config{Slots: 8, Size: 32, Mode: ring.Broadcast})
	subs := []*testutil.Proc{testutil.StartC(t, "ringpeer", "recv", name, "400"), testutil.StartC(t, "ringpeer", "recv", name, "400")}
	for _, s := range subs {
		s.Expect(t, "ready")
	}
	g := open(t, name, os.O_RDONLY, nil)
	var goGot []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 32)
		for i := 0; i < 400; i++ {
			rec, err := g.Receive(context.Background(), buf)
			if !assert.NoError(t, err) {
				return
			}
			assert.Zero(t, rec.Lost)
			goGot = append(goGot, string(buf[:rec.N]))
		}
	}()
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		require.NoError(t, p.Send(ctx, []byte(fmt.Sprint("go", i))))
	}
	require.NoError(t, p.Close()) // the producer leaves; a C producer takes over
	out, err := peer.Output("ringpeer", "send", name, "200")
	require.NoError(t, err)
	require.Equal(t, "done\n", out)
	wg.Wait()
	want := make([]string, 0, 400)
	for i := 0; i < 200; i++ {
		want = append(want, fmt.Sprint("go", i))
	}
	for i := 0; i < 200; i++ {
		want = append(want, fmt.Sprint("c", i))
	}
	assert.Equal(t, want, goGot)
	for _, s := range subs {
		assert.Equal(t, want, records(t, s, 400))
		s.WaitOK(t)
	}
}

// TestCProducerGoConsumers: a C producer and four Go consumers (two
// handles, two goroutines each) on a queue: every record once.
func TestCProducerGoConsumers(t *testing.T) {
	name, _ := create(t, os.O_RDONLY, ring.Config{Slots: 16, Size: 32})
	hs := []*ring.Ring{open(t, name, os.O_RDONLY, nil), open(t, name, os.O_RDONLY, nil)}
	const n = 5000
	var mu sync.Mutex
	seen := map[string]int{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for _, h := range hs {
		for k := 0; k < 2; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 32)
				for {
					rec, err := h.Receive(ctx, buf)
					if err != nil {
						return
					}
					mu.Lock()
					seen[string(buf[:rec.N])]++
					done := len(seen) == 2*n
					mu.Unlock()
					if done {
						cancel()
					}
				}
			}()
		}
	}
	c1 := testutil.StartC(t, "ringpeer", "send", name, strconv.Itoa(n), "a")
	c2 := testutil.StartC(t, "ringpeer", "send", name, strconv.Itoa(n), "b")
	c1.Expect(t, "done")
	c2.Expect(t, "done")
	select {
	case <-ctx.Done():
	case <-time.After(30 * time.Second):
	}
	cancel()
	wg.Wait()
	require.Len(t, seen, 2*n)
	var dup []string
	for k, v := range seen {
		if v != 1 {
			dup = append(dup, k)
		}
	}
	sort.Strings(dup)
	assert.Empty(t, dup, "records consumed more than once")
}
