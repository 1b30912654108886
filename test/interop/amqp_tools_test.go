package interop

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// amqpTool runs one of rabbitmq-c's amqp-tools, bounded by 15 s, and
// returns its standard output.
func amqpTool(t *testing.T, tool string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, need(t, tool), args...)
	// amqp-consume's children (cat) hold stdout too: do not wait on them
	// for long once the tool itself is gone.
	cmd.WaitDelay = 2 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", tool, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// TestAMQPTools round-trips messages through a durable queue with
// rabbitmq-c's command-line tools: declare, publish persistent messages,
// consume two with acks (amqp-consume runs cat on each), get the third
// with basic.get, and delete the queue.
func TestAMQPTools(t *testing.T) {
	for _, tool := range []string{"amqp-declare-queue", "amqp-publish", "amqp-consume", "amqp-get", "amqp-delete-queue"} {
		need(t, tool)
	}
	l := startLoft(t)
	url := "amqp://guest:guest@" + l.AMQP
	const queue = "amqp-tools-queue"

	if got := amqpTool(t, "amqp-declare-queue", "--url", url, "-q", queue, "-d"); strings.TrimSpace(got) != queue {
		t.Fatalf("amqp-declare-queue printed %q, want %q", got, queue)
	}
	bodies := []string{"first body", "second body", "third body"}
	for _, b := range bodies {
		amqpTool(t, "amqp-publish", "--url", url, "-r", queue, "-p", "-C", "text/plain", "-b", b)
	}
	if got, want := amqpTool(t, "amqp-consume", "--url", url, "-q", queue, "-c", "2", "cat"), bodies[0]+bodies[1]; got != want {
		t.Fatalf("amqp-consume -c 2 cat printed %q, want %q", got, want)
	}
	if got := amqpTool(t, "amqp-get", "--url", url, "-q", queue); got != bodies[2] {
		t.Fatalf("amqp-get printed %q, want %q", got, bodies[2])
	}
	amqpTool(t, "amqp-delete-queue", "--url", url, "-q", queue)
}
