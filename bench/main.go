package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "null-amqp" {
		os.Exit(nullAMQPMain(os.Args[2:]))
	}
	os.Exit(realMain(os.Args[1:]))
}

// realMain runs the harness and returns the exit status: 0 when every run
// passed verification, 1 when one failed, 2 for bad usage.
func realMain(args []string) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	brokerList := fs.String("brokers", "loft,rabbitmq,rabbitmq-quorum,nats,amqp-null", "brokers to run, in this order within each run")
	workloadList := fs.String("workloads", "all", "workloads or groups (throughput, latency, kafka) to run, comma-separated")
	runs := fs.Int("runs", 3, "times each workload runs on each broker; medians are taken over them")
	scale := fs.Float64("scale", 1, "fraction of the default message counts (and latency durations), for quick runs")
	out := fs.String("out", "results.json", "where to write the JSON results (empty: nowhere)")
	loft := fs.String("loft", "", "the loft binary (default: build ./cmd/loft into a temporary directory)")
	dir := fs.String("dir", os.TempDir(), "where brokers' data directories go: the disk under test")
	stall := fs.Duration("stall", 30*time.Second, "how long a run may go without progress before it fails")
	render := fs.String("render", "", "run nothing: render this JSON results file into -doc and -chart")
	doc := fs.String("doc", "", "Markdown file whose section between "+beginMarker+" and "+endMarker+" gets the results (e.g. docs/BENCHMARKS.md)")
	chart := fs.String("chart", "", "PNG file for the chart of throughput and p99 latency (e.g. docs/bench.png)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: bench [flags]\n\nRuns Loft, RabbitMQ and NATS JetStream side by side; see go doc ./bench.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *render != "" {
		return renderOnly(*render, *doc, *chart)
	}
	cfg := &config{runs: *runs, scale: *scale, dir: *dir, stall: *stall, loft: *loft,
		skip: map[string]string{}, progress: os.Stderr,
		command: commandLine(args)}
	var err error
	if cfg.brokers, err = selectBrokers(*brokerList); err == nil {
		cfg.workloads, err = selectWorkloads(*workloadList)
	}
	if err == nil && (cfg.runs < 1 || cfg.scale <= 0) {
		err = fmt.Errorf("-runs must be at least 1 and -scale above 0")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.loft == "" {
		tmp, err := os.MkdirTemp("", "loftbench-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		defer os.RemoveAll(tmp)
		if cfg.loft, err = buildLoft(tmp); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}

	rep := execute(ctx, cfg)
	rep.print(os.Stdout)
	if *out != "" {
		if err := rep.writeJSON(*out); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		fmt.Printf("\nResults: %s\n", *out)
	}
	switch {
	case *doc == "" && *chart == "":
	case rep.Interrupted:
		fmt.Fprintln(os.Stderr, "bench: interrupted: -doc and -chart left as they were")
	default:
		if err := rep.render(*doc, *chart); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}
	if rep.Failed || rep.Interrupted {
		return 1
	}
	return 0
}

// renderOnly is -render: it writes doc and chart from a results file.
func renderOnly(results, doc, chart string) int {
	if doc == "" && chart == "" {
		fmt.Fprintln(os.Stderr, "bench: -render needs -doc, -chart or both")
		return 2
	}
	rep, err := readReport(results)
	if err == nil {
		err = rep.render(doc, chart)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}

// commandLine is the command as it could be typed again: arguments with
// spaces or shell metacharacters are single-quoted.
func commandLine(args []string) string {
	words := []string{"bench"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`*?[]{}()<>|&;#~!") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

func selectBrokers(list string) ([]broker, error) {
	var bs []broker
	for _, n := range strings.Split(list, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		b, ok := brokerByName(n)
		if !ok {
			return nil, fmt.Errorf("unknown broker %q (known: loft, rabbitmq, rabbitmq-quorum, nats)", n)
		}
		bs = append(bs, b)
	}
	if len(bs) == 0 {
		return nil, fmt.Errorf("no broker selected")
	}
	return bs, nil
}

// buildLoft compiles the module's cmd/loft into dir. It must run inside
// the module's tree (as `go run ./bench` and `go test ./bench/` do).
func buildLoft(dir string) (string, error) {
	bin := filepath.Join(dir, "loft")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/loftmq/loft/cmd/loft")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build loft (outside the module's tree, pass -loft): %v\n%s", err, out)
	}
	return bin, nil
}
