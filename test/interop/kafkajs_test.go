package interop

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestKafkajs produces and consumes through a consumer group with kafkajs
// (test/interop/kafkajs/roundtrip.js); .ci/run installs its node_modules.
func TestKafkajs(t *testing.T) {
	node := need(t, "node")
	if _, err := os.Stat(filepath.Join("kafkajs", "node_modules", "kafkajs")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("kafkajs is not installed; .ci/run must run npm ci in test/interop/kafkajs")
		}
		t.Skip("kafkajs is not installed: run npm ci in test/interop/kafkajs")
	}
	l := startLoft(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "roundtrip.js")
	cmd.Dir = "kafkajs"
	cmd.Env = append(os.Environ(), "LOFT_KAFKA="+l.Kafka, "KAFKAJS_NO_PARTITIONER_WARNING=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kafkajs round trip: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
