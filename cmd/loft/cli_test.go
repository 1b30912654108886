package main

// The client commands, run as the built binary against a running broker.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/loftproc"
	"github.com/loftmq/loft/internal/syncbuf"
)

// cli runs `loft args...` against the broker at p with stdin, and returns
// its stdout, stderr and exit code.
func cli(t *testing.T, p *loftproc.Process, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(loftBin, append(args, "--server", "http://"+p.HTTP)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("loft %v did not end", args)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// ok runs a command that must succeed and returns its stdout.
func ok(t *testing.T, p *loftproc.Process, stdin string, args ...string) string {
	t.Helper()
	out, errOut, code := cli(t, p, stdin, args...)
	if code != 0 {
		t.Fatalf("loft %v: exit %d: %s", args, code, errOut)
	}
	return out
}

func TestClientCommands(t *testing.T) {
	p := loftproc.Start(t, loftBin, filepath.Join(t.TempDir(), "data"))
	if out := ok(t, p, "", "status"); !strings.Contains(out, "loft@") || !strings.Contains(out, "ok") {
		t.Fatalf("status: %s", out)
	}
	ok(t, p, "", "queue", "declare", "jobs", "--arg", "x-max-length=10")
	ok(t, p, "", "exchange", "declare", "shop", "--type", "topic")
	ok(t, p, "", "bind", "--source", "shop", "--destination", "jobs", "--key", "order.*")
	ok(t, p, "", "publish", "--exchange", "shop", "--routing-key", "order.new", "--property", "message-id=42", "--header", "tenant=acme", "first")
	if out := ok(t, p, "second\nthird\n", "publish", "--exchange", "shop", "--routing-key", "order.bulk", "--lines"); !strings.Contains(out, "2 messages published") {
		t.Fatalf("publish --lines: %s", out)
	}
	body := filepath.Join(t.TempDir(), "body")
	os.WriteFile(body, []byte("from a file"), 0o600)
	ok(t, p, "", "publish", "--routing-key", "jobs", "--file", body)

	out := ok(t, p, "", "queue", "list")
	if !strings.Contains(out, "jobs") || !strings.Contains(out, "4") {
		t.Fatalf("queue list: %s", out)
	}
	var qs []map[string]any
	if err := json.Unmarshal([]byte(ok(t, p, "", "queue", "list", "-o", "json")), &qs); err != nil || len(qs) != 1 || qs[0]["messages"] != 4.0 {
		t.Fatalf("queue list -o json: %v %v", qs, err)
	}
	if out := ok(t, p, "", "queue", "get", "jobs"); !strings.Contains(out, "first") {
		t.Fatalf("queue get: %s", out)
	}
	lines := strings.Split(strings.TrimSpace(ok(t, p, "", "consume", "--queue", "jobs", "--count", "3")), "\n")
	if strings.Join(lines, ",") != "first,second,third" {
		t.Fatalf("consume: %q", lines)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(ok(t, p, "", "consume", "--queue", "jobs", "-o", "json")), &m); err != nil || m["payload"] != "from a file" {
		t.Fatalf("consume -o json: %v %v", m, err)
	}

	// --follow waits for more, and stops cleanly on Ctrl-C.
	follow := exec.Command(loftBin, "consume", "--queue", "jobs", "--follow", "--server", "http://"+p.HTTP)
	fout := &syncbuf.Buffer{}
	follow.Stdout = fout
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	ok(t, p, "", "publish", "--routing-key", "jobs", "late")
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(fout.String(), "late"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("consume --follow did not print the late message")
		}
	}
	follow.Process.Signal(syscall.SIGINT)
	waited := make(chan error, 1)
	go func() { waited <- follow.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("consume --follow after Ctrl-C: %v", err)
		}
	case <-time.After(5 * time.Second):
		follow.Process.Kill()
		t.Fatal("consume --follow did not stop on Ctrl-C")
	}

	// Users.
	ok(t, p, "", "user", "add", "ann", "s3cret", "--tags", "management")
	if out := ok(t, p, "", "user", "list"); !strings.Contains(out, "ann") {
		t.Fatalf("user list: %s", out)
	}
	ok(t, p, "", "user", "passwd", "ann", "n3w")
	if _, errOut, code := cli(t, p, "", "status", "--user", "ann", "--password", "s3cret"); code != 1 || !strings.Contains(errOut, "refused") {
		t.Fatalf("old password: exit %d %s", code, errOut)
	}
	ok(t, p, "", "status", "--user", "ann", "--password", "n3w")

	// Definitions into a fresh broker.
	defs := filepath.Join(t.TempDir(), "defs.json")
	ok(t, p, "", "definitions", "export", "--file", defs)
	p2 := loftproc.Start(t, loftBin, filepath.Join(t.TempDir(), "data2"))
	ok(t, p2, "", "definitions", "import", defs)
	if out := ok(t, p2, "", "exchange", "list"); !strings.Contains(out, "shop") {
		t.Fatalf("imported exchanges: %s", out)
	}
	ok(t, p2, "", "publish", "--exchange", "shop", "--routing-key", "order.x", "through imported bindings")

	// Mistakes: plain words and exit 1.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"queue", "delete", "nosuch"}, "not found"},
		{[]string{"publish", "--routing-key", "nowhere", "x"}, "routed nowhere"},
		{[]string{"queue", "declare", "bad", "--arg", "x-max-length=-1"}, "x-max-length"},
		{[]string{"status", "--password", "wrong"}, "refused"},
		{[]string{"definitions", "import", "/nonexistent.json"}, "no such file"},
		{[]string{"queue", "list", "-o", "yaml"}, "table or json"},
	} {
		_, errOut, code := cli(t, p, "", c.args...)
		if code != 1 || !strings.Contains(errOut, c.want) || !strings.HasPrefix(errOut, "loft: ") {
			t.Errorf("loft %v: exit %d, stderr %q; want 1 and %q", c.args, code, errOut, c.want)
		}
	}
	ok(t, p, "", "bind", "--source", "shop", "--destination", "jobs", "--key", "order.*", "--unbind")
	ok(t, p, "", "exchange", "delete", "shop")
	ok(t, p, "", "queue", "purge", "jobs")
	ok(t, p, "", "queue", "delete", "jobs")
	ok(t, p, "", "user", "delete", "ann")
}

func TestClientStreamCommands(t *testing.T) {
	p := loftproc.Start(t, loftBin, filepath.Join(t.TempDir(), "data"))
	ok(t, p, "", "topic", "create", "orders", "--partitions", "2", "--config", "retention.ms=3600000")
	if out := ok(t, p, "", "topic", "list"); !strings.Contains(out, "orders") || !strings.Contains(out, "2") {
		t.Fatalf("topic list: %s", out)
	}
	if out := ok(t, p, "a\nb\nc\n", "publish", "--topic", "orders", "--key", "k1", "--lines"); !strings.Contains(out, "3 records published") {
		t.Fatalf("publish --topic --lines: %s", out)
	}
	// k1 goes where Kafka's partitioner puts it: find it.
	var topic struct {
		Partitions []struct {
			Partition int `json:"partition"`
			End       int `json:"end_offset"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(ok(t, p, "", "topic", "describe", "orders", "-o", "json")), &topic); err != nil {
		t.Fatal(err)
	}
	part := -1
	for _, tp := range topic.Partitions {
		if tp.End == 3 {
			part = tp.Partition
		}
	}
	if part < 0 {
		t.Fatalf("no partition holds the 3 records: %+v", topic)
	}
	got := ok(t, p, "", "consume", "--topic", "orders", "--partition", fmt.Sprint(part), "--from", "1")
	if strings.Join(strings.Fields(got), ",") != "b,c" {
		t.Fatalf("consume --topic --from 1: %q", got)
	}
	ok(t, p, "", "topic", "alter", "orders", "--config", "retention.ms=")
	if out := ok(t, p, "", "topic", "describe", "orders"); strings.Contains(out, "retention.ms=") {
		t.Fatalf("retention.ms still set: %s", out)
	}
	out := ok(t, p, "", "group", "reset-offsets", "billing", "--to", "earliest", "--topic", "orders")
	if !strings.Contains(out, "orders") {
		t.Fatalf("reset-offsets: %s", out)
	}
	if out := ok(t, p, "", "group", "describe", "billing"); !strings.Contains(out, "total lag 3") {
		t.Fatalf("group describe: %s", out)
	}
	if out := ok(t, p, "", "group", "list"); !strings.Contains(out, "billing") {
		t.Fatalf("group list: %s", out)
	}
	ok(t, p, "", "group", "delete", "billing")
	if _, errOut, code := cli(t, p, "", "topic", "describe", "nosuch"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("describe a missing topic: %d %s", code, errOut)
	}
	ok(t, p, "", "topic", "delete", "orders")
}
