//go:build linux && cgo

package hardening

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/mq"
	"github.com/posixipc/posixipc/binding/pthread"
	"github.com/posixipc/posixipc/binding/sem"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// soakDuration is $SOAK (a Go duration, "60s" in `make test-all`), or 3s.
func soakDuration(t testing.TB) time.Duration {
	if v := os.Getenv("SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "SOAK=%q", v)
		return d
	}
	return 3 * time.Second
}

// soakWorker is the Go side of crt/faultpeer's soak command: until d has
// passed, take a unit of the semaphore, bump the counter (and a, b) under the
// robust mutex, give the unit back, and send "ID SEQ" to the queue. It returns
// the rounds it made.
func soakWorker(segName, semName, qName, id string, d time.Duration, say func(string)) (int, error) {
	seg, err := shm.Open(segName)
	if err != nil {
		return 0, err
	}
	m, err := pthread.MutexAt(seg, pthread.LayoutMutex)
	if err != nil {
		return 0, err
	}
	s, err := sem.Open(semName, 0, 0, 0)
	if err != nil {
		return 0, err
	}
	q, err := mq.Open(qName, mq.O_WRONLY, 0, nil)
	if err != nil {
		return 0, err
	}
	ctx := context.Background()
	a, b, counter := u64(seg, offA), u64(seg, offB), u64(seg, pthread.LayoutCounter)
	say("ready")
	n := 0
	for end := time.Now().Add(d); time.Now().Before(end); n++ {
		if err := s.Wait(ctx); err != nil {
			return n, err
		}
		if err := lockRepair(ctx, seg, m); err != nil {
			return n, err
		}
		if *a != *b {
			return n, fmt.Errorf("a %d != b %d under the mutex", *a, *b)
		}
		*a++
		*counter++
		*b++
		if err := m.Unlock(); err != nil {
			return n, err
		}
		if err := s.Post(); err != nil {
			return n, err
		}
		if err := q.Send(ctx, []byte(id+" "+strconv.Itoa(n)), 0); err != nil {
			return n, err
		}
	}
	return n, errors.Join(q.Close(), s.Close(), m.Close(), seg.Close())
}

// TestSoak runs C and Go processes (two of each) hammering one semaphore, one
// robust mutex guarding a counter in shared memory, and one queue, for
// $SOAK (3s by default), while this process receives every message. The
// final counts are exact: counter = a = b = the rounds all workers made, the
// semaphore is back to its value, and each worker's messages arrived once
// each, in order.
func TestSoak(t *testing.T) {
	testutil.CheckFDs(t)
	d := soakDuration(t)
	s := newSync(t)
	const units = 2
	semName, sm := newSem(t, units)
	qName, q := newQueue(t, 10)

	ids := []string{"c1", "c2", "go1", "go2"}
	var procs []*proc
	ms := strconv.Itoa(int(d / time.Millisecond))
	for _, id := range ids {
		lang := "C"
		if strings.HasPrefix(id, "go") {
			lang = "Go"
		}
		p := start(t, lang, "soak", s.name, semName, qName, id, ms)
		procs = append(procs, p)
	}
	for _, p := range procs {
		p.Expect(t, "ready")
	}

	// Receive everything while the workers run.
	got := map[string]int{}
	var recvErr error
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	check := func(msg string) error {
		id, seq, ok := strings.Cut(msg, " ")
		n, err := strconv.Atoi(seq)
		if !ok || err != nil {
			return fmt.Errorf("bad message %q", msg)
		}
		if n != got[id] {
			return fmt.Errorf("%s: message %d, want %d (lost, duplicated or reordered)", id, n, got[id])
		}
		got[id]++
		return nil
	}
	go func() {
		defer wg.Done()
		buf := make([]byte, 64)
		for {
			n, _, err := q.Receive(ctx, buf)
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					recvErr = err
				}
				return
			}
			if err := check(string(buf[:n])); err != nil && recvErr == nil {
				recvErr = err
			}
		}
	}()
	rounds := map[string]int{}
	total := 0
	for i, p := range procs {
		l := p.NextWithin(t, d+time.Minute) // the workers run for d
		v, ok := strings.CutPrefix(l, "done ")
		require.True(t, ok, "%s said %q; stderr: %s", ids[i], l, p.Err)
		n, err := strconv.Atoi(v)
		require.NoError(t, err)
		p.WaitOK(t)
		rounds[ids[i]] = n
		total += n
	}
	cancel()
	wg.Wait()
	require.NoError(t, recvErr)
	buf := make([]byte, 64)
	for {
		n, _, err := q.TryReceive(buf)
		if err != nil {
			require.ErrorIs(t, err, syscall.EAGAIN)
			break
		}
		require.NoError(t, check(string(buf[:n])))
	}

	assert.Equal(t, rounds, got, "every message once, in order")
	assert.EqualValues(t, total, *s.u64(pthread.LayoutCounter))
	assert.EqualValues(t, total, *s.u64(offA))
	assert.EqualValues(t, total, *s.u64(offB))
	v, err := sm.Value()
	require.NoError(t, err)
	assert.Equal(t, units, v)
	for _, id := range ids {
		assert.Positive(t, rounds[id], "%s made no progress", id)
	}
	t.Logf("soak %v: %d rounds (%v), %d messages", d, total, rounds, total)
}
