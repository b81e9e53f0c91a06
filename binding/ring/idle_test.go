//go:build linux && cgo

package ring_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/ring"
	"github.com/posixipc/posixipc/internal/gate"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIdleWaitersWakeWithoutPolling: with more rings waited on than the
// process has slots in C (gate.MaxInKernel), the waits without a slot
// sleep in the process's futex watch on their direction's word, not
// polling with the kit's backoff: each waits there about once, a commit
// from C or from Go (then a release, for producers waiting for room) wakes
// each, and a deadline or Close ends an idle wait too. In every mode but
// a broadcast producer's wait for room (which polls).
func TestIdleWaitersWakeWithoutPolling(t *testing.T) {
	for _, mode := range []ring.Mode{ring.Queue, ring.SPSC, ring.Broadcast} {
		t.Run(mode.String(), func(t *testing.T) {
			const extra = 8
			n := gate.MaxInKernel + extra
			names := make([]string, n)
			cs, ps := make([]*ring.Ring, n), make([]*ring.Ring, n)
			for i := range cs {
				names[i], cs[i] = create(t, os.O_RDONLY, ring.Config{Slots: 2, Size: 16, Mode: mode})
				cs[i].SetSpin(0)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			type got struct {
				i   int
				s   string
				err error
			}
			res := make(chan got, n)
			before := gate.IdleWaits()
			for i, c := range cs {
				go func() {
					buf := make([]byte, 16)
					rec, err := c.Receive(ctx, buf)
					res <- got{i, string(buf[:rec.N]), err}
				}()
			}
			testutil.IdleOnce(t, gate.IdleWaits, before, extra, "the futex watch")
			for i := range cs {
				if i%2 == 0 {
					c := testutil.StartC(t, "ringpeer", "send", names[i], "1", "c"+strconv.Itoa(i))
					c.Expect(t, "done")
					c.WaitOK(t)
				} else {
					ps[i] = open(t, names[i], os.O_WRONLY, nil)
					require.NoError(t, ps[i].Send(ctx, []byte(fmt.Sprint("g", i))))
				}
			}
			for range n {
				select {
				case g := <-res:
					require.NoError(t, g.err)
					want := fmt.Sprint("g", g.i)
					if g.i%2 == 0 {
						want = "c" + strconv.Itoa(g.i) + "0"
					}
					assert.Equal(t, want, g.s)
				case <-time.After(5 * time.Second):
					t.Fatal("a consumer did not get its record")
				}
			}

			if mode != ring.Broadcast {
				// Full rings: producers wait for room, woken by a release.
				for i := range ps {
					if ps[i] == nil {
						ps[i] = open(t, names[i], os.O_WRONLY, nil)
					}
					ps[i].SetSpin(0)
					require.NoError(t, ps[i].Send(ctx, []byte("a")))
					require.NoError(t, ps[i].Send(ctx, []byte("b")))
				}
				sent := make(chan error, n)
				before = gate.IdleWaits()
				for _, p := range ps {
					go func() { sent <- p.Send(ctx, []byte("c")) }()
				}
				testutil.IdleOnce(t, gate.IdleWaits, before, extra, "the futex watch")
				buf := make([]byte, 16)
				for _, c := range cs {
					_, err := c.Receive(ctx, buf)
					require.NoError(t, err)
				}
				for range n {
					select {
					case err := <-sent:
						require.NoError(t, err)
					case <-time.After(5 * time.Second):
						t.Fatal("a producer did not get its room")
					}
				}
				for _, c := range cs { // empty again
					for range 2 {
						_, err := c.Receive(ctx, buf)
						require.NoError(t, err)
					}
				}
			}

			// A deadline and Close end waits, the idle ones among them.
			testutil.EndWaits(t, ctx, n, func(c context.Context, i int) error {
				_, err := cs[i].Receive(c, make([]byte, 16))
				return err
			}, func(i int) { cs[i].Close() }, ring.ErrDeadline)
		})
	}
}
