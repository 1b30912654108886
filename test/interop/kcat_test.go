package interop

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

func kcat(t *testing.T, ctx context.Context, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(ctx, need(t, "kcat"), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes()
}

// TestKcat lists metadata, produces 10,000 messages and consumes them back
// as a member of a consumer group, with librdkafka's kcat.
func TestKcat(t *testing.T) {
	need(t, "kcat")
	l := startLoft(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	const n = 10_000
	var in bytes.Buffer
	for i := range n {
		fmt.Fprintf(&in, "message-%05d\n", i)
	}
	kcat(t, ctx, in.Bytes(), "-b", l.Kafka, "-P", "-t", "kcat-topic", "-X", "acks=all")

	meta := string(kcat(t, ctx, nil, "-b", l.Kafka, "-L", "-t", "kcat-topic"))
	if !strings.Contains(meta, `topic "kcat-topic"`) || !strings.Contains(meta, "partition 0") {
		t.Fatalf("metadata listing lacks the topic:\n%s", meta)
	}

	out := kcat(t, ctx, nil, "-b", l.Kafka, "-G", "kcat-group", "-c", strconv.Itoa(n),
		"-X", "auto.offset.reset=earliest", "-f", "%s\n", "kcat-topic")
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	sort.Strings(got)
	if len(got) != n {
		t.Fatalf("consumed %d messages, want %d", len(got), n)
	}
	for i, m := range got {
		if want := fmt.Sprintf("message-%05d", i); m != want {
			t.Fatalf("message %d is %q, want %q", i, m, want)
		}
	}
}
