//go:build linux && cgo

package fifo

// MaxProbes is maxProbes, for the thread-bound test.
const MaxProbes = maxProbes

// SetPollOnly makes the waiters made from now on poll (v true) instead of
// blocking in read(2) or write(2) on their own open file description; the
// returned function restores the default.
func SetPollOnly(v bool) (restore func()) {
	old := pollOnly.Swap(v)
	return func() { pollOnly.Store(old) }
}

// WaitModes reports the mode of each waiter f has made: "block" or "poll".
func WaitModes(f *File) []string {
	var m []string
	f.k.Each(func(w *waiter) {
		if w.block.Load() {
			m = append(m, "block")
		} else {
			m = append(m, "poll")
		}
	})
	return m
}
