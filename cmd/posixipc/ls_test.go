package main

import (
	"encoding/json"
	"os"
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
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var e lsEntry
		require.NoError(t, json.Unmarshal([]byte(l), &e), l)
		types[e.Name] = e.Type
	}
	assert.Equal(t, "sem", types[sn], "the semaphore")
	assert.Equal(t, "shm", types["/"+seg], "the sem.-prefixed segment is a segment")
}
