package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// The plot's geometry, in SVG user units (pixels).
const (
	plotLeft      = 70 // room for the axis labels
	plotRight     = 20
	plotTop       = 84  // title, legend and the ratio above a bar that reaches the top
	plotBottom    = 60  // scenario names
	plotHeight    = 260 // of the bars' area
	plotGroup     = 130 // width per scenario
	plotBar       = 42
	plotBarGap    = 8
	plotTicks     = 5 // about as many grid lines
	colourSwitch  = "#2b6cb0"
	colourBridge  = "#dd8452"
	colourWhisker = "#333333"
)

// plotSeries are the bars of each scenario, in order.
var plotSeries = []struct {
	name, colour string
	summary      func(MetricReport) Summary
}{
	{"snoopswitch", colourSwitch, func(m MetricReport) Summary { return m.Snoopswitch }},
	{"Linux bridge", colourBridge, func(m MetricReport) Summary { return m.LinuxBridge }},
}

// WritePlotSVG draws the scenarios that have a frame rate as grouped bars:
// for each, snoopswitch's and the Linux bridge's median kframes/s, a
// whisker from the lowest to the highest kept run, and the median ratio
// above the pair. The axis is linear from 0. Scenarios without a frame rate
// (ping) are left out; with none at all it is an error.
func (r *Report) WritePlotSVG(w io.Writer) error {
	type group struct {
		name   string
		metric MetricReport
	}
	var groups []group
	top := 0.0
	for _, s := range r.Scenarios {
		for _, m := range s.Metrics {
			if m.Name != metricRate.name {
				continue
			}
			groups = append(groups, group{s.Name, m})
			for _, series := range plotSeries {
				top = math.Max(top, series.summary(m).Max)
			}
		}
	}
	if len(groups) == 0 {
		return errors.New("bench: plot: no scenario with a frame rate to plot (ping has none)")
	}
	step := niceStep(top/1e3, plotTicks)
	axisMax := math.Max(step, math.Ceil(top/1e3/step)*step) // kframes/s
	if axisMax < 1.08*top/1e3 {
		axisMax += step // room for the labels above the highest bar
	}
	y := func(kfps float64) float64 { return plotTop + plotHeight*(1-kfps/axisMax) }

	width := plotLeft + plotGroup*len(groups) + plotRight
	height := plotTop + plotHeight + plotBottom
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	title := fmt.Sprintf("Frames/s delivered per receiver, median of %d pairs (ratio: snoopswitch / Linux bridge)", r.Settings.Pairs)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", plotLeft, esc(title))
	sub := fmt.Sprintf("%s; %d CPUs, kernel %s, %s", r.Started.Format("2006-01-02"), r.Machine.CPUs, r.Machine.Kernel, r.Command)
	if r.Settings.Quick {
		sub += " (quick: rough figures)"
	}
	fmt.Fprintf(&b, `<text x="%d" y="38" font-size="11" fill="#555555">%s</text>`+"\n", plotLeft, esc(sub))
	// Legend.
	for i, series := range plotSeries {
		x := plotLeft + 150*i
		fmt.Fprintf(&b, `<rect x="%d" y="48" width="12" height="12" fill="%s"/>`, x, series.colour)
		fmt.Fprintf(&b, `<text x="%d" y="58">%s</text>`+"\n", x+18, esc(series.name))
	}
	// Axis and grid.
	for v := 0.0; v <= axisMax+step/2; v += step {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#dddddd"/>`, plotLeft, y(v), width-plotRight, y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", plotLeft-6, y(v)+4, formatTick(v))
	}
	fmt.Fprintf(&b, `<text transform="translate(16 %d) rotate(-90)" text-anchor="middle">kframes/s</text>`+"\n", plotTop+plotHeight/2)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", plotLeft, plotTop, plotLeft, plotTop+plotHeight)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", plotLeft, plotTop+plotHeight, width-plotRight, plotTop+plotHeight)
	// Bars.
	for i, g := range groups {
		x0 := plotLeft + plotGroup*i + (plotGroup-2*plotBar-plotBarGap)/2
		fmt.Fprintf(&b, `<g class="scenario" id="%s">`+"\n", esc(g.name))
		for j, series := range plotSeries {
			s := series.summary(g.metric)
			x := float64(x0 + j*(plotBar+plotBarGap))
			med := s.Median / 1e3
			fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%d" height="%.1f" fill="%s"><title>%s %s: %.0f kframes/s (runs %.0f..%.0f)</title></rect>`+"\n",
				x, y(med), plotBar, y(0)-y(med), series.colour, esc(g.name), esc(series.name), med, s.Min/1e3, s.Max/1e3)
			cx := x + plotBar/2
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", cx, y(s.Min/1e3), cx, y(s.Max/1e3), colourWhisker)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%.0f</text>`+"\n", cx, y(s.Max/1e3)-4, med)
		}
		cx := float64(x0) + plotBar + plotBarGap/2.0
		ratioY := y(math.Max(g.metric.Snoopswitch.Max, g.metric.LinuxBridge.Max)/1e3) - 18
		fmt.Fprintf(&b, `<text class="ratio" x="%.1f" y="%.1f" text-anchor="middle" font-weight="bold">×%.2f</text>`+"\n", cx, ratioY, g.metric.Ratio.Median)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", cx, plotTop+plotHeight+18, esc(g.name))
		b.WriteString("</g>\n")
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// niceStep returns a step of 1, 2 or 5 times a power of ten that divides
// 0..top into about n intervals.
func niceStep(top float64, n int) float64 {
	if top <= 0 {
		return 1
	}
	raw := top / float64(n)
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*pow >= raw {
			return m * pow
		}
	}
	return 10 * pow
}

func formatTick(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}

// esc escapes text for SVG content and attribute values.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
