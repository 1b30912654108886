package interop

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/loftmq/loft/internal/loftproc"
)

var loftBin string

func TestMain(m *testing.M) { loftproc.Main(m, "", &loftBin) }

// need returns the path of an outside tool, skipping the test when it is
// missing, except in CI, where it is a failure.
func need(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; .ci/run must install it", tool)
		}
		t.Skipf("%s is not installed", tool)
	}
	return p
}

// startLoft runs loft serve on a fresh data dir until the test ends.
func startLoft(t *testing.T) *loftproc.Process {
	return loftproc.Start(t, loftBin, filepath.Join(t.TempDir(), "data"))
}
