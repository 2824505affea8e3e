package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/bench"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// TestBenchQuickLinux builds the binary and runs `bench --quick --json` on a
// namespace lab: the report must parse, and every scenario must have
// positive figures for both switches. Speed is the benchmark's business,
// not the test's.
func TestBenchQuickLinux(t *testing.T) {
	testenv.RequireRoot(t)
	if _, err := exec.LookPath("trafgen"); err != nil {
		t.Fatal("trafgen is needed to generate traffic (apt-get install netsniff-ng)")
	}
	bin := binary(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "bench", "--quick", "--json")
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
	if rep.Schema != bench.Schema || rep.Settings.Pairs != bench.QuickPairs || !rep.Settings.Quick {
		t.Errorf("schema %q, pairs %d, quick %v; want %q, %d, true", rep.Schema, rep.Settings.Pairs, rep.Settings.Quick, bench.Schema, bench.QuickPairs)
	}
	var names []string
	for _, s := range rep.Scenarios {
		names = append(names, s.Name)
		if len(s.Metrics) == 0 {
			t.Errorf("%s: no metrics", s.Name)
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
			if r.Switch == bench.Snoopswitch && (r.SwitchCPUNsPerFrame == nil || !(*r.SwitchCPUNsPerFrame > 0)) {
				t.Errorf("%s pair %d: no switch CPU time per frame", s.Name, r.Pair)
			}
		}
	}
	if want := bench.ScenarioNames(); strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("scenarios %v, want %v", names, want)
	}
}

// TestBenchUsage checks what the command refuses before touching the
// system.
func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--pairs", "0"},
		{"bench", "--scenarios", "unicast-64,multicast-9000"},
		{"bench", "--switch-args", "--port eth0"},
		{"bench", "extra"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit code %d, want 2 (usage)\n%s", args, code, stderr.String())
		}
	}
}
