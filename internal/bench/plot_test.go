package bench_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/bench"
)

// svgElement is an element of the plot with the attributes the test reads.
type svgElement struct {
	name  string
	class string
	id    string
	text  string // character data directly inside it
}

// parseSVG checks that the document is well-formed XML with an svg root and
// returns its elements in document order.
func parseSVG(t *testing.T, doc []byte) []svgElement {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	var (
		elems []svgElement
		open  []int // indexes into elems
	)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the plot is not well-formed XML: %v\n%s", err, doc)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := svgElement{name: tok.Name.Local}
			for _, a := range tok.Attr {
				switch a.Name.Local {
				case "class":
					e.class = a.Value
				case "id":
					e.id = a.Value
				}
			}
			if len(elems) == 0 && (e.name != "svg" || tok.Name.Space != "http://www.w3.org/2000/svg") {
				t.Fatalf("root element %v, want svg in the SVG namespace", tok.Name)
			}
			elems = append(elems, e)
			open = append(open, len(elems)-1)
		case xml.EndElement:
			open = open[:len(open)-1]
		case xml.CharData:
			if len(open) > 0 {
				elems[open[len(open)-1]].text += string(tok)
			}
		}
	}
	if len(elems) == 0 {
		t.Fatal("empty plot")
	}
	return elems
}

func TestWritePlotSVG(t *testing.T) {
	rep := sampleReport()
	// A second rate scenario, whose name needs escaping.
	rep.Scenarios = append(rep.Scenarios, bench.ScenarioReport{
		Name: "multicast-4<&>",
		Metrics: []bench.MetricReport{{
			Name: "frames_per_s", Unit: "frames/s", Better: "higher", Datapath: "ring",
			Snoopswitch: bench.Summarize([]float64{150_000, 170_000}),
			LinuxBridge: bench.Summarize([]float64{250_000, 260_000}),
			Ratio:       bench.Summarize([]float64{0.6, 0.65}),
		}, {
			Name: "frames_per_s", Unit: "frames/s", Better: "higher", Datapath: "fast",
			Snoopswitch: bench.Summarize([]float64{300_000, 340_000}),
			LinuxBridge: bench.Summarize([]float64{250_000, 260_000}),
			Ratio:       bench.Summarize([]float64{1.2, 1.3}),
		}},
	})
	var b bytes.Buffer
	if err := rep.WritePlotSVG(&b); err != nil {
		t.Fatal(err)
	}
	elems := parseSVG(t, b.Bytes())

	bars := map[string]int{}
	var scenario string
	var scenarios, ratios []string
	texts := map[string]bool{}
	for _, e := range elems {
		switch {
		case e.class == "scenario":
			scenario = e.id
			scenarios = append(scenarios, e.id)
		case e.class == "bar":
			bars[scenario]++
		case e.class == "ratio":
			ratios = append(ratios, e.text)
		}
		if e.name == "text" {
			texts[e.text] = true
		}
	}
	// ping has no frame rate and is left out.
	if want := []string{"unicast-64", "multicast-4<&>"}; strings.Join(scenarios, ",") != strings.Join(want, ",") {
		t.Errorf("plotted scenarios %q, want %q", scenarios, want)
	}
	for _, s := range scenarios {
		if bars[s] != 3 {
			t.Errorf("%s: %d bars, want 3 (snoopswitch ring and fast, and the Linux bridge)", s, bars[s])
		}
	}
	// A ratio above each datapath's bar, none above the bridge's.
	if want := []string{"×1.10", "×1.17", "×0.62", "×1.25"}; strings.Join(ratios, ",") != strings.Join(want, ",") {
		t.Errorf("ratios %q, want %q", ratios, want)
	}
	for _, want := range []string{"snoopswitch ring", "snoopswitch fast", "Linux bridge", "kframes/s", "unicast-64", "multicast-4<&>", "1100", "1170", "1000", "160", "320", "255"} {
		if !texts[want] {
			t.Errorf("no text %q in the plot", want)
		}
	}
}

func TestWritePlotSVGNoRates(t *testing.T) {
	rep := sampleReport()
	rep.Scenarios = rep.Scenarios[1:] // ping alone
	var b bytes.Buffer
	if err := rep.WritePlotSVG(&b); err == nil {
		t.Errorf("a plot of ping alone: no error, wrote\n%s", b.String())
	}
}
