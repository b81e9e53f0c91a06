//go:build linux && cgo

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/posixipc/posixipc/binding/sem"
	"golang.org/x/sys/unix"
)

// limitRow is one line of `posixipc limits` (its JSON too).
type limitRow struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Used  string `json:"used,omitempty"` // current use, where the kernel shows it
	Hits  string `json:"hits"`           // what runs into it
	Raise string `json:"raise"`          // how to change it
}

func init() {
	register(&command{
		name:    "limits",
		summary: "the system limits that IPC objects run into, their values, current use and how to raise them (like lsipc -g)",
		usage:   "posixipc limits [--json]",
		run:     runLimits,
	})
}

func procValue(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

func countLines(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strconv.Itoa(max(strings.Count(string(b), "\n")-1, 0)) // less the header
}

func limitRows() []limitRow {
	mqDir := mqueueMount()
	queues := ""
	if mqDir != "" {
		if ents, err := os.ReadDir(mqDir); err == nil {
			queues = strconv.Itoa(len(ents))
		}
	}
	var rl unix.Rlimit
	rlq := "?"
	if unix.Getrlimit(unix.RLIMIT_MSGQUEUE, &rl) == nil {
		rlq = strconv.FormatUint(rl.Cur, 10) + " bytes"
	}
	shmSize, shmUsed := "?", ""
	var st syscall.Statfs_t
	if syscall.Statfs("/dev/shm", &st) == nil {
		total := int64(st.Blocks) * st.Bsize
		shmSize = humanSize(total, false)
		shmUsed = humanSize(total-int64(st.Bfree)*st.Bsize, false)
	}
	return []limitRow{
		{"fs.mqueue.msg_max", procValue("/proc/sys/fs/mqueue/msg_max"), "", "a queue's maxmsg above it: EINVAL", "sysctl fs.mqueue.msg_max=N (or CAP_SYS_RESOURCE)"},
		{"fs.mqueue.msgsize_max", procValue("/proc/sys/fs/mqueue/msgsize_max"), "", "a queue's msgsize above it: EINVAL", "sysctl fs.mqueue.msgsize_max=N"},
		{"fs.mqueue.queues_max", procValue("/proc/sys/fs/mqueue/queues_max"), queues, "too many queues system-wide: ENOSPC", "sysctl fs.mqueue.queues_max=N"},
		{"fs.mqueue.msg_default", procValue("/proc/sys/fs/mqueue/msg_default"), "", "the maxmsg of a queue created without one", "sysctl fs.mqueue.msg_default=N"},
		{"fs.mqueue.msgsize_default", procValue("/proc/sys/fs/mqueue/msgsize_default"), "", "the msgsize of a queue created without one", "sysctl fs.mqueue.msgsize_default=N"},
		{"RLIMIT_MSGQUEUE", rlq, "", "a user's queues together (about maxmsg*(msgsize+8) each): EMFILE", "ulimit -q, prlimit --msgqueue"},
		{"/dev/shm", shmSize, shmUsed, "segments and semaphores: ENOSPC at creation", "mount -o remount,size=N /dev/shm; docker run --shm-size"},
		{"kernel.shmmax", procValue("/proc/sys/kernel/shmmax"), "", "a System V segment larger: EINVAL", "sysctl kernel.shmmax=N"},
		{"kernel.shmall", procValue("/proc/sys/kernel/shmall"), "", "System V segments together, in pages: ENOSPC", "sysctl kernel.shmall=N"},
		{"kernel.shmmni", procValue("/proc/sys/kernel/shmmni"), countLines("/proc/sysvipc/shm"), "System V segments system-wide: ENOSPC", "sysctl kernel.shmmni=N"},
		{"kernel.msgmax", procValue("/proc/sys/kernel/msgmax"), "", "a System V message larger: EINVAL", "sysctl kernel.msgmax=N"},
		{"kernel.msgmnb", procValue("/proc/sys/kernel/msgmnb"), "", "bytes in one System V queue", "sysctl kernel.msgmnb=N"},
		{"kernel.msgmni", procValue("/proc/sys/kernel/msgmni"), countLines("/proc/sysvipc/msg"), "System V queues system-wide: ENOSPC", "sysctl kernel.msgmni=N"},
		{"kernel.sem", procValue("/proc/sys/kernel/sem"), countLines("/proc/sysvipc/sem"), "SEMMSL SEMMNS SEMOPM SEMMNI of System V semaphore sets", "sysctl kernel.sem=\"MSL MNS OPM MNI\""},
		{"SEM_VALUE_MAX", strconv.Itoa(sem.ValueMax), "", "a POSIX semaphore posted past it: EOVERFLOW", "fixed"},
		{"PIPE_BUF", "4096", "", "FIFO and pipe writes larger than it may interleave", "fixed (fifo.SetPipeSize changes capacity, not atomicity)"},
		{"fs.pipe-max-size", procValue("/proc/sys/fs/pipe-max-size"), "", "a pipe capacity set above it without CAP_SYS_RESOURCE: EPERM", "sysctl fs.pipe-max-size=N"},
	}
}

func runLimits(args []string) error {
	fs := flag.NewFlagSet("limits", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "one JSON array of {name, value, used, hits, raise}")
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	rows := limitRows()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LIMIT\tVALUE\tUSED\tWHAT HITS IT\tHOW TO RAISE IT")
	for _, r := range rows {
		used := r.Used
		if used == "" {
			used = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Value, used, r.Hits, r.Raise)
	}
	return tw.Flush()
}
