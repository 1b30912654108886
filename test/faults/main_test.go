package faults

import (
	"os"
	"strconv"
	"testing"

	"github.com/loftmq/loft/internal/loftproc"
)

var loftBin string

func TestMain(m *testing.M) { loftproc.Main(m, "", &loftBin) }

// envInt returns the environment variable name as an integer, or def
// when it is unset; a value that is not an integer fails the test.
func envInt(t *testing.T, name string, def int64) int64 {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: not an integer", name, s)
	}
	return v
}
