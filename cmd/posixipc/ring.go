//go:build linux && cgo

package main

// The ring commands (binding/ring): a ring is a POSIX shared memory
// object; each command joins it for its call and leaves (records stay in
// the segment between commands).

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/posixipc/posixipc/binding/ring"
)

const ringUsage = `posixipc ring create NAME --slots N --size B [--mode queue|spsc|broadcast] [--full block|fail|overwrite] [--tag T] [--participants N] [--perm 0600]
posixipc ring send NAME [--nonblock] [--timeout DUR] [--tag T] TEXT   # exit 75: full (--nonblock) or timed out; exit 1: TEXT larger than a slot
posixipc ring recv NAME [-n COUNT] [--timeout DUR] [--tag T] [--json]  # one record per line; --json: {"seq":..,"size":..,"text":".."}; exit 75 on timeout
         # a queue's records wait in the segment for the next recv; a broadcast subscriber sees those sent after it joined
posixipc ring stat NAME [--json]      # slots, size, mode, queued, and each participant with pid and alive
posixipc ring rm   NAME...`

func init() {
	register(&command{
		name:    "ring",
		summary: "shared-memory rings between Go and C: create, send, recv, stat, rm",
		usage:   ringUsage,
		run: func(args []string) error {
			return subcommands("ring", map[string]func([]string) error{
				"create": ringCreate, "send": ringSend, "recv": ringRecv, "stat": ringStat, "rm": ringRm,
			}, args)
		},
	})
}

func tagFlag(fs *flag.FlagSet) *uint64 {
	return fs.Uint64("tag", 0, "the ring's type tag (decimal or 0x-hex); must match the ring's")
}

func ringCreate(args []string) error {
	fs := flag.NewFlagSet("ring create", flag.ContinueOnError)
	slots := fs.Int("slots", 0, "slot count, a power of two (required)")
	size := fs.String("size", "", "payload bytes per slot (units: K, M; required)")
	mode := fs.String("mode", "queue", "queue (each record consumed once), spsc (a queue of one producer and one consumer: the fast path) or broadcast (every subscriber sees every record)")
	full := fs.String("full", "block", "when full: block, fail, or overwrite (broadcast only)")
	tag := tagFlag(fs)
	parts := fs.Int("participants", 0, fmt.Sprintf("participant table size (default %d)", ring.DefaultParticipants))
	perm := fs.String("perm", "0600", "permission bits, octal")
	fs.Var(stringAlias{perm}, "mode-bits", "the same as --perm")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if !given(fs, "slots") || !given(fs, "size") {
		return usagef("ring create needs --slots N and --size B")
	}
	sz, err := parseSize(*size)
	if err != nil || sz < 1 || sz > ring.MaxSize {
		return usagef("--size %q: want 1 to %d bytes, such as 64 or 4K", *size, ring.MaxSize)
	}
	cfg := ring.Config{Slots: *slots, Size: int(sz), Tag: *tag, Participants: *parts}
	switch *mode {
	case "queue":
		cfg.Mode = ring.Queue
	case "broadcast":
		cfg.Mode = ring.Broadcast
	case "spsc":
		cfg.Mode = ring.SPSC
	default:
		return usagef("--mode %q: want queue, spsc or broadcast", *mode)
	}
	switch *full {
	case "block":
		cfg.Full = ring.Block
	case "fail":
		cfg.Full = ring.Fail
	case "overwrite":
		cfg.Full = ring.Overwrite
	default:
		return usagef("--full %q: want block, fail or overwrite", *full)
	}
	pm, err := parseMode(*perm)
	if err != nil {
		return err
	}
	r, err := ring.Create(canon(pos[0]), os.O_WRONLY, pm, cfg)
	if err != nil {
		return err
	}
	return r.Close()
}

func ringSend(args []string) error {
	fs := flag.NewFlagSet("ring send", flag.ContinueOnError)
	nonblock := fs.Bool("nonblock", false, "fail at once when the ring is full (exit 75); as --timeout 0")
	tflag := timeoutFlag(fs)
	tag := tagFlag(fs)
	pos, err := parseFlags(fs, args, 2, 2)
	if err != nil {
		return err
	}
	timeout, err := timeoutOf(fs, tflag)
	if err != nil {
		return err
	}
	r, err := ring.Open(canon(pos[0]), os.O_WRONLY, 0, &ring.Config{Tag: *tag})
	if err != nil {
		return err
	}
	defer r.Close()
	if *nonblock || timeout == 0 {
		return r.TrySend([]byte(pos[1]))
	}
	ctx, sig, stop := waitCtx(timeout)
	err = r.Send(ctx, []byte(pos[1]))
	return interrupted(err, "ring send", sig, stop)
}

type ringRecordJSON struct {
	Seq    uint64  `json:"seq"`
	Size   int     `json:"size"`
	Lost   uint64  `json:"lost,omitempty"`
	Text   *string `json:"text,omitempty"`
	Base64 *string `json:"base64,omitempty"`
}

func ringRecv(args []string) error {
	fs := flag.NewFlagSet("ring recv", flag.ContinueOnError)
	count := fs.Int("n", 1, "receive COUNT records")
	tflag := timeoutFlag(fs)
	tag := tagFlag(fs)
	asJSON := fs.Bool("json", false, `one {"seq":N,"size":S,"text":"..."} object per line`)
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *count < 1 {
		return usagef("-n %d: want at least 1", *count)
	}
	timeout, err := timeoutOf(fs, tflag)
	if err != nil {
		return err
	}
	r, err := ring.Open(canon(pos[0]), os.O_RDONLY, 0, &ring.Config{Tag: *tag})
	if err != nil {
		return err
	}
	defer r.Close()
	ctx, sig, stop := waitCtx(timeout)
	defer stop()
	buf := make([]byte, r.SlotSize())
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	for i := 0; i < *count; i++ {
		var rec ring.Record
		if timeout == 0 {
			rec, err = r.TryReceive(buf)
		} else {
			rec, err = r.Receive(ctx, buf)
		}
		if err != nil {
			return interrupted(err, "ring recv", sig, stop)
		}
		if err := printMessage(enc, *asJSON, buf[:rec.N], func(text, b64 *string) any {
			return ringRecordJSON{Seq: rec.Seq, Size: rec.N, Lost: rec.Lost, Text: text, Base64: b64}
		}); err != nil {
			return err
		}
	}
	return nil
}

type ringStatJSON struct {
	Name         string         `json:"name"`
	Slots        int            `json:"slots"`
	Size         int            `json:"size"`
	Mode         string         `json:"mode"`
	Full         string         `json:"full"`
	Tag          uint64         `json:"tag"`
	Tail         uint64         `json:"tail"`
	Head         uint64         `json:"head"`
	Queued       uint64         `json:"queued"`
	Reclaimed    uint64         `json:"reclaimed"`
	Capacity     int            `json:"participant_capacity"`
	Participants []ringPartJSON `json:"participants"`
}

type ringPartJSON struct {
	Entry  int    `json:"entry"`
	Pid    int    `json:"pid"`
	Role   string `json:"role"`
	Alive  bool   `json:"alive"`
	Cursor uint64 `json:"cursor,omitempty"`
	Lost   uint64 `json:"lost,omitempty"`
	Count  uint64 `json:"count"`
}

func role(p ring.Participant) string {
	var r []string
	if p.Producer {
		r = append(r, "producer")
	}
	if p.Consumer {
		r = append(r, "consumer")
	}
	return strings.Join(r, "+")
}

func ringStat(args []string) error {
	fs := flag.NewFlagSet("ring stat", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "one JSON object")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	name := canon(pos[0])
	st, err := ring.Inspect(name)
	if err != nil {
		return err
	}
	c := st.Config
	js := ringStatJSON{Name: name, Slots: c.Slots, Size: c.Size, Mode: c.Mode.String(), Full: c.Full.String(), Tag: c.Tag,
		Tail: st.Tail, Head: st.Head, Queued: st.Queued, Reclaimed: st.Reclaimed, Capacity: c.Participants, Participants: []ringPartJSON{}}
	for _, p := range st.Participants {
		js.Participants = append(js.Participants, ringPartJSON{Entry: p.Entry, Pid: p.Pid, Role: role(p), Alive: p.Alive, Cursor: p.Cursor, Lost: p.Lost, Count: p.Count})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(js)
	}
	fmt.Fprintf(stdout, "%s: %s ring, %d slots of %d bytes, full: %s, tag %#x\n", name, js.Mode, js.Slots, js.Size, js.Full, js.Tag)
	fmt.Fprintf(stdout, "produced %d, queued %d, reclaimed %d\n", js.Tail, js.Queued, js.Reclaimed)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTRY\tPID\tROLE\tALIVE\tCOUNT\tCURSOR\tLOST")
	for _, p := range js.Participants {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%v\t%d\t%d\t%d\n", p.Entry, p.Pid, p.Role, p.Alive, p.Count, p.Cursor, p.Lost)
	}
	return tw.Flush()
}

func ringRm(args []string) error {
	fs := flag.NewFlagSet("ring rm", flag.ContinueOnError)
	pos, err := parseFlags(fs, args, 1, -1)
	if err != nil {
		return err
	}
	for _, n := range pos {
		if err := ring.Remove(canon(n)); err != nil {
			return err
		}
	}
	return nil
}
