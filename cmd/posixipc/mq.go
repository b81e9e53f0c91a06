//go:build linux && cgo

package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/posixipc/posixipc/binding/mq"
)

const mqUsage = `posixipc mq create NAME [--maxmsg N] [--msgsize N] [--mode 0600] [--excl]
posixipc mq send   NAME [--prio P] [--timeout DUR] [--nonblock] [--] [MESSAGE]   # no MESSAGE: stdin is one message
                   # a MESSAGE that begins with '-' goes after --
posixipc mq recv   NAME [--timeout DUR] [--nonblock] [-n COUNT] [--json]    # default: message bytes + "\n"
posixipc mq attr   NAME [--json]
posixipc mq notify NAME [--signal] [--timeout DUR]
posixipc mq rm     NAME... | --all --prefix P`

func init() {
	register(&command{
		name:    "mq",
		summary: "POSIX message queues: create, send, recv, attr, notify, rm",
		usage:   mqUsage,
		run: func(args []string) error {
			return subcommands("mq", map[string]func([]string) error{
				"create": mqCreate, "send": mqSend, "recv": mqRecv,
				"attr": mqAttr, "notify": mqNotify, "rm": mqRm,
			}, args)
		},
	})
}

// parseMode parses an octal permission string such as "0600".
func parseMode(s string) (os.FileMode, error) {
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o777 {
		return 0, usagef("--mode %q: want octal permission bits such as 0600", s)
	}
	return os.FileMode(m), nil
}

// timeoutText is the one meaning of --timeout in every command.
const timeoutText = "give up after DUR (exit 75); 0: try once, do not wait; absent: wait for ever"

// timeoutFlag adds --timeout to fs. After parsing, timeoutOf turns it into
// the wait: < 0 (absent) for ever, 0 try once, > 0 a deadline.
func timeoutFlag(fs *flag.FlagSet) *time.Duration { return fs.Duration("timeout", 0, timeoutText) }

// timeoutOf returns the --timeout of fs: -1 when it was not given, a usage
// error when it is negative.
func timeoutOf(fs *flag.FlagSet, d *time.Duration) (time.Duration, error) {
	if !given(fs, "timeout") {
		return -1, nil
	}
	if *d < 0 {
		return 0, usagef("--timeout %v: must not be negative (0: do not wait; leave it out to wait for ever)", *d)
	}
	return *d, nil
}

// timeoutCtx returns a context bounded by d (none when d < 0; already
// expired when d is 0, for the calls that then try once).
func timeoutCtx(d time.Duration) (context.Context, context.CancelFunc) {
	if d < 0 {
		return context.WithCancel(context.Background())
	}
	return context.WithTimeout(context.Background(), d)
}

func readProcInt(path string, def int) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return def
	}
	n, err := strconv.Atoi(string(b[:len(b)-1]))
	if err != nil {
		return def
	}
	return n
}

func mqCreate(args []string) error {
	fs := flag.NewFlagSet("mq create", flag.ContinueOnError)
	maxmsg := fs.Int("maxmsg", 0, "capacity in messages (default: /proc/sys/fs/mqueue/msg_default)")
	msgsize := sizeFlag(fs, "msgsize", 0, "largest message in bytes (default: /proc/sys/fs/mqueue/msgsize_default)")
	mode := fs.String("mode", "0600", "permission bits, octal")
	excl := fs.Bool("excl", false, "fail if the queue exists")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	perm, err := parseMode(*mode)
	if err != nil {
		return err
	}
	if given(fs, "maxmsg") && *maxmsg <= 0 {
		return usagef("--maxmsg %d: must be positive (leave it out for the system default)", *maxmsg)
	}
	if given(fs, "msgsize") && (*msgsize <= 0 || *msgsize > math.MaxInt32) {
		return usagef("--msgsize %d: must be positive (leave it out for the system default)", *msgsize)
	}
	var attr *mq.Attr
	if given(fs, "maxmsg") || given(fs, "msgsize") {
		attr = &mq.Attr{MaxMsg: *maxmsg, MsgSize: int(*msgsize)}
		if attr.MaxMsg == 0 {
			attr.MaxMsg = readProcInt("/proc/sys/fs/mqueue/msg_default", 10)
		}
		if attr.MsgSize == 0 {
			attr.MsgSize = readProcInt("/proc/sys/fs/mqueue/msgsize_default", 8192)
		}
	}
	flags := mq.O_RDWR | mq.O_CREAT
	if *excl {
		flags |= mq.O_EXCL
	}
	q, err := mq.Open(canon(pos[0]), flags, perm, attr)
	if err != nil {
		return err
	}
	defer q.Close()
	if a, err := q.Attr(); err == nil {
		if given(fs, "maxmsg") && a.MaxMsg != *maxmsg {
			warnf("mq create", "%s exists with maxmsg %d, not the %d asked: kept as it is (--excl fails instead)", q.Name(), a.MaxMsg, *maxmsg)
		}
		if given(fs, "msgsize") && int64(a.MsgSize) != *msgsize {
			warnf("mq create", "%s exists with msgsize %d, not the %d asked: kept as it is (--excl fails instead)", q.Name(), a.MsgSize, *msgsize)
		}
	}
	return q.Close()
}

func mqSend(args []string) error {
	fs := flag.NewFlagSet("mq send", flag.ContinueOnError)
	prio := fs.Uint("prio", 0, "priority, 0 to 32767")
	tflag := timeoutFlag(fs)
	nonblock := fs.Bool("nonblock", false, "fail at once when the queue is full (exit 75); as --timeout 0")
	pos, err := parseFlags(fs, args, 1, 2)
	if err != nil {
		return err
	}
	timeout, err := timeoutOf(fs, tflag)
	if err != nil {
		return err
	}
	*nonblock = *nonblock || timeout == 0
	var msg []byte
	if len(pos) == 2 {
		msg = []byte(pos[1])
	} else if msg, err = io.ReadAll(os.Stdin); err != nil {
		return err
	}
	q, err := mq.Open(canon(pos[0]), mq.O_WRONLY, 0, nil)
	if err != nil {
		return err
	}
	defer q.Close()
	if *nonblock {
		return q.TrySend(msg, *prio)
	}
	ctx, cancel := timeoutCtx(timeout)
	defer cancel()
	return q.Send(ctx, msg, *prio)
}

// recvJSON is one line of `mq recv --json`.
type recvJSON struct {
	Prio   uint    `json:"prio"`
	Size   int     `json:"size"`
	Text   *string `json:"text,omitempty"`
	Base64 *string `json:"base64,omitempty"`
}

func mqRecv(args []string) error {
	fs := flag.NewFlagSet("mq recv", flag.ContinueOnError)
	tflag := timeoutFlag(fs)
	nonblock := fs.Bool("nonblock", false, "fail at once when the queue is empty (exit 75); as --timeout 0")
	count := fs.Int("n", 1, "receive COUNT messages")
	asJSON := fs.Bool("json", false, `one {"prio":P,"size":N,"text":"..."} object per line`)
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	timeout, err := timeoutOf(fs, tflag)
	if err != nil {
		return err
	}
	*nonblock = *nonblock || timeout == 0
	if *count < 1 {
		return usagef("-n %d: want at least 1", *count)
	}
	q, err := mq.Open(canon(pos[0]), mq.O_RDONLY, 0, nil)
	if err != nil {
		return err
	}
	defer q.Close()
	ctx, cancel := timeoutCtx(timeout)
	defer cancel()
	buf := make([]byte, q.MsgSize())
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	for i := 0; i < *count; i++ {
		var n int
		var prio uint
		if *nonblock {
			n, prio, err = q.TryReceive(buf)
		} else {
			n, prio, err = q.Receive(ctx, buf)
		}
		if err != nil {
			return err
		}
		if err := printMessage(enc, *asJSON, buf[:n], func(text, b64 *string) any {
			return recvJSON{Prio: prio, Size: n, Text: text, Base64: b64}
		}); err != nil {
			return err
		}
	}
	return nil
}

// printMessage writes a received message: as a line of text, or with
// asJSON as the object rec makes of it, given its text (valid UTF-8) or
// its base64 form (other bytes).
func printMessage(enc *json.Encoder, asJSON bool, msg []byte, rec func(text, b64 *string) any) error {
	if !asJSON {
		stdout.Write(msg)
		_, err := io.WriteString(stdout, "\n")
		return err
	}
	var text, b64 *string
	if utf8.Valid(msg) {
		s := string(msg)
		text = &s
	} else {
		s := base64.StdEncoding.EncodeToString(msg)
		b64 = &s
	}
	return enc.Encode(rec(text, b64))
}

func mqAttr(args []string) error {
	fs := flag.NewFlagSet("mq attr", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "one JSON object")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	q, err := mq.Open(canon(pos[0]), mq.O_RDONLY, 0, nil)
	if err != nil {
		return err
	}
	defer q.Close()
	a, err := q.Attr()
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(struct {
			Name     string `json:"name"`
			MaxMsg   int    `json:"maxmsg"`
			MsgSize  int    `json:"msgsize"`
			CurMsgs  int    `json:"curmsgs"`
			Flags    int    `json:"flags"`
			Nonblock bool   `json:"nonblock"`
		}{q.Name(), a.MaxMsg, a.MsgSize, a.CurMsgs, a.Flags, a.Flags&mq.O_NONBLOCK != 0})
	}
	fmt.Fprintf(stdout, "name    %s\nmaxmsg  %d\nmsgsize %d\ncurmsgs %d\nflags   %d\n", q.Name(), a.MaxMsg, a.MsgSize, a.CurMsgs, a.Flags)
	return nil
}

func mqNotify(args []string) error {
	fs := flag.NewFlagSet("mq notify", flag.ContinueOnError)
	bySignal := fs.Bool("signal", false, "be notified by SIGUSR1 (SIGEV_SIGNAL) instead of a thread (SIGEV_THREAD)")
	tflag := timeoutFlag(fs)
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	timeout, err := timeoutOf(fs, tflag)
	if err != nil {
		return err
	}
	q, err := mq.Open(canon(pos[0]), mq.O_RDONLY, 0, nil)
	if err != nil {
		return err
	}
	defer q.Close()
	ctx, cancel := timeoutCtx(timeout)
	defer cancel()
	var how string
	var ch <-chan struct{}
	if *bySignal {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGUSR1)
		defer signal.Stop(sigs)
		if err := q.NotifySignal(syscall.SIGUSR1); err != nil {
			return err
		}
		c := make(chan struct{})
		go func() {
			select {
			case <-sigs:
				close(c)
			case <-ctx.Done():
			}
		}()
		ch, how = c, "signal SIGUSR1 (SIGEV_SIGNAL)"
	} else {
		if ch, err = q.NotifyChan(); err != nil {
			return err
		}
		how = "thread (SIGEV_THREAD)"
	}
	fmt.Fprintf(stderr, "registered for %s on %s\n", how, q.Name())
	select {
	case <-ch:
		fmt.Fprintf(stdout, "notified %s: a message arrived on the empty queue (by %s)\n", q.Name(), how)
		return nil
	case <-ctx.Done():
		q.StopNotify()
		return fmt.Errorf("mq_notify %s: %w", q.Name(), mq.ErrDeadline)
	}
}

func mqRm(args []string) error {
	return rmCommand("mq", args, func(n string) error { return mq.Unlink(canon(n)) })
}
