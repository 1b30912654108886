package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// report is the harness's output: everything measured, the medians, the
// Loft/other ratios and the targets' verdicts. It is written as JSON for
// machines and printed as tables for people.
type report struct {
	Command     string            `json:"command"`
	Started     time.Time         `json:"started"`
	Finished    time.Time         `json:"finished"`
	Runs        int               `json:"runs"`
	Scale       float64           `json:"scale"`
	Machine     machine           `json:"machine"`
	Brokers     []*brokerInfo     `json:"brokers"`
	Workloads   []*workloadResult `json:"workloads"`
	Targets     []target          `json:"targets"`
	Failed      bool              `json:"failed"` // some run failed: an error, or an acknowledged message missing
	Interrupted bool              `json:"interrupted,omitempty"`
}

type brokerInfo struct {
	Name           string `json:"name"`
	Label          string `json:"label"`
	Version        string `json:"version,omitempty"`
	Durability     string `json:"durability"`
	FsyncBeforeAck bool   `json:"fsync_before_ack"`
	Reference      bool   `json:"reference,omitempty"` // a yardstick: no target is judged against it
	Skipped        string `json:"skipped,omitempty"`
}

type runResult struct {
	Broker     string             `json:"broker"`
	Run        int                `json:"run"`
	Values     map[string]float64 `json:"values,omitempty"`
	Missing    int                `json:"missing"`    // acknowledged but never received, per queue
	Duplicates int                `json:"duplicates"` // deliveries beyond the first, per queue
	Error      string             `json:"error,omitempty"`
}

type workloadResult struct {
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Metrics     []metric    `json:"metrics"`
	Runs        []runResult `json:"runs"`
	// Medians over the runs that succeeded: broker → metric → value.
	Medians map[string]map[string]float64 `json:"medians"`
	// Ratios of Loft's median over another broker's: broker → metric → ratio.
	Ratios map[string]map[string]float64 `json:"loft_ratios"`
}

// target is one of the goals and whether this run met it.
type target struct {
	Workload string `json:"workload"`
	Goal     string `json:"goal"`
	Verdict  string `json:"verdict"` // "yes", "no", or "n/a: why"
	Detail   string `json:"detail,omitempty"`
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summarize fills in medians, ratios and targets.
func (r *report) summarize() {
	for _, w := range r.Workloads {
		w.Medians = map[string]map[string]float64{}
		w.Ratios = map[string]map[string]float64{}
		for _, b := range r.Brokers {
			for _, m := range w.Metrics {
				var xs []float64
				for _, rr := range w.Runs {
					if v, ok := rr.Values[m.Key]; ok && rr.Broker == b.Name && rr.Error == "" {
						xs = append(xs, v)
					}
				}
				if len(xs) == 0 {
					continue
				}
				if w.Medians[b.Name] == nil {
					w.Medians[b.Name] = map[string]float64{}
				}
				w.Medians[b.Name][m.Key] = median(xs)
			}
		}
		for _, b := range r.Brokers {
			if b.Name == "loft" || w.Medians[b.Name] == nil {
				continue
			}
			for k, v := range w.Medians[b.Name] {
				if l, ok := w.Medians["loft"][k]; ok && v != 0 {
					if w.Ratios[b.Name] == nil {
						w.Ratios[b.Name] = map[string]float64{}
					}
					w.Ratios[b.Name][k] = l / v
				}
			}
		}
	}
	r.Targets = r.targets()
}

func (r *report) workload(name string) *workloadResult {
	for _, w := range r.Workloads {
		if w.Name == name {
			return w
		}
	}
	return nil
}

func (r *report) label(name string) string {
	for _, b := range r.Brokers {
		if b.Name == name {
			return b.Label
		}
	}
	return name
}

// targets judges the goals on the medians: workloads 1–3, Loft at
// least 2× RabbitMQ classic queues and 1× NATS JetStream while fsyncing
// before every acknowledgement; workload 4 at 5,000 msg/s, Loft's p99
// below every other broker's and below 1 ms.
func (r *report) targets() []target {
	var ts []target
	compare := func(w *workloadResult, key, other string, factor float64, higher bool) target {
		t := target{Workload: w.Name}
		if higher {
			t.Goal = fmt.Sprintf("Loft %s ≥ %g× %s, fsyncing before every ack", key, factor, r.label(other))
		} else {
			t.Goal = fmt.Sprintf("Loft %s below %s's", key, r.label(other))
		}
		l, lok := w.Medians["loft"][key]
		o, ook := w.Medians[other][key]
		switch {
		case !lok:
			t.Verdict = "n/a: Loft not measured"
		case !ook:
			t.Verdict = "n/a: " + other + " not measured"
		case higher:
			t.Verdict = yesNo(l >= factor*o)
			t.Detail = fmt.Sprintf("%s ÷ %s = %.2f×", format(l), format(o), l/o)
		default:
			t.Verdict = yesNo(l < o)
			t.Detail = fmt.Sprintf("%s vs %s µs", format(l), format(o))
		}
		return t
	}
	for _, name := range workloadGroups["throughput"] {
		if w := r.workload(name); w != nil {
			ts = append(ts, compare(w, msgsPerSec.Key, "rabbitmq", 2, true), compare(w, msgsPerSec.Key, "nats", 1, true))
			if t, ok := r.ceiling(w); ok {
				ts = append(ts, t)
			}
		}
	}
	if w := r.workload("latency-5000"); w != nil {
		for _, b := range r.Brokers {
			if b.Name != "loft" && !b.Reference {
				ts = append(ts, compare(w, p99.Key, b.Name, 0, false))
			}
		}
		t := target{Workload: w.Name, Goal: "Loft p99 µs below 1 ms"}
		if l, ok := w.Medians["loft"][p99.Key]; ok {
			t.Verdict, t.Detail = yesNo(l < 1000), format(l)+" µs"
		} else {
			t.Verdict = "n/a: Loft not measured"
		}
		ts = append(ts, t)
	}
	return ts
}

// ceiling is the row that says whether the 1× NATS target is within reach
// of AMQP on this machine at all: whether the null broker, which stores
// nothing, beats NATS JetStream, and how close Loft comes to it.
func (r *report) ceiling(w *workloadResult) (target, bool) {
	null, nok := w.Medians["amqp-null"][msgsPerSec.Key]
	nats, sok := w.Medians["nats"][msgsPerSec.Key]
	if !nok || !sok {
		return target{}, false
	}
	t := target{Workload: w.Name, Goal: "limit: AMQP null broker (stores nothing) msg/s ≥ 1× NATS JetStream",
		Verdict: yesNo(null >= nats),
		Detail:  fmt.Sprintf("%s ÷ %s = %.2f×", format(null), format(nats), null/nats)}
	if l, ok := w.Medians["loft"][msgsPerSec.Key]; ok {
		t.Detail += fmt.Sprintf("; Loft reaches %.2f× of the null broker", l/null)
	}
	return t, true
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// format prints a figure with thousands separators, and two decimals
// below 100.
func format(v float64) string {
	if math.Abs(v) < 100 {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && c != '-' && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// print writes the tables: medians and ratios, verification, durability
// and targets.
func (r *report) print(out io.Writer) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	head := []string{"workload", "metric"}
	var others []*brokerInfo
	for _, b := range r.Brokers {
		head = append(head, b.Label)
		if b.Name != "loft" {
			others = append(others, b)
		}
	}
	for _, b := range others {
		head = append(head, "Loft/"+b.Name)
	}
	fmt.Fprintf(out, "Medians of %d run(s), scale %g; ratios are Loft's median over the other's.\n\n", r.Runs, r.Scale)
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, w := range r.Workloads {
		for _, m := range w.Metrics {
			row := []string{w.Name, m.Key}
			for _, b := range r.Brokers {
				row = append(row, cell(b, w.Medians[b.Name], m.Key, format))
			}
			for _, b := range others {
				row = append(row, cell(b, w.Ratios[b.Name], m.Key, func(v float64) string { return fmt.Sprintf("%.2f×", v) }))
			}
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		}
	}
	tw.Flush()

	fmt.Fprintln(out, "\nVerification (every run; missing = acknowledged but never received, per queue):")
	for _, w := range r.Workloads {
		for _, b := range r.Brokers {
			s := w.check(b.Name)
			if s.runs == 0 {
				continue
			}
			fmt.Fprintf(out, "  %-16s %-16s %d/%d runs ok, %d missing, %d duplicates\n", w.Name, b.Name, s.ok, s.runs, s.missing, s.duplicates)
			for _, e := range s.errs {
				fmt.Fprintf(out, "      %s\n", e)
			}
		}
	}

	fmt.Fprintln(out, "\nBrokers:")
	for _, b := range r.Brokers {
		switch {
		case b.Skipped != "":
			fmt.Fprintf(out, "  %-16s skipped: %s\n", b.Name, b.Skipped)
		default:
			fsync := "fsyncs before every ack"
			switch {
			case b.Reference:
				fsync = "reference, not a competitor"
			case !b.FsyncBeforeAck:
				fsync = "does NOT fsync before acking"
			}
			fmt.Fprintf(out, "  %-16s %s; %s: %s\n", b.Name, b.Version, fsync, b.Durability)
		}
	}

	if len(r.Targets) > 0 {
		fmt.Fprintln(out, "\nTargets:")
		for _, t := range r.Targets {
			fmt.Fprintf(out, "  %-16s %-62s %-4s %s\n", t.Workload, t.Goal, t.Verdict, t.Detail)
		}
	}
	if r.Failed {
		fmt.Fprintln(out, "\nFAILED: see the verification above.")
	}
}

// checked sums up one broker's runs of one workload.
type checked struct {
	runs, ok            int
	missing, duplicates int
	errs                []string // "run N: first line of the error"
}

func (w *workloadResult) check(broker string) checked {
	var c checked
	for _, rr := range w.Runs {
		if rr.Broker != broker {
			continue
		}
		c.runs++
		c.missing += rr.Missing
		c.duplicates += rr.Duplicates
		if rr.Error == "" {
			c.ok++
		} else {
			c.errs = append(c.errs, fmt.Sprintf("run %d: %s", rr.Run, firstLine(rr.Error)))
		}
	}
	return c
}

func cell(b *brokerInfo, values map[string]float64, key string, f func(float64) string) string {
	if v, ok := values[key]; ok {
		return f(v)
	}
	if b.Skipped != "" {
		return "skipped"
	}
	return "-"
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// writeJSON writes the report to path.
func (r *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
