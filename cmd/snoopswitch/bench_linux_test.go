package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/bench"
	"github.com/snoopswitch/snoopswitch/switch/fastpath"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// TestBenchQuickLinux builds the binary and runs `bench --quick --json
// --pairs 1 --plot` on a namespace lab: the report must parse, measure
// both datapaths where the fast path loads, and every scenario (tcp and
// the two-sender one too) must have positive figures for snoopswitch on
// each datapath and for the bridge; the multicast scenarios must have held
// their groups and flooded nothing, the fast datapath must have forwarded
// frames in the kernel and the ring none, and the plot must be an SVG
// document. Speed is the benchmark's business, not the test's; one pair
// keeps the run within a few minutes.
func TestBenchQuickLinux(t *testing.T) {
	testenv.RequireRoot(t)
	bin := binary(t)

	wantDatapaths := []string{bench.DatapathRing, bench.DatapathFast}
	if d, err := fastpath.Load(1); err != nil {
		t.Logf("the fast path does not load here (%v): the bench should measure the ring alone", err)
		wantDatapaths = wantDatapaths[:1]
	} else if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	plot := filepath.Join(t.TempDir(), "bench.svg")
	cmd := exec.CommandContext(ctx, bin, "bench", "--quick", "--json", "--pairs", "1", "--plot", plot)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("snoopswitch bench --quick --json: %v\nstderr:\n%s", err, stderr.String())
	}
	t.Logf("progress:\n%s", stderr.String())

	var rep bench.Report
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("the report is not the documented JSON: %v\n%s", err, stdout.String())
	}
	if rep.Schema != bench.Schema || rep.Settings.Pairs != 1 || !rep.Settings.Quick {
		t.Errorf("schema %q, pairs %d, quick %v; want %q, 1, true", rep.Schema, rep.Settings.Pairs, rep.Settings.Quick, bench.Schema)
	}
	if !slices.Equal(rep.Settings.Datapaths, wantDatapaths) {
		t.Errorf("datapaths %q, want %q", rep.Settings.Datapaths, wantDatapaths)
	}
	var names []string
	for _, s := range rep.Scenarios {
		names = append(names, s.Name)
		if len(s.Metrics) == 0 {
			t.Errorf("%s: no metrics", s.Name)
		}
		var datapaths []string
		for _, m := range s.Metrics {
			if !slices.Contains(datapaths, m.Datapath) {
				datapaths = append(datapaths, m.Datapath)
			}
		}
		if !slices.Equal(datapaths, wantDatapaths) {
			t.Errorf("%s: metrics on datapaths %q, want %q", s.Name, datapaths, wantDatapaths)
		}
		for _, m := range s.Metrics {
			for what, sum := range map[string]bench.Summary{bench.Snoopswitch: m.Snoopswitch, bench.LinuxBridge: m.LinuxBridge, "ratio": m.Ratio} {
				if len(sum.Values) != rep.Settings.Pairs {
					t.Errorf("%s %s %s: %d values, want one per pair (%d)", s.Name, m.Name, what, len(sum.Values), rep.Settings.Pairs)
				}
				for _, v := range sum.Values {
					if !(v > 0) {
						t.Errorf("%s %s %s: figure %v, want positive", s.Name, m.Name, what, v)
					}
				}
			}
		}
		for _, r := range s.Runs {
			if r.Frames == nil {
				continue
			}
			if r.Frames.Delivered == 0 || r.Frames.SenderTx == 0 {
				t.Errorf("%s pair %d %s: sent %d, delivered %d", s.Name, r.Pair, r.Switch, r.Frames.SenderTx, r.Frames.Delivered)
			}
			// On the fast datapath the kernel forwards in the sender's
			// softirq: the switch process may not have run a clock tick in
			// a quick window.
			if r.Switch == bench.Snoopswitch && (r.SwitchCPUNsPerFrame == nil || *r.SwitchCPUNsPerFrame < 0 ||
				r.Datapath == bench.DatapathRing && *r.SwitchCPUNsPerFrame == 0) {
				t.Errorf("%s pair %d %s: switch CPU time per frame %v", s.Name, r.Pair, r.Datapath, r.SwitchCPUNsPerFrame)
			}
			if r.Switch == bench.Snoopswitch {
				switch {
				case r.Frames.FastForwarded == nil:
					t.Errorf("%s pair %d %s: no count of frames forwarded in the kernel", s.Name, r.Pair, r.Datapath)
				case r.Datapath == bench.DatapathRing && *r.Frames.FastForwarded != 0:
					t.Errorf("%s pair %d ring: %d frames forwarded in the kernel, want 0", s.Name, r.Pair, *r.Frames.FastForwarded)
				case r.Datapath == bench.DatapathFast && *r.Frames.FastForwarded == 0:
					t.Errorf("%s pair %d fast: no frame forwarded in the kernel (of %d received)", s.Name, r.Pair, r.Frames.SwitchRx)
				}
			}
			if want, ok := wantGroups[s.Name]; ok {
				if r.Groups == nil || *r.Groups != want {
					t.Errorf("%s pair %d %s: groups %v, want %d", s.Name, r.Pair, r.Switch, r.Groups, want)
				}
				// The bench fails a flooded run; this says it did not let
				// one through.
				if r.Frames.IdleRx > 10+r.Frames.Delivered/1000 {
					t.Errorf("%s pair %d %s: the non-members received %d frames", s.Name, r.Pair, r.Switch, r.Frames.IdleRx)
				}
			}
		}
	}
	if want := bench.ScenarioNames(); strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("scenarios %v, want %v", names, want)
	}
	for name := range wantGroups {
		if !slices.Contains(names, name) {
			t.Errorf("no scenario %s", name)
		}
	}

	svg, err := os.ReadFile(plot)
	if err != nil {
		t.Fatalf("--plot wrote no file: %v", err)
	}
	var doc struct {
		XMLName xml.Name
		Groups  []struct {
			ID string `xml:"id,attr"`
		} `xml:"g"`
	}
	if err := xml.Unmarshal(svg, &doc); err != nil || doc.XMLName.Local != "svg" {
		t.Fatalf("--plot wrote no SVG document (%v, root %v):\n%s", err, doc.XMLName, svg)
	}
	// Every scenario but tcp and ping has a frame rate to plot.
	if len(doc.Groups) != len(names)-2 {
		t.Errorf("the plot has %d scenarios, want %d", len(doc.Groups), len(names)-2)
	}
	for _, s := range rep.Scenarios {
		if s.Name != "tcp" {
			continue
		}
		for _, m := range s.Metrics {
			if m.Name != "bits_per_s" || m.Unit != "bit/s" {
				t.Errorf("tcp: metric %s in %s, want bits_per_s in bit/s", m.Name, m.Unit)
			}
		}
	}
}

// wantGroups is how many groups each multicast scenario's table holds.
var wantGroups = map[string]int{"multicast-1": 1, "multicast-4": 1, "multicast-1-10k": 10000, "multicast-4-10k": 10000}

// TestBenchUsage checks what the command refuses before touching the
// system.
func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--pairs", "0"},
		{"bench", "--scenarios", "unicast-64,multicast-9000"},
		{"bench", "--switch-args", "--port eth0"},
		{"bench", "--switch-args", "--config /etc/snoopswitch.yaml"},
		{"bench", "extra"},
		{"bench", "--datapath", "ring,xdp"},
		{"bench", "--datapath", "ring,ring"},
		{"bench", "--switch-args", "--datapath fast"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit code %d, want 2 (usage)\n%s", args, code, stderr.String())
		}
	}
}
