//go:build linux && cgo

package main

// The System V commands: msg (message queues) and semset (semaphore sets).
// Objects are named by id (decimal msqid/semid, as ipcs prints them);
// create takes a key (decimal or 0x-hex), a path and project id (ftok) or
// --private, and prints the new id alone.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/binding/sysvmsg"
	"github.com/posixipc/posixipc/binding/sysvsem"
)

const msgUsage = `posixipc msg create (--key K | --path P --proj N | --private) [--perm 0600] [--excl]   # prints the msqid
posixipc msg send ID --type N TEXT [--nonblock] [--timeout DUR]
posixipc msg recv ID [--type N] [--except] [--noerror] [--size B] [-n COUNT] [--nonblock] [--timeout DUR] [--json]
         # --type: 0 the first message, N>0 the first of type N (--except: not of type N), N<0 the lowest type <= |N|
         # exit 75: timed out or nothing there (--nonblock); a message longer than --size (8192) without --noerror: exit 1
posixipc msg stat ID [--json]
posixipc msg rm   ID...`

const semsetUsage = `posixipc semset create (--key K | --path P --proj N | --private) --nsems N [--values V1,V2,...] [--perm 0600] [--excl]   # prints the semid
posixipc semset op  ID NUM:DELTA... [--undo] [--nonblock] [--timeout DUR] [--hold DUR]
         # e.g. "0:-1 1:+1" atomically; DELTA 0 waits for zero; exit 75: timed out or would block
         # --hold keeps the process (and so its --undo adjustments) alive for DUR after the op
posixipc semset get ID [--json]        # the values, separated by spaces
posixipc semset set ID NUM=VALUE...
posixipc semset rm  ID...`

func init() {
	register(&command{
		name:    "msg",
		summary: "System V message queues: create, send, recv, stat, rm",
		usage:   msgUsage,
		run: func(args []string) error {
			return subcommands("msg", map[string]func([]string) error{
				"create": msgCreate, "send": msgSend, "recv": msgRecv, "stat": msgStat, "rm": msgRm,
			}, args)
		},
	})
	register(&command{
		name:    "semset",
		summary: "System V semaphore sets: create, op, get, set, rm",
		usage:   semsetUsage,
		run: func(args []string) error {
			return subcommands("semset", map[string]func([]string) error{
				"create": semsetCreate, "op": semsetOp, "get": semsetGet, "set": semsetSet, "rm": semsetRm,
			}, args)
		},
	})
}

// keyFlags are the flags that choose the key of a new object.
type keyFlags struct {
	key     *string
	path    *string
	proj    *int
	private *bool
	perm    *string
	excl    *bool
}

func addKeyFlags(fs *flag.FlagSet) keyFlags {
	k := keyFlags{
		key:     fs.String("key", "", "the key: decimal or 0x-hex"),
		path:    fs.String("path", "", "the key of this path (ftok), with --proj"),
		proj:    fs.Int("proj", 0, "the ftok project id (1 to 255), with --path"),
		private: fs.Bool("private", false, "a new private object (IPC_PRIVATE)"),
		perm:    fs.String("perm", "0600", "permission bits, octal"),
		excl:    fs.Bool("excl", false, "fail if the object exists"),
	}
	fs.Var(stringAlias{k.perm}, "mode", "the same as --perm")
	return k
}

// stringAlias is a second name of a string flag.
type stringAlias struct{ p *string }

func (a stringAlias) String() string {
	if a.p == nil {
		return ""
	}
	return *a.p
}
func (a stringAlias) Set(s string) error { *a.p = s; return nil }

// parse returns the key, the flag of Open and the permission.
func (k keyFlags) parse(fs *flag.FlagSet) (int, int, os.FileMode, error) {
	n := 0
	for _, f := range []string{"key", "path", "private"} {
		if given(fs, f) {
			n++
		}
	}
	if n != 1 {
		return 0, 0, 0, usagef("give one of --key, --path (with --proj) or --private")
	}
	perm, err := parseMode(*k.perm)
	if err != nil {
		return 0, 0, 0, err
	}
	var key int
	switch {
	case *k.private:
		key = sysvmsg.Private
	case given(fs, "key"):
		v, err := strconv.ParseInt(*k.key, 0, 64)
		if err != nil || v < -1<<31 || v > 1<<32-1 {
			return 0, 0, 0, usagef("--key %q: want a 32-bit number, decimal or 0x-hex", *k.key)
		}
		if key = int(int32(uint32(v))); key == 0 {
			return 0, 0, 0, usagef("--key 0 is IPC_PRIVATE: say --private")
		}
	default:
		if !given(fs, "proj") || *k.proj < 1 || *k.proj > 255 {
			return 0, 0, 0, usagef("--path needs --proj N, 1 to 255")
		}
		if key, err = shm.Ftok(*k.path, *k.proj); err != nil {
			return 0, 0, 0, err
		}
	}
	flag := os.O_CREATE
	if *k.excl || *k.private {
		flag |= os.O_EXCL
	}
	return key, flag, perm, nil
}

// parseID reads a decimal msqid or semid.
func parseID(s string) (int, error) {
	id, err := strconv.Atoi(s)
	if err != nil || id < 0 {
		return 0, usagef("id %q: want a decimal id, as ipcs prints it", s)
	}
	return id, nil
}

// waitCtx is the context of a blocking call: --timeout, and SIGINT/SIGTERM
// cancel it (the command then exits 128+N).
func waitCtx(timeout time.Duration) (context.Context, func() os.Signal, context.CancelFunc) {
	ctx, cancel := timeoutCtx(timeout)
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	var got os.Signal
	done := make(chan struct{})
	go func() {
		select {
		case got = <-sigc:
			cancel()
		case <-done:
		}
	}()
	return ctx, func() os.Signal { <-done; return got }, func() {
		signal.Stop(sigc)
		select {
		case <-done:
		default:
			close(done)
		}
		cancel()
	}
}

// interrupted turns err into a 128+N exit when a signal cancelled the call.
func interrupted(err error, what string, sig func() os.Signal, stop context.CancelFunc) error {
	stop()
	if err != nil && errors.Is(err, context.Canceled) {
		if s := sig(); s != nil {
			return signalExit(s, what)
		}
	}
	return err
}

func msgCreate(args []string) error {
	fs := flag.NewFlagSet("msg create", flag.ContinueOnError)
	kf := addKeyFlags(fs)
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	key, flag, perm, err := kf.parse(fs)
	if err != nil {
		return err
	}
	q, err := sysvmsg.Open(key, flag, perm)
	if err != nil {
		return err
	}
	defer q.Close()
	fmt.Fprintln(stdout, q.ID())
	return nil
}

func openMsg(s string) (*sysvmsg.Queue, error) {
	id, err := parseID(s)
	if err != nil {
		return nil, err
	}
	return sysvmsg.OpenID(id)
}

func msgSend(args []string) error {
	fs := flag.NewFlagSet("msg send", flag.ContinueOnError)
	typ := fs.Int64("type", 0, "the message type, > 0 (required)")
	tflag := timeoutFlag(fs)
	nonblock := fs.Bool("nonblock", false, "fail at once when the queue is full (exit 75); as --timeout 0")
	pos, err := parseFlags(fs, args, 2, 2)
	if err != nil {
		return err
	}
	if *typ <= 0 {
		return usagef("--type %d: want a message type > 0", *typ)
	}
	timeout, err := timeoutOf(fs, tflag)
	if err != nil {
		return err
	}
	q, err := openMsg(pos[0])
	if err != nil {
		return err
	}
	defer q.Close()
	if *nonblock || timeout == 0 {
		return q.TrySend(*typ, []byte(pos[1]))
	}
	ctx, sig, stop := waitCtx(timeout)
	err = q.Send(ctx, *typ, []byte(pos[1]))
	return interrupted(err, "msg send", sig, stop)
}

type msgJSON struct {
	Type   int64   `json:"type"`
	Size   int     `json:"size"`
	Text   *string `json:"text,omitempty"`
	Base64 *string `json:"base64,omitempty"`
}

func msgRecv(args []string) error {
	fs := flag.NewFlagSet("msg recv", flag.ContinueOnError)
	typ := fs.Int64("type", 0, "selector: 0 the first, N>0 the first of type N, N<0 the lowest type <= |N|")
	except := fs.Bool("except", false, "with --type N>0: the first message not of type N")
	noerror := fs.Bool("noerror", false, "truncate a message longer than --size")
	size := fs.String("size", "8192", "the largest text to take (units: K, M)")
	count := fs.Int("n", 1, "receive COUNT messages")
	tflag := timeoutFlag(fs)
	nonblock := fs.Bool("nonblock", false, "fail at once when no message is there (exit 75); as --timeout 0")
	asJSON := fs.Bool("json", false, `one {"type":N,"size":S,"text":"..."} object per line`)
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *except && *typ <= 0 {
		return usagef("--except needs --type N with N > 0")
	}
	sz, err := parseSize(*size)
	if err != nil || sz < 0 || sz > 1<<30 {
		return usagef("--size %q: want a size such as 8192 or 64K", *size)
	}
	if *count < 1 {
		return usagef("-n %d: want at least 1", *count)
	}
	timeout, err := timeoutOf(fs, tflag)
	if err != nil {
		return err
	}
	flags := 0
	if *except {
		flags |= sysvmsg.Except
	}
	if *noerror {
		flags |= sysvmsg.NoError
	}
	q, err := openMsg(pos[0])
	if err != nil {
		return err
	}
	defer q.Close()
	ctx, sig, stop := waitCtx(timeout)
	defer stop()
	buf := make([]byte, sz)
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	for i := 0; i < *count; i++ {
		var n int
		var got int64
		if *nonblock || timeout == 0 {
			n, got, err = q.TryReceive(buf, *typ, flags)
		} else {
			n, got, err = q.Receive(ctx, buf, *typ, flags)
		}
		if err != nil {
			return interrupted(err, "msg recv", sig, stop)
		}
		if err := printMessage(enc, *asJSON, buf[:n], func(text, b64 *string) any {
			return msgJSON{Type: got, Size: n, Text: text, Base64: b64}
		}); err != nil {
			return err
		}
	}
	return nil
}

func msgStat(args []string) error {
	fs := flag.NewFlagSet("msg stat", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "one JSON object")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	q, err := openMsg(pos[0])
	if err != nil {
		return err
	}
	defer q.Close()
	st, err := q.Stat()
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(struct {
			ID     int    `json:"id"`
			Key    string `json:"key"`
			Mode   string `json:"mode"`
			UID    int    `json:"uid"`
			GID    int    `json:"gid"`
			CUID   int    `json:"cuid"`
			CGID   int    `json:"cgid"`
			QNum   int    `json:"qnum"`
			QBytes int    `json:"qbytes"`
			CBytes int    `json:"cbytes"`
			LSPid  int    `json:"lspid"`
			LRPid  int    `json:"lrpid"`
			STime  int64  `json:"stime"`
			RTime  int64  `json:"rtime"`
			CTime  int64  `json:"ctime"`
		}{st.ID, keyText(st.Key), fmt.Sprintf("%04o", st.Mode), st.UID, st.GID, st.CUID, st.CGID,
			st.QNum, st.QBytes, st.CBytes, st.LSPid, st.LRPid, unixOr0(st.STime), unixOr0(st.RTime), unixOr0(st.CTime)})
	}
	fmt.Fprintf(stdout, "id %d key %s mode %04o uid %d gid %d qnum %d qbytes %d cbytes %d lspid %d lrpid %d\n",
		st.ID, keyText(st.Key), st.Mode, st.UID, st.GID, st.QNum, st.QBytes, st.CBytes, st.LSPid, st.LRPid)
	return nil
}

func keyText(k int) string { return fmt.Sprintf("%#08x", uint32(k)) }

func unixOr0(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// rmIDs removes each id with rm, going on after a failure.
func rmIDs(args []string, rm func(id int) error) error {
	fs := flag.NewFlagSet("rm", flag.ContinueOnError)
	pos, err := parseFlags(fs, args, 1, -1)
	if err != nil {
		return err
	}
	var first error
	for _, s := range pos {
		id, err := parseID(s)
		if err == nil {
			err = rm(id)
		}
		if err != nil {
			fmt.Fprintf(stderr, "posixipc rm: %s\n", systemWording(err))
			if first == nil {
				first = err
			}
		}
	}
	if first != nil {
		return &exitError{code: exitErr}
	}
	return nil
}

func msgRm(args []string) error {
	return rmIDs(args, func(id int) error {
		q, err := sysvmsg.OpenID(id)
		if err != nil {
			return err
		}
		defer q.Close()
		return q.Remove()
	})
}

func semsetCreate(args []string) error {
	fs := flag.NewFlagSet("semset create", flag.ContinueOnError)
	kf := addKeyFlags(fs)
	nsems := fs.Int("nsems", 0, "semaphores in the set (required)")
	vals := fs.String("values", "", "initial values V1,V2,... (default: all 0)")
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	key, flag, perm, err := kf.parse(fs)
	if err != nil {
		return err
	}
	if *nsems < 1 {
		return usagef("--nsems %d: want at least 1", *nsems)
	}
	values := make([]int, *nsems)
	if *vals != "" {
		f := strings.Split(*vals, ",")
		if len(f) != *nsems {
			return usagef("--values has %d values for --nsems %d", len(f), *nsems)
		}
		for i, s := range f {
			v, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || v < 0 || v > sysvsem.ValueMax {
				return usagef("--values: %q: want 0 to %d", s, sysvsem.ValueMax)
			}
			values[i] = v
		}
	}
	s, err := sysvsem.Open(key, flag, perm, values)
	if err != nil {
		return err
	}
	defer s.Close()
	if s.Len() != *nsems {
		warnf("semset create", "semid %d exists with %d semaphores, not %d (an existing set is kept as it is; --excl fails instead)", s.ID(), s.Len(), *nsems)
	}
	fmt.Fprintln(stdout, s.ID())
	return nil
}

func openSet(s string) (*sysvsem.Set, error) {
	id, err := parseID(s)
	if err != nil {
		return nil, err
	}
	return sysvsem.OpenID(id)
}

// parseOp reads NUM:DELTA ("0:-1", "1:+2", "2:0").
func parseOp(s string, flags int) (sysvsem.Op, error) {
	a, b, ok := strings.Cut(s, ":")
	num, err1 := strconv.Atoi(a)
	delta, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || num < 0 {
		return sysvsem.Op{}, usagef("op %q: want NUM:DELTA, such as 0:-1 or 1:+1", s)
	}
	return sysvsem.Op{Num: num, Delta: delta, Flags: flags}, nil
}

func semsetOp(args []string) error {
	fs := flag.NewFlagSet("semset op", flag.ContinueOnError)
	undo := fs.Bool("undo", false, "the kernel reverts the ops when this process exits (SEM_UNDO)")
	nonblock := fs.Bool("nonblock", false, "fail at once when the ops would block (exit 75); as --timeout 0")
	tflag := timeoutFlag(fs)
	hold := fs.Duration("hold", 0, "stay alive DUR after the op (with --undo: hold the units that long)")
	pos, err := parseFlags(fs, args, 2, -1)
	if err != nil {
		return err
	}
	timeout, err := timeoutOf(fs, tflag)
	if err != nil {
		return err
	}
	if *hold < 0 {
		return usagef("--hold %v: must not be negative", *hold)
	}
	flags := 0
	if *undo {
		flags |= sysvsem.Undo
	}
	if *nonblock || timeout == 0 {
		flags |= sysvsem.NoWait
	}
	ops := make([]sysvsem.Op, 0, len(pos)-1)
	for _, a := range pos[1:] {
		o, err := parseOp(a, flags)
		if err != nil {
			return err
		}
		ops = append(ops, o)
	}
	s, err := openSet(pos[0])
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, sig, stop := waitCtx(timeout)
	if err := interrupted(s.Do(ctx, ops...), "semset op", sig, stop); err != nil {
		return err
	}
	if *hold > 0 {
		fmt.Fprintln(stderr, "ok: holding for", *hold)
		time.Sleep(*hold)
	}
	return nil
}

func semsetGet(args []string) error {
	fs := flag.NewFlagSet("semset get", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, `{"values":[..],"pids":[..],"ncnt":[..],"zcnt":[..]}`)
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	s, err := openSet(pos[0])
	if err != nil {
		return err
	}
	defer s.Close()
	v, err := s.Values()
	if err != nil {
		return err
	}
	if !*asJSON {
		fmt.Fprintln(stdout, strings.Trim(fmt.Sprint(v), "[]"))
		return nil
	}
	out := struct {
		ID     int   `json:"id"`
		Values []int `json:"values"`
		Pids   []int `json:"pids"`
		NCnt   []int `json:"ncnt"`
		ZCnt   []int `json:"zcnt"`
	}{ID: s.ID(), Values: v}
	for i := range v {
		p, err1 := s.Pid(i)
		n, err2 := s.WaitingCount(i)
		z, err3 := s.ZeroWaitingCount(i)
		if err := errors.Join(err1, err2, err3); err != nil {
			return err
		}
		out.Pids, out.NCnt, out.ZCnt = append(out.Pids, p), append(out.NCnt, n), append(out.ZCnt, z)
	}
	return json.NewEncoder(stdout).Encode(out)
}

func semsetSet(args []string) error {
	fs := flag.NewFlagSet("semset set", flag.ContinueOnError)
	pos, err := parseFlags(fs, args, 2, -1)
	if err != nil {
		return err
	}
	type nv struct{ num, v int }
	var sets []nv
	for _, a := range pos[1:] {
		n, v, ok := strings.Cut(a, "=")
		num, err1 := strconv.Atoi(n)
		val, err2 := strconv.Atoi(v)
		if !ok || err1 != nil || err2 != nil {
			return usagef("%q: want NUM=VALUE, such as 0=3", a)
		}
		sets = append(sets, nv{num, val})
	}
	s, err := openSet(pos[0])
	if err != nil {
		return err
	}
	defer s.Close()
	for _, x := range sets {
		if err := s.SetValue(x.num, x.v); err != nil {
			return err
		}
	}
	return nil
}

func semsetRm(args []string) error {
	return rmIDs(args, func(id int) error {
		s, err := sysvsem.OpenID(id)
		if err != nil {
			return err
		}
		defer s.Close()
		return s.Remove()
	})
}
