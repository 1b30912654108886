package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The results section of docs/BENCHMARKS.md lies between these two lines.
// Everything outside them is written by hand and left byte for byte.
const (
	beginMarker = "<!-- bench:begin -->"
	endMarker   = "<!-- bench:end -->"
)

var errMarkers = errors.New("bench: markers")

// readReport loads results written by -out.
func readReport(path string) (*report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("bench: %s: %w", path, err)
	}
	return &r, nil
}

// render writes the chart (when chart is not empty) and then the marked
// section of the Markdown file doc (when doc is not empty), embedding the
// chart by its path relative to doc. The figures are taken from r as they
// are: nothing is recomputed, so that the doc says what the JSON says.
func (r *report) render(doc, chart string) error {
	if chart != "" {
		if err := r.writeChart(chart); err != nil {
			return err
		}
	}
	if doc == "" {
		return nil
	}
	old, err := os.ReadFile(doc)
	if err != nil {
		return err
	}
	embed := ""
	if chart != "" {
		embed = filepath.ToSlash(chart)
		if rel, err := relativeTo(doc, chart); err == nil {
			embed = rel
		}
	}
	updated, err := splice(old, r.markdown(embed))
	if err != nil {
		return fmt.Errorf("%w (%s)", err, doc)
	}
	return writeFileAtomic(doc, updated)
}

// relativeTo returns target's path from the directory holding doc, with
// forward slashes, as Markdown wants it.
func relativeTo(doc, target string) (string, error) {
	d, err := filepath.Abs(filepath.Dir(doc))
	if err != nil {
		return "", err
	}
	t, err := filepath.Abs(target)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(d, t)
	return filepath.ToSlash(rel), err
}

// writeFileAtomic replaces path by data through a temporary file in the
// same directory, so that an error never leaves half a doc behind.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".bench-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// splice replaces the lines from beginMarker to endMarker (both
// included) by section, which starts and ends with them. Without either
// marker, the section goes in front of the document's second top-level
// heading, after the title's own section (at the end when there is no
// such heading). One marker without the other, or either twice, is an
// error: a hand edit went wrong, and guessing could delete prose.
func splice(doc []byte, section string) ([]byte, error) {
	s := string(doc)
	var begins, ends []int // line starts
	h1 := -1               // the second "# " heading outside code blocks
	seenTitle, fenced := false, false
	for at := 0; at < len(s); {
		line, next := s[at:], len(s)
		if i := strings.IndexByte(line, '\n'); i >= 0 {
			line, next = line[:i], at+i+1
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == beginMarker:
			begins = append(begins, at)
		case trimmed == endMarker:
			ends = append(ends, at)
		case strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~"):
			fenced = !fenced
		case !fenced && strings.HasPrefix(line, "# "):
			if seenTitle && h1 < 0 {
				h1 = at
			}
			seenTitle = true
		}
		at = next
	}

	switch {
	case len(begins) == 1 && len(ends) == 1 && begins[0] < ends[0]:
		end := ends[0] + strings.Index(s[ends[0]:], endMarker) + len(endMarker)
		return []byte(s[:begins[0]] + section + s[end:]), nil
	case len(begins) > 0 || len(ends) > 0:
		return nil, fmt.Errorf("%w: want one %q line and, after it, one %q line; found %d and %d",
			errMarkers, beginMarker, endMarker, len(begins), len(ends))
	case h1 >= 0:
		return []byte(s[:h1] + section + "\n\n" + s[h1:]), nil
	default:
		if s != "" && !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		return []byte(s + "\n" + section + "\n"), nil
	}
}

// markdown returns the results section, markers included, without a
// final newline. chart is the PNG's path relative to the doc, or "".
func (r *report) markdown(chart string) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("%s\n", beginMarker)
	p("<!-- Written by `bench -render` (bench/render.go) from the JSON results: edits between these markers are lost. -->\n\n")
	p("# Loft, RabbitMQ and NATS JetStream side by side (issue 7)\n\n")

	when := r.Started.UTC().Format("2006-01-02 15:04")
	if !r.Finished.IsZero() {
		when += "–" + r.Finished.UTC().Format("15:04")
	}
	commit := ""
	if r.Machine.Commit != "" {
		commit = " on commit " + r.Machine.Commit
	}
	p("Run of %s UTC%s: medians of %d run(s) at scale %g, every broker started fresh on loopback "+
		"for each run, on the same machine. `go doc ./bench` describes every workload and setting. "+
		"The command (`bench` is `go run ./bench`, or `bin/bench` under `make bench`):\n\n", when, commit, r.Runs, r.Scale)
	p("```sh\n%s\n```\n\n", r.Command)
	if r.Interrupted {
		p("**Interrupted** before every run was done: the figures cover the runs that finished.\n\n")
	}
	if r.Failed {
		p("**Some runs failed** (an error, or an acknowledged message missing): see Verification. " +
			"Medians are over the runs that passed.\n\n")
	}
	if chart != "" {
		p("![Throughput (msg/s) and p99 latency (ms) per broker](%s)\n\n", chart)
	}

	r.machineMarkdown(p)
	r.brokersMarkdown(p)
	r.resultsMarkdown(p)
	r.verificationMarkdown(p)
	r.targetsMarkdown(p)
	b.WriteString(endMarker)
	return b.String()
}

type printer func(format string, args ...any)

func (r *report) machineMarkdown(p printer) {
	m := r.Machine
	p("## Machine\n\n")
	cpu := fmt.Sprintf("%d CPUs", m.CPUs)
	if m.CPUModel != "" {
		cpu += " (" + m.CPUModel + ")"
	}
	if mem := memGiB(m.MemTotal); mem != "" {
		cpu += ", " + mem + " RAM"
	}
	p("- %s\n", cpu)
	var sys []string
	for _, s := range []string{prefixed("Linux ", m.Kernel), m.OS, strings.TrimSpace(m.Go + " " + m.Arch)} {
		if s != "" {
			sys = append(sys, s)
		}
	}
	if len(sys) > 0 {
		p("- %s\n", strings.Join(sys, ", "))
	}
	if m.DataDir != "" {
		p("- data directories under `%s`", m.DataDir)
		if m.DataFS != "" {
			p(" (`df -T`: `%s`)", m.DataFS)
		}
		p("\n")
	}
	if len(m.Clients) > 0 {
		var cs []string
		for _, path := range slices.Sorted(maps.Keys(m.Clients)) {
			cs = append(cs, path+" "+m.Clients[path])
		}
		p("- clients: %s\n", strings.Join(cs, ", "))
	}
	p("\n")
}

func (r *report) brokersMarkdown(p printer) {
	p("## Brokers\n\n")
	p("| broker | version | fsyncs before acknowledging | what an acknowledgement means |\n|---|---|---|---|\n")
	var unsynced []string
	for _, b := range r.Brokers {
		if b.Skipped != "" {
			p("| %s | skipped: %s | | |\n", b.Label, escapeCell(b.Skipped))
			continue
		}
		fsync := "yes"
		switch {
		case b.Reference:
			fsync = "n/a: a reference that stores nothing"
		case !b.FsyncBeforeAck:
			fsync = "**no**"
			unsynced = append(unsynced, b.Label)
		}
		p("| %s | %s | %s | %s |\n", b.Label, escapeCell(b.Version), fsync, escapeCell(b.Durability))
	}
	p("\n")
	if len(unsynced) > 0 {
		p("%s %s messages before they are on disk: a crash can lose what they acknowledged, "+
			"which Loft's figures do not allow.\n\n", strings.Join(unsynced, " and "), plural(len(unsynced), "acknowledges", "acknowledge"))
	}
}

// measured returns the brokers that ran the workload, skipped ones left
// out (the Brokers table says why).
func (r *report) measured(w *workloadResult) []*brokerInfo {
	var bs []*brokerInfo
	for _, b := range r.Brokers {
		if b.Skipped == "" && w.check(b.Name).runs > 0 {
			bs = append(bs, b)
		}
	}
	return bs
}

func (r *report) resultsMarkdown(p printer) {
	p("## Results\n\n")
	p("Medians over the runs that passed. Loft/other is Loft's median over the other broker's: " +
		"above 1 is better for Loft where higher is better (msg/s, MB/s), below 1 where lower is better " +
		"(µs, MiB).\n\n")
	for _, w := range r.Workloads {
		p("### %s\n\n", w.Name)
		if w.Description != "" {
			p("%s.\n\n", strings.TrimSuffix(w.Description, "."))
		}
		bs := r.measured(w)
		if len(bs) == 0 {
			p("No broker ran it.\n\n")
			continue
		}
		head := []string{"metric"}
		var others []*brokerInfo
		for _, b := range bs {
			head = append(head, b.Label)
			if b.Name != "loft" {
				others = append(others, b)
			}
		}
		_, loftRan := w.Medians["loft"]
		if !loftRan {
			others = nil
		}
		for _, b := range others {
			head = append(head, "Loft/"+b.Label)
		}
		p("| %s |\n|---|%s\n", strings.Join(head, " | "), strings.Repeat("--:|", len(head)-1))
		for _, m := range w.Metrics {
			row := []string{m.Key}
			for _, b := range bs {
				row = append(row, mdCell(w, b.Name, w.Medians[b.Name], m.Key, format))
			}
			for _, b := range others {
				row = append(row, mdCell(w, b.Name, w.Ratios[b.Name], m.Key, func(v float64) string {
					return fmt.Sprintf("%.2f×", v)
				}))
			}
			p("| %s |\n", strings.Join(row, " | "))
		}
		p("\n")
	}
}

// mdCell is a table cell: the value, "failed" when every run of the
// broker failed, "-" when there is no figure otherwise.
func mdCell(w *workloadResult, broker string, values map[string]float64, key string, f func(float64) string) string {
	if v, ok := values[key]; ok {
		return f(v)
	}
	if c := w.check(broker); c.runs > 0 && c.ok == 0 {
		return "failed"
	}
	return "-"
}

func (r *report) verificationMarkdown(p printer) {
	p("## Verification\n\n")
	var runs, failed, missing, dups int
	var errs []string
	var bs []*brokerInfo
	for _, b := range r.Brokers {
		if b.Skipped == "" {
			bs = append(bs, b)
		}
	}
	head := []string{"workload"}
	for _, b := range bs {
		head = append(head, b.Label)
	}
	var rows strings.Builder
	for _, w := range r.Workloads {
		row := []string{w.Name}
		for _, b := range bs {
			c := w.check(b.Name)
			runs += c.runs
			failed += c.runs - c.ok
			missing += c.missing
			dups += c.duplicates
			for _, e := range c.errs {
				errs = append(errs, fmt.Sprintf("%s on %s, %s", w.Name, b.Label, e))
			}
			if c.runs == 0 {
				row = append(row, "")
				continue
			}
			cell := fmt.Sprintf("%d/%d ok, %d missing, %d dup.", c.ok, c.runs, c.missing, c.duplicates)
			if c.ok < c.runs || c.missing > 0 {
				cell = "**" + cell + "**"
			}
			row = append(row, cell)
		}
		fmt.Fprintf(&rows, "| %s |\n", strings.Join(row, " | "))
	}
	p("Every message carries its sequence number; a run fails on any error or on an acknowledged "+
		"message that never arrives (missing, per queue). Deliveries beyond the first are duplicates, "+
		"allowed by at-least-once. Over all %d runs: %d failed, %d missing, %d duplicates.\n\n", runs, failed, missing, dups)
	if runs == 0 {
		return
	}
	p("| %s |\n|---|%s\n%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)-1), rows.String())
	if len(errs) > 0 {
		p("Failures:\n\n")
		for _, e := range errs {
			p("- %s\n", strings.ReplaceAll(e, "\n", " "))
		}
		p("\n")
	}
}

func (r *report) targetsMarkdown(p printer) {
	p("## Targets\n\n")
	if len(r.Targets) == 0 {
		p("None judged: the workloads they need did not run.\n\n")
		return
	}
	p("Judged on the medians above.\n\n| workload | target | met | figures |\n|---|---|---|---|\n")
	for _, t := range r.Targets {
		verdict := t.Verdict
		if verdict == "no" {
			verdict = "**no**"
		}
		p("| %s | %s | %s | %s |\n", t.Workload, escapeCell(t.Goal), escapeCell(verdict), escapeCell(t.Detail))
	}
	p("\n")
}

// escapeCell keeps text from breaking a Markdown table row.
func escapeCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// memGiB turns /proc/meminfo's "24576000 kB" into "23.4 GiB".
func memGiB(s string) string {
	kb, ok := strings.CutSuffix(s, " kB")
	if n, err := strconv.ParseFloat(strings.TrimSpace(kb), 64); ok && err == nil {
		return fmt.Sprintf("%.1f GiB", n/(1<<20))
	}
	return s
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
