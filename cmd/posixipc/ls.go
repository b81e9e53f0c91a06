//go:build linux && cgo

package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/posixipc/posixipc/binding/mq"
	"github.com/posixipc/posixipc/binding/ring"
	"github.com/posixipc/posixipc/binding/sem"
)

// lsEntry is one IPC object of `posixipc ls`. Its JSON keys are the column
// names of --output (docs/cli-json.md lists them).
type lsEntry struct {
	Type  string `json:"type"` // "mq", "sem", "shm", "ring", "sysv-shm", "sysv-msg", "sysv-sem"
	Name  string `json:"name"` // "/name"; "key=0x... id=N" for System V objects
	Mode  string `json:"mode"` // octal permission bits, "0600"
	Perms string `json:"perms"`
	UID   int    `json:"uid"`
	User  string `json:"user"`
	GID   int    `json:"gid"`
	Group string `json:"group"`
	Size  int64  `json:"size"` // bytes: the segment, the semaphore file, or queued in a queue

	// Message queues: their attributes (mq_getattr, where this user may
	// open the queue) and the notification (from the mqueue file system).
	MaxMsg      *int `json:"maxmsg,omitempty"`
	MsgSize     *int `json:"msgsize,omitempty"`
	Notify      *int `json:"notify,omitempty"`       // 0 SIGEV_SIGNAL, 1 SIGEV_NONE, 2 SIGEV_THREAD (only with notify_pid)
	NotifySigno *int `json:"notify_signo,omitempty"` // the signal of a SIGEV_SIGNAL registration
	NotifyPID   *int `json:"notify_pid,omitempty"`   // the registered process, 0 for none

	// System V objects (from /proc/sysvipc).
	Key      *string `json:"key,omitempty"` // "0x..."
	ID       *int    `json:"id,omitempty"`
	Nattch   *int    `json:"nattch,omitempty"`   // shm: attached processes
	Messages *int    `json:"messages,omitempty"` // queued messages (POSIX and System V queues)
	Nsems    *int    `json:"nsems,omitempty"`    // sem: semaphores in the set
	CPID     *int    `json:"cpid,omitempty"`     // shm: creator
	LPID     *int    `json:"lpid,omitempty"`     // shm: last shmat/shmdt; msg: last msgsnd
	LRPID    *int    `json:"lrpid,omitempty"`    // msg: last msgrcv
	CTime    *string `json:"ctime,omitempty"`    // last change (RFC 3339)
	OpTime   *string `json:"op_time,omitempty"`  // shm: last attach; msg: last send; sem: last semop
}

func init() {
	register(&command{
		name:    "ls",
		summary: "list the IPC objects on this machine (queues, semaphores, segments, System V objects), like lsipc",
		usage: "posixipc ls [--json] [-o COLUMNS] [--bytes] [--noheadings] [--raw]\n" +
			"  message queues are listed only where an mqueue file system is mounted (/dev/mqueue);\n" +
			"  COLUMNS: a comma-separated list of " + strings.Join(lsColumnNames(), ","),
		run: runLs,
	})
}

// mqueueMount returns where an mqueue file system is mounted, "" when none is.
func mqueueMount() string {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	best := ""
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) >= 3 && fl[2] == "mqueue" && (best == "" || fl[1] == "/dev/mqueue") {
			best = fl[1]
		}
	}
	return best
}

func statEntry(typ, name, path string) (lsEntry, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return lsEntry{}, false
	}
	return newEntry(typ, name, st.Mode&0o7777, int(st.Uid), int(st.Gid), st.Size), true
}

// newEntry fills the columns every kind has.
func newEntry(typ, name string, mode uint32, uid, gid int, size int64) lsEntry {
	return lsEntry{Type: typ, Name: name, Mode: fmt.Sprintf("%04o", mode&0o777), Perms: os.FileMode(mode & 0o777).String()[1:],
		UID: uid, User: userName(uid), GID: gid, Group: groupName(gid), Size: size}
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

func groupName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return strconv.Itoa(gid)
}

func intp(v int) *int { return &v }

func strp(v string) *string { return &v }

// unixTime formats a /proc time (seconds; 0: never) as RFC 3339.
func unixTime(s string) *string {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		return nil
	}
	return strp(time.Unix(n, 0).UTC().Format(time.RFC3339))
}

func listObjects() (entries []lsEntry, notes []string) {
	if dir := mqueueMount(); dir == "" {
		notes = append(notes, "message queues: no mqueue file system is mounted, so they cannot be listed "+
			"(mount one: mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue)")
	} else if ents, err := os.ReadDir(dir); err == nil {
		for _, d := range ents {
			e, ok := statEntry("mq", "/"+d.Name(), filepath.Join(dir, d.Name()))
			if !ok {
				continue
			}
			if q, err := mq.Open(e.Name, mq.O_RDONLY|mq.O_NONBLOCK, 0, nil); err == nil {
				if a, err := q.Attr(); err == nil {
					e.MaxMsg, e.MsgSize, e.Messages = intp(a.MaxMsg), intp(a.MsgSize), intp(a.CurMsgs)
				}
				q.Close()
			}
			if b, err := os.ReadFile(filepath.Join(dir, d.Name())); err == nil {
				// "QSIZE:5 NOTIFY:0 SIGNO:0 NOTIFY_PID:0"
				for _, f := range strings.Fields(string(b)) {
					k, v, _ := strings.Cut(f, ":")
					n, _ := strconv.Atoi(v)
					switch k {
					case "QSIZE":
						e.Size = int64(n)
					case "NOTIFY":
						e.Notify = intp(n)
					case "SIGNO":
						e.NotifySigno = intp(n)
					case "NOTIFY_PID":
						e.NotifyPID = intp(n)
					}
				}
			}
			entries = append(entries, e)
		}
	}
	if ents, err := os.ReadDir("/dev/shm"); err == nil {
		for _, d := range ents {
			if d.IsDir() {
				continue
			}
			typ, name := "shm", "/"+d.Name()
			// glibc keeps the semaphore "/X" in sem.X, exactly one sem_t
			// long; any other sem.* file is a segment a program made with
			// shm_open("/sem.X") (posixipc refuses such segment names).
			if n, ok := strings.CutPrefix(d.Name(), "sem."); ok {
				if fi, err := d.Info(); err == nil && fi.Size() == int64(sem.Size) {
					typ, name = "sem", "/"+n
				}
			} else if isRing(filepath.Join("/dev/shm", d.Name())) {
				typ = "ring" // a binding/ring segment (see ring stat)
			}
			if e, ok := statEntry(typ, name, filepath.Join("/dev/shm", d.Name())); ok {
				entries = append(entries, e)
			}
		}
	} else {
		notes = append(notes, "semaphores and segments: /dev/shm: "+err.Error())
	}
	entries = append(entries, sysvObjects("shm", "sysv-shm")...)
	entries = append(entries, sysvObjects("msg", "sysv-msg")...)
	entries = append(entries, sysvObjects("sem", "sysv-sem")...)
	sort.SliceStable(entries, func(i, j int) bool {
		if entries[i].Type != entries[j].Type {
			return entries[i].Type < entries[j].Type
		}
		return entries[i].Name < entries[j].Name
	})
	return entries, notes
}

// sysvCols names the id and size columns of each /proc/sysvipc file
// (semaphore sets have no size).
var sysvCols = map[string]struct{ id, size string }{
	"sysv-shm": {"shmid", "size"}, "sysv-msg": {"msqid", "cbytes"}, "sysv-sem": {"semid", ""},
}

// sysvObjects reads /proc/sysvipc/FILE (shm, msg or sem): one entry per
// line after the header, whose names say which column is which.
func sysvObjects(file, typ string) []lsEntry {
	f, err := os.Open("/proc/sysvipc/" + file)
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return nil
	}
	cols := strings.Fields(sc.Text())
	var out []lsEntry
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < len(cols) {
			continue
		}
		v := map[string]string{}
		for i, c := range cols {
			v[c] = fl[i]
		}
		num := func(c string) int { n, _ := strconv.Atoi(v[c]); return n }
		perms, _ := strconv.ParseUint(v["perms"], 8, 32) // printed in octal
		key, _ := strconv.ParseInt(v["key"], 10, 64)
		cc := sysvCols[typ]
		size, _ := strconv.ParseInt(v[cc.size], 10, 64)
		e := newEntry(typ, fmt.Sprintf("key=%#x id=%s", uint32(key), v[cc.id]), uint32(perms), num("uid"), num("gid"), size)
		e.Key, e.ID = strp(fmt.Sprintf("%#x", uint32(key))), intp(num(cc.id))
		e.CTime = unixTime(v["ctime"])
		switch typ {
		case "sysv-shm":
			e.Nattch, e.CPID, e.LPID = intp(num("nattch")), intp(num("cpid")), intp(num("lpid"))
			e.OpTime = unixTime(v["atime"])
		case "sysv-msg":
			e.Messages, e.LPID, e.LRPID = intp(num("qnum")), intp(num("lspid")), intp(num("lrpid"))
			e.OpTime = unixTime(v["stime"])
		case "sysv-sem":
			e.Nsems = intp(num("nsems"))
			e.OpTime = unixTime(v["otime"])
		}
		out = append(out, e)
	}
	return out
}

// lsColumn is a column of the text output; its name is the JSON key.
type lsColumn struct {
	name, head string
	get        func(e lsEntry, bytes bool) string
}

var lsColumns = []lsColumn{
	{"type", "TYPE", func(e lsEntry, _ bool) string { return e.Type }},
	{"name", "NAME", func(e lsEntry, _ bool) string { return e.Name }},
	{"mode", "MODE", func(e lsEntry, _ bool) string { return e.Mode }},
	{"perms", "PERMS", func(e lsEntry, _ bool) string { return e.Perms }},
	{"uid", "UID", func(e lsEntry, _ bool) string { return strconv.Itoa(e.UID) }},
	{"user", "OWNER", func(e lsEntry, _ bool) string { return e.User }},
	{"gid", "GID", func(e lsEntry, _ bool) string { return strconv.Itoa(e.GID) }},
	{"group", "GROUP", func(e lsEntry, _ bool) string { return e.Group }},
	{"size", "SIZE", func(e lsEntry, b bool) string { return humanSize(e.Size, b) }},
	{"notify_pid", "NOTIFY-PID", func(e lsEntry, _ bool) string { return optInt(e.NotifyPID) }},
	{"key", "KEY", func(e lsEntry, _ bool) string { return optStr(e.Key) }},
	{"id", "ID", func(e lsEntry, _ bool) string { return optInt(e.ID) }},
	{"nattch", "NATTCH", func(e lsEntry, _ bool) string { return optInt(e.Nattch) }},
	{"maxmsg", "MAXMSG", func(e lsEntry, _ bool) string { return optInt(e.MaxMsg) }},
	{"msgsize", "MSGSIZE", func(e lsEntry, _ bool) string { return optInt(e.MsgSize) }},
	{"messages", "MSGS", func(e lsEntry, _ bool) string { return optInt(e.Messages) }},
	{"nsems", "NSEMS", func(e lsEntry, _ bool) string { return optInt(e.Nsems) }},
	{"cpid", "CPID", func(e lsEntry, _ bool) string { return optInt(e.CPID) }},
	{"lpid", "LPID", func(e lsEntry, _ bool) string { return optInt(e.LPID) }},
	{"lrpid", "LRPID", func(e lsEntry, _ bool) string { return optInt(e.LRPID) }},
	{"ctime", "CTIME", func(e lsEntry, _ bool) string { return optStr(e.CTime) }},
	{"op_time", "OP-TIME", func(e lsEntry, _ bool) string { return optStr(e.OpTime) }},
}

const lsDefaultColumns = "type,name,perms,user,size,messages,nsems,notify_pid,nattch,cpid,lpid"

func lsColumnNames() []string {
	var n []string
	for _, c := range lsColumns {
		n = append(n, c.name)
	}
	return n
}

func optInt(p *int) string {
	if p == nil {
		return "-"
	}
	return strconv.Itoa(*p)
}

func optStr(p *string) string {
	if p == nil {
		return "-"
	}
	return *p
}

// humanSize prints n bytes as lsipc does (4K, 1.5M), or raw with bytes.
func humanSize(n int64, bytes bool) string {
	if bytes {
		return strconv.FormatInt(n, 10)
	}
	if n < 1024 {
		return strconv.FormatInt(n, 10) + "B"
	}
	v, units := float64(n), "KMGTPE"
	i := -1
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d%c", int64(v), units[i])
	}
	return fmt.Sprintf("%.1f%c", v, units[i])
}

func runLs(args []string) error {
	fs := flag.NewFlagSet("ls", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "one JSON document: an array of objects with every column")
	output := fs.String("output", lsDefaultColumns, "the columns of the text output, comma-separated")
	fs.StringVar(output, "o", lsDefaultColumns, "short for --output")
	bytes := fs.Bool("bytes", false, "sizes in bytes, not 4K, 1.5M")
	noHead := fs.Bool("noheadings", false, "no header line")
	raw := fs.Bool("raw", false, "columns separated by one space, not aligned")
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	var cols []int
	for _, name := range strings.Split(*output, ",") {
		i := slices.IndexFunc(lsColumns, func(c lsColumn) bool { return c.name == strings.TrimSpace(name) })
		if i < 0 {
			return usagef("--output: unknown column %q (columns: %s)", name, strings.Join(lsColumnNames(), ","))
		}
		cols = append(cols, i)
	}
	entries, notes := listObjects()
	for _, n := range notes {
		fmt.Fprintln(stderr, "note:", n)
	}
	if *asJSON {
		if entries == nil {
			entries = []lsEntry{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	var w io.Writer = stdout
	var tw *tabwriter.Writer
	sep := " "
	if !*raw {
		tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		w, sep = tw, "\t"
	}
	row := func(cells []string) { fmt.Fprintln(w, strings.Join(cells, sep)) }
	if !*noHead {
		var h []string
		for _, i := range cols {
			h = append(h, lsColumns[i].head)
		}
		row(h)
	}
	for _, e := range entries {
		var r []string
		for _, i := range cols {
			r = append(r, lsColumns[i].get(e, *bytes))
		}
		row(r)
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// isRing reports whether the file at path begins with a ring's magic.
func isRing(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [8]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return false
	}
	return binary.NativeEndian.Uint64(b[:]) == ring.Magic
}
