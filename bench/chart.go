package main

import (
	"errors"
	"fmt"
	"math"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var errNothingToChart = errors.New("bench: nothing to chart: no median of the throughput, fanout or latency workloads")

// panel is one bar chart of the PNG: a group of bars per workload, a bar
// per broker.
type panel struct {
	title, yLabel string
	metric        string
	scale         float64 // the metric's unit over the axis's: 1000 for µs shown as ms
	groups        []struct{ workload, label string }
}

var panels = []panel{
	{
		title:  "Throughput, end to end (higher is better)",
		yLabel: "msg/s",
		metric: msgsPerSec.Key,
		scale:  1,
		groups: []struct{ workload, label string }{
			{"throughput-1KiB", "1 KiB, 1 → 1"},
			{"throughput-16B", "16 B, 1 → 1"},
			{"throughput-4x4", "1 KiB, 4 → 4"},
			{"fanout", "1 KiB, fanout to 10 queues"},
		},
	},
	{
		title:  "p99 latency at a fixed rate, 1 KiB (lower is better)",
		yLabel: "p99 latency, ms",
		metric: p99.Key,
		scale:  1000,
		groups: []struct{ workload, label string }{
			{"latency-1000", "1,000 msg/s"},
			{"latency-5000", "5,000 msg/s"},
			{"latency-20000", "20,000 msg/s"},
		},
	},
}

// Chart size: 96 dpi, 8 × 4.5 in per panel, 768 × 432 pixels.
const (
	chartDPI    = 96
	chartWidth  = 8 * vg.Inch
	panelHeight = 4.5 * vg.Inch
)

// writeChart draws the panels that have figures, one above the other, into
// a PNG at path. A broker keeps its colour in every panel; a missing
// median (a failed or absent run) leaves a gap.
func (r *report) writeChart(path string) error {
	var plots []*plot.Plot
	for _, pn := range panels {
		if p := r.barPlot(pn); p != nil {
			plots = append(plots, p)
		}
	}
	if len(plots) == 0 {
		return errNothingToChart
	}
	c := vgimg.NewWith(vgimg.UseWH(chartWidth, panelHeight*vg.Length(len(plots))), vgimg.UseDPI(chartDPI))
	dc := draw.New(c)
	pad := vg.Points(10)
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadTop: pad, PadBottom: pad, PadLeft: pad, PadRight: pad, PadY: 2 * pad}
	for i, p := range plots {
		p.Draw(tiles.At(dc, 0, i))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = vgimg.PngCanvas{Canvas: c}.WriteTo(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("bench: chart: %w", err)
	}
	return nil
}

// barPlot returns pn's grouped bars, or nil when no broker has a figure
// for it.
func (r *report) barPlot(pn panel) *plot.Plot {
	type series struct {
		colour int
		label  string
		values plotter.Values
	}
	var ss []series
	top := 0.0
	for i, b := range r.Brokers {
		s := series{colour: i, label: b.Label}
		has := false
		for _, g := range pn.groups {
			v, ok := 0.0, false
			if w := r.workload(g.workload); w != nil {
				v, ok = w.Medians[b.Name][pn.metric]
			}
			has = has || ok
			s.values = append(s.values, v/pn.scale)
			top = math.Max(top, v/pn.scale)
		}
		if has && b.Skipped == "" {
			ss = append(ss, s)
		}
	}
	if len(ss) == 0 {
		return nil
	}

	p := plot.New()
	p.Title.Text = pn.title
	p.Y.Label.Text = pn.yLabel
	p.Y.Tick.Marker = thousandsTicks{}
	var names []string
	for _, g := range pn.groups {
		names = append(names, g.label)
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.5, float64(len(names))-0.5 // each group centred in its share of the width
	p.Legend.Top = true

	// About 70% of the plot's width is bars, the rest gaps between groups.
	width := vg.Points(0.7 * 500 / float64(len(pn.groups)*len(ss)))
	for i, s := range ss {
		bars, err := plotter.NewBarChart(s.values, width)
		if err != nil { // only for NaN or infinite values, which JSON cannot hold
			continue
		}
		bars.Color = plotutil.Color(s.colour)
		bars.LineStyle.Width = 0
		bars.Offset = width * vg.Length(float64(i)-float64(len(ss)-1)/2)
		p.Add(bars)
		p.Legend.Add(s.label, bars)
		if l := valueLabels(s.values, bars.Offset); l != nil {
			p.Add(l)
		}
	}
	// Room above the tallest bar for its label and for the legend.
	p.Y.Min, p.Y.Max = 0, top*1.35
	if top == 0 {
		p.Y.Max = 1
	}
	return p
}

// valueLabels prints each bar's figure above it.
func valueLabels(values plotter.Values, offset vg.Length) *plotter.Labels {
	xys := plotter.XYLabels{}
	for i, v := range values {
		if v == 0 {
			continue
		}
		xys.XYs = append(xys.XYs, plotter.XY{X: float64(i), Y: v})
		xys.Labels = append(xys.Labels, compact(v))
	}
	if len(xys.XYs) == 0 {
		return nil
	}
	l, err := plotter.NewLabels(xys)
	if err != nil {
		return nil
	}
	for i := range l.TextStyle {
		l.TextStyle[i].Font.Size = vg.Points(7)
		l.TextStyle[i].XAlign = draw.XCenter
	}
	l.Offset = vg.Point{X: offset, Y: vg.Points(2)}
	return l
}

// compact writes a bar's figure in a few characters: 59k, 1.4k, 6.9, 0.93.
func compact(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v >= 10:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// thousandsTicks labels the axis 20,000 rather than 20000.
type thousandsTicks struct{}

func (thousandsTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i, t := range ts {
		if t.Label != "" && math.Abs(t.Value) >= 1000 {
			ts[i].Label = format(t.Value)
		}
	}
	return ts
}
