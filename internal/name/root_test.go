//go:build linux && cgo

package name_test

import (
	"syscall"
	"testing"

	"github.com/posixipc/posixipc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The rule and its error type are exported from the root package.
func TestExportedFromTheRoot(t *testing.T) {
	_, err := posixipc.CanonicalName("a/b")
	var ne *posixipc.NameError
	require.ErrorAs(t, err, &ne)
	assert.Equal(t, "a/b", ne.Name)
	assert.ErrorIs(t, err, syscall.EINVAL)
	n, err := posixipc.CanonicalName("jobs")
	require.NoError(t, err)
	assert.Equal(t, "/jobs", n)
	_, err = posixipc.SegmentName("sem.x")
	require.ErrorAs(t, err, &ne)
	assert.Equal(t, 251, posixipc.NameMax)
}
