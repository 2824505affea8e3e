package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// The plot's geometry, in SVG user units (pixels).
const (
	plotLeft      = 70 // room for the axis labels
	plotRight     = 20
	plotTop       = 84 // title, legend and the ratio above a bar that reaches the top
	plotBottom    = 60 // scenario names
	plotHeight    = 260
	plotBar       = 42
	plotBarGap    = 8
	plotGroupPad  = 30 // between scenarios
	plotTicks     = 5  // about as many grid lines
	colourBridge  = "#dd8452"
	colourWhisker = "#333333"
)

// datapathColours are the bars' colours of snoopswitch's datapaths.
var datapathColours = map[string]string{DatapathRing: "#2b6cb0", DatapathFast: "#38a169"}

// plotSeries is one bar of each scenario: snoopswitch on a datapath (with
// its ratio to the bridge above it), or the Linux bridge.
type plotSeries struct {
	name, colour string
	bridge       bool
	datapath     string // snoopswitch's
}

// WritePlotSVG draws the scenarios that have a frame rate as grouped bars:
// for each, snoopswitch's median kframes/s on each datapath and the Linux
// bridge's, a whisker from the lowest to the highest kept run, and above
// each snoopswitch bar its median ratio to the bridge. The axis is linear
// from 0. Scenarios without a frame rate (tcp, ping) are left out; with
// none at all it is an error.
func (r *Report) WritePlotSVG(w io.Writer) error {
	type group struct {
		name    string
		metrics map[string]MetricReport // by datapath
		bridge  Summary
	}
	var series []plotSeries
	var groups []group
	top := 0.0
	for _, s := range r.Scenarios {
		g := group{name: s.Name, metrics: map[string]MetricReport{}}
		for _, m := range s.Metrics {
			if m.Name != metricRate.name {
				continue
			}
			if !slices.ContainsFunc(series, func(p plotSeries) bool { return !p.bridge && p.datapath == m.Datapath }) {
				colour, ok := datapathColours[m.Datapath]
				if !ok {
					colour = datapathColours[DatapathRing]
				}
				series = append(series, plotSeries{name: strings.TrimSpace("snoopswitch " + m.Datapath), colour: colour, datapath: m.Datapath})
			}
			g.metrics[m.Datapath] = m
			g.bridge = m.LinuxBridge
			top = math.Max(top, math.Max(m.Snoopswitch.Max, m.LinuxBridge.Max))
		}
		if len(g.metrics) > 0 {
			groups = append(groups, g)
		}
	}
	if len(groups) == 0 {
		return errors.New("bench: plot: no scenario with a frame rate to plot (tcp and ping have none)")
	}
	series = append(series, plotSeries{name: "Linux bridge", colour: colourBridge, bridge: true})
	plotGroup := len(series)*(plotBar+plotBarGap) - plotBarGap + plotGroupPad
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
	for i, ps := range series {
		x := plotLeft + 150*i
		fmt.Fprintf(&b, `<rect x="%d" y="48" width="12" height="12" fill="%s"/>`, x, ps.colour)
		fmt.Fprintf(&b, `<text x="%d" y="58">%s</text>`+"\n", x+18, esc(ps.name))
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
		x0 := plotLeft + plotGroup*i + plotGroupPad/2
		fmt.Fprintf(&b, `<g class="scenario" id="%s">`+"\n", esc(g.name))
		for j, ps := range series {
			s := g.bridge
			m, ok := g.metrics[ps.datapath]
			ok = ok && !ps.bridge
			if !ps.bridge {
				if !ok {
					continue // this scenario was not measured on that datapath
				}
				s = m.Snoopswitch
			}
			x := float64(x0 + j*(plotBar+plotBarGap))
			med := s.Median / 1e3
			fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%d" height="%.1f" fill="%s"><title>%s %s: %.0f kframes/s (runs %.0f..%.0f)</title></rect>`+"\n",
				x, y(med), plotBar, y(0)-y(med), ps.colour, esc(g.name), esc(ps.name), med, s.Min/1e3, s.Max/1e3)
			cx := x + plotBar/2
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", cx, y(s.Min/1e3), cx, y(s.Max/1e3), colourWhisker)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%.0f</text>`+"\n", cx, y(s.Max/1e3)-4, med)
			if ok {
				fmt.Fprintf(&b, `<text class="ratio" x="%.1f" y="%.1f" text-anchor="middle" font-weight="bold">×%.2f</text>`+"\n", cx, y(s.Max/1e3)-18, m.Ratio.Median)
			}
		}
		cx := float64(x0) + float64(plotGroup-plotGroupPad)/2
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
