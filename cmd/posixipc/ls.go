package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/posixipc/posixipc/binding/sem"
)

// lsEntry is one POSIX IPC object of `posixipc ls`.
type lsEntry struct {
	Type  string `json:"type"` // "mq", "sem", "shm" or "sysv-shm"
	Name  string `json:"name"`
	Mode  string `json:"mode"`
	UID   int    `json:"uid"`
	GID   int    `json:"gid"`
	Size  int64  `json:"size"`            // bytes (segments), bytes queued (queues)
	Extra string `json:"extra,omitempty"` // what else the kernel tells
}

func init() {
	register(&command{
		name:    "ls",
		summary: "list the POSIX IPC objects on this machine (queues, semaphores, segments)",
		usage:   "posixipc ls [--json]   # message queues are listed only where /dev/mqueue is mounted",
		run:     runLs,
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
	return lsEntry{Type: typ, Name: name, Mode: fmt.Sprintf("%04o", st.Mode&0o7777),
		UID: int(st.Uid), GID: int(st.Gid), Size: st.Size}, true
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
			if b, err := os.ReadFile(filepath.Join(dir, d.Name())); err == nil {
				e.Extra = strings.TrimSpace(string(b))
				for _, f := range strings.Fields(e.Extra) {
					if v, ok := strings.CutPrefix(f, "QSIZE:"); ok {
						e.Size, _ = strconv.ParseInt(v, 10, 64)
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
			}
			if e, ok := statEntry(typ, name, filepath.Join("/dev/shm", d.Name())); ok {
				entries = append(entries, e)
			}
		}
	} else {
		notes = append(notes, "semaphores and segments: /dev/shm: "+err.Error())
	}
	entries = append(entries, sysvSegments()...)
	sort.SliceStable(entries, func(i, j int) bool {
		if entries[i].Type != entries[j].Type {
			return entries[i].Type < entries[j].Type
		}
		return entries[i].Name < entries[j].Name
	})
	return entries, notes
}

// sysvSegments reads /proc/sysvipc/shm.
func sysvSegments() []lsEntry {
	f, err := os.Open("/proc/sysvipc/shm")
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header: key shmid perms size cpid lpid nattch uid gid ...
	var out []lsEntry
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 9 {
			continue
		}
		perms, _ := strconv.ParseUint(fl[2], 8, 32) // printed in octal
		size, _ := strconv.ParseInt(fl[3], 10, 64)
		uid, _ := strconv.Atoi(fl[7])
		gid, _ := strconv.Atoi(fl[8])
		key, _ := strconv.ParseInt(fl[0], 10, 64)
		out = append(out, lsEntry{Type: "sysv-shm", Name: fmt.Sprintf("key=%#x id=%s", uint32(key), fl[1]),
			Mode: fmt.Sprintf("%04o", perms&0o777), UID: uid, GID: gid, Size: size,
			Extra: "nattch:" + fl[6]})
	}
	return out
}

func runLs(args []string) error {
	fs := flag.NewFlagSet("ls", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "one JSON object per line")
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	entries, notes := listObjects()
	for _, n := range notes {
		fmt.Fprintln(stderr, "note:", n)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, e := range entries {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(stdout, "%-9s %-40s %-5s %5s %5s %10s  %s\n", "TYPE", "NAME", "MODE", "UID", "GID", "SIZE", "DETAIL")
	for _, e := range entries {
		fmt.Fprintf(stdout, "%-9s %-40s %-5s %5d %5d %10d  %s\n", e.Type, e.Name, e.Mode, e.UID, e.GID, e.Size, e.Extra)
	}
	return nil
}
