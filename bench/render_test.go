package main

import (
	"bytes"
	"errors"
	"image"
	_ "image/png" // for image.DecodeConfig
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const fixture = "testdata/results.json"

// TestReportFixture checks that the hand-written fixture says what the
// harness would have written for its runs: summarize gives back its
// medians, ratios and targets.
func TestReportFixture(t *testing.T) {
	want, err := readReport(fixture)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readReport(fixture)
	if err != nil {
		t.Fatal(err)
	}
	got.summarize()
	for i, w := range got.Workloads {
		if !reflect.DeepEqual(w.Medians, want.Workloads[i].Medians) {
			t.Errorf("%s: medians %v, fixture says %v", w.Name, w.Medians, want.Workloads[i].Medians)
		}
		for b, ratios := range w.Ratios {
			for k, v := range ratios {
				if f := want.Workloads[i].Ratios[b][k]; math.Abs(f-v) > 1e-9 {
					t.Errorf("%s: Loft/%s %s = %v, fixture says %v", w.Name, b, k, v, f)
				}
			}
		}
	}
	if !reflect.DeepEqual(got.Targets, want.Targets) {
		t.Errorf("targets:\n%+v\nfixture says:\n%+v", got.Targets, want.Targets)
	}
}

// A BENCHMARKS.md-like document: a title section whose code block holds a
// "# " line, then other sections written by hand.
const (
	docHead = "# Benchmarks\n\nHow fast the log engine appends.\n\n## How to run\n\n```sh\n# not a heading\ngo test -bench .\n```\n\n"
	docTail = "# Kafka produce (issue 3)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n# Queue features (issue 5)\n\nProse.\n"
)

func renderFixture(t *testing.T, doc string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "docs", "BENCHMARKS.md")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := readReport(fixture)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.render(path, filepath.Join(dir, "docs", "bench.png")); err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, string(out)
}

// section returns the marked section of doc, and the text around it.
func section(t *testing.T, doc string) (before, sec, after string) {
	t.Helper()
	i, j := strings.Index(doc, beginMarker), strings.Index(doc, endMarker)
	if i < 0 || j < i {
		t.Fatalf("no marked section in:\n%s", doc)
	}
	j += len(endMarker)
	return doc[:i], doc[i:j], doc[j:]
}

func checkSection(t *testing.T, sec string) {
	t.Helper()
	for _, want := range []string{
		"```sh\nbench -runs 1 -scale 0.01 -brokers loft,rabbitmq,rabbitmq-quorum,nats -workloads throughput,latency,fanout,backlog -out 'my results.json'\n```",
		"Run of 2026-11-22 14:03–14:09 UTC on commit c87c649: medians of 1 run(s) at scale 0.01",
		"![Throughput (msg/s) and p99 latency (ms) per broker](bench.png)",
		"- 2 CPUs (AMD EPYC 7B13), 23.4 GiB RAM\n- Linux 6.18.44-fc-v657, Debian GNU/Linux 12 (bookworm), go1.26.8 amd64\n",
		"| NATS JetStream | nats-server 2.9.10 | **no** | file-storage stream, publish acks; acknowledges before fsync (sync_interval \\| 2 min) |",
		"| RabbitMQ quorum | skipped: not in this fixture | | |",
		"NATS JetStream acknowledges messages before they are on disk",
		"### throughput-1KiB\n\n1 KiB: 2000 messages",
		"| metric | Loft | RabbitMQ classic | NATS JetStream | Loft/RabbitMQ classic | Loft/NATS JetStream |\n|---|--:|--:|--:|--:|--:|\n| msg/s | 59,043 | 24,211 | 84,692 | 2.44× | 0.70× |\n",
		"| p99 µs | 980 | 6,895 | 7,012 | 0.14× | 0.14× |",
		"| drain msg/s | 70,000 | 20,000 | failed | 3.50× | failed |",
		"| peak RSS MiB | 80.00 | 301 | failed | 0.27× | failed |",
		"Over all 24 runs: 1 failed, 3 missing, 2 duplicates.",
		"| throughput-1KiB | 1/1 ok, 0 missing, 0 dup. | 1/1 ok, 0 missing, 0 dup. | 1/1 ok, 0 missing, 2 dup. |",
		"| backlog | 1/1 ok, 0 missing, 0 dup. | 1/1 ok, 0 missing, 0 dup. | **0/1 ok, 3 missing, 0 dup.** |",
		"- backlog on NATS JetStream, run 1: bench: acknowledged messages lost: 3 of 10000 on queue backlog|q0\n",
		"| throughput-1KiB | Loft msg/s ≥ 1× NATS JetStream, fsyncing before every ack | **no** | 59,043 ÷ 84,692 = 0.70× |",
		"| latency-5000 | Loft p99 µs below 1 ms | yes | 980 µs |",
		"**Some runs failed**",
	} {
		if !strings.Contains(sec, want) {
			t.Errorf("section lacks %q", want)
		}
	}
	if strings.Contains(sec, "Loft/RabbitMQ quorum") {
		t.Error("section has a column for the skipped broker")
	}
}

func TestReportRenderBetweenMarkers(t *testing.T) {
	doc := docHead + beginMarker + "\nold figures\n" + endMarker + "\n\n" + docTail
	path, out := renderFixture(t, doc)
	before, sec, after := section(t, out)
	if before != docHead || after != "\n\n"+docTail {
		t.Errorf("text outside the markers changed:\nbefore: %q\nafter: %q", before, after)
	}
	if strings.Contains(sec, "old figures") {
		t.Error("the old section is still there")
	}
	checkSection(t, sec)

	// Rendering again changes nothing.
	r, err := readReport(fixture)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.render(path, filepath.Join(filepath.Dir(path), "bench.png")); err != nil {
		t.Fatal(err)
	}
	again, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != out {
		t.Error("a second render changed the doc")
	}
}

func TestReportRenderWithoutMarkers(t *testing.T) {
	_, out := renderFixture(t, docHead+docTail)
	before, sec, after := section(t, out)
	if before != docHead || after != "\n\n"+docTail {
		t.Errorf("the section is not between the title's section and the second heading, or text changed:\nbefore: %q\nafter: %q", before, after)
	}
	checkSection(t, sec)
}

func TestReportRenderAppends(t *testing.T) {
	doc := "# Benchmarks\n\nNothing else yet." // no final newline
	_, out := renderFixture(t, doc)
	before, _, after := section(t, out)
	if before != doc+"\n\n" || after != "\n" {
		t.Errorf("before: %q, after: %q", before, after)
	}
}

func TestReportRenderBadMarkers(t *testing.T) {
	for name, doc := range map[string]string{
		"begin only":   docHead + beginMarker + "\n" + docTail,
		"end only":     docHead + endMarker + "\n" + docTail,
		"end first":    docHead + endMarker + "\n" + beginMarker + "\n" + docTail,
		"begin twice":  beginMarker + "\n" + beginMarker + "\n" + endMarker + "\n",
		"two sections": beginMarker + "\n" + endMarker + "\n" + beginMarker + "\n" + endMarker + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
			if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			r, err := readReport(fixture)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.render(path, ""); !errors.Is(err, errMarkers) {
				t.Errorf("render() = %v, want errMarkers", err)
			}
			if b, _ := os.ReadFile(path); string(b) != doc {
				t.Error("the doc changed")
			}
		})
	}
}

func TestReportRenderFlags(t *testing.T) {
	dir := t.TempDir()
	doc, chart := filepath.Join(dir, "BENCHMARKS.md"), filepath.Join(dir, "img", "bench.png")
	if err := os.Mkdir(filepath.Dir(chart), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(doc, []byte(docHead), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := realMain([]string{"-render", fixture, "-doc", doc, "-chart", chart}); code != 0 {
		t.Fatalf("realMain = %d", code)
	}
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("](img/bench.png)")) {
		t.Error("the chart is not embedded by its path relative to the doc")
	}
	if _, err := os.Stat(chart); err != nil {
		t.Error(err)
	}
	if code := realMain([]string{"-render", fixture}); code != 2 {
		t.Errorf("-render without -doc or -chart: realMain = %d, want 2", code)
	}
}

func TestChart(t *testing.T) {
	r, err := readReport(fixture)
	if err != nil {
		t.Fatal(err)
	}
	check := func(r *report, wantH int) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "bench.png")
		if err := r.writeChart(path); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cfg, format, err := image.DecodeConfig(f)
		if err != nil {
			t.Fatal(err)
		}
		if format != "png" || cfg.Width != 768 || cfg.Height != wantH {
			t.Errorf("%s of %d × %d, want png of 768 × %d", format, cfg.Width, cfg.Height, wantH)
		}
	}
	check(r, 2*432)

	// Throughput alone: one panel.
	var ws []*workloadResult
	for _, w := range r.Workloads {
		if !strings.HasPrefix(w.Name, "latency") {
			ws = append(ws, w)
		}
	}
	r.Workloads = ws
	check(r, 432)

	r.Workloads = nil
	if err := r.writeChart(filepath.Join(t.TempDir(), "bench.png")); !errors.Is(err, errNothingToChart) {
		t.Errorf("writeChart() with no figures = %v, want errNothingToChart", err)
	}
}

func TestReportCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "bench"},
		{[]string{"-runs", "3", "-out", "bench.json"}, "bench -runs 3 -out bench.json"},
		{[]string{"-out", "my results.json", "-dir", ""}, "bench -out 'my results.json' -dir ''"},
		{[]string{"-loft", "it's"}, `bench -loft 'it'\''s'`},
	} {
		if got := commandLine(tc.args); got != tc.want {
			t.Errorf("commandLine(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}
