//go:build linux && cgo

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"os/user"
	"strings"
	"testing"

	"github.com/posixipc/posixipc/binding/sem"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ls tells a named semaphore (glibc's /dev/shm/sem.X, one sem_t long) from
// a segment a C program named "/sem.Y" with shm_open (reliability #9).
func TestLsSemaphoresAndSemPrefixedSegments(t *testing.T) {
	sn := testutil.Name("lssem")
	s, err := sem.Open(sn, os.O_CREATE|os.O_EXCL, 0o600, 1)
	require.NoError(t, err)
	defer sem.Unlink(sn)
	defer s.Close()
	seg := "sem." + testutil.Name("lsseg")[1:]
	require.NoError(t, os.WriteFile("/dev/shm/"+seg, make([]byte, 4096), 0o600)) // a C peer's shm_open("/sem...")
	defer os.Remove("/dev/shm/" + seg)

	r := cli(t, "", "ls", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	types := map[string]string{}
	var all []lsEntry
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &all), r.stdout)
	for _, e := range all {
		types[e.Name] = e.Type
	}
	assert.Equal(t, "sem", types[sn], "the semaphore")
	assert.Equal(t, "shm", types["/"+seg], "the sem.-prefixed segment is a segment")
}

// ls on par with lsipc: aligned columns, owner names, permissions, human
// sizes or --bytes, --noheadings, --raw, -o, System V objects with their
// pids and times, one JSON document.
func TestLsColumns(t *testing.T) {
	n := testutil.Name("lscol")
	require.Equal(t, 0, cli(t, "", "shm", "create", n, "--size", "1536k").code)
	defer cli(t, "", "shm", "rm", n)
	key := "0x50495043"
	if out, err := exec.Command("ipcmk", "-M", "4096").CombinedOutput(); err == nil {
		// ipcmk prints the id: "Shared memory id: N"
		f := strings.Fields(string(out))
		defer exec.Command("ipcrm", "-m", f[len(f)-1]).Run()
		key = ""
	} else {
		t.Logf("ipcmk (util-linux) not usable here, no System V object listed: %v %s", err, out)
	}

	r := cli(t, "", "ls")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	require.True(t, strings.HasPrefix(lines[0], "TYPE"), lines[0])
	var row string
	for _, l := range lines {
		if strings.Contains(l, n+" ") {
			row = l
		}
	}
	require.NotEmpty(t, row, r.stdout)
	assert.Contains(t, row, "rw-------")
	assert.Contains(t, row, "1.5M")
	u, _ := user.Current()
	assert.Contains(t, row, u.Username)
	// aligned: every line has the SIZE column at the same place
	col := strings.Index(lines[0], "SIZE")
	assert.Equal(t, col+len("SIZE"), strings.Index(row, "1.5M")+len("1.5M"), "right-aligned? header %q row %q", lines[0], row)

	r = cli(t, "", "ls", "--bytes", "--noheadings", "--raw", "-o", "name,size,mode")
	require.Equal(t, 0, r.code, r.stderr)
	assert.NotContains(t, r.stdout, "NAME")
	assert.Contains(t, r.stdout, n+" 1572864 0600\n")
	assert.Equal(t, exitUsage, cli(t, "", "ls", "-o", "name,nosuch").code)

	r = cli(t, "", "ls", "--json")
	var all []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &all), r.stdout)
	sysv := false
	for _, e := range all {
		for k := range e {
			assert.Equal(t, strings.ToLower(k), k, "snake_case keys")
		}
		if e["type"] == "sysv-shm" {
			sysv = true
			assert.Contains(t, e, "cpid")
			assert.Contains(t, e, "nattch")
			assert.Contains(t, e, "ctime")
		}
	}
	assert.True(t, sysv || key != "", "the System V segment ipcmk made is listed")
}
