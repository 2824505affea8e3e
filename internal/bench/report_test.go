package bench_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/bench"
)

func ptr(v float64) *float64 { return &v }

// sampleReport is a one-pair report of a rate and a latency scenario on
// both datapaths.
func sampleReport() *bench.Report {
	cpu := bench.Summarize([]float64{850})
	fastCPU := bench.Summarize([]float64{40})
	fast := uint64(3_500_000)
	return &bench.Report{
		Schema:   bench.Schema,
		Started:  time.Date(2026, 11, 21, 21, 0, 0, 0, time.UTC),
		Command:  "snoopswitch bench --pairs 1",
		Machine:  bench.Machine{Kernel: "6.18.44", CPUs: 2, CPUModel: "test CPU", Go: "go1.26"},
		Settings: bench.Settings{Pairs: 1, WarmupS: 1, WindowS: 3, Pings: 200, PingIntervalMS: 10, SwitchArgs: []string{}, Datapaths: []string{"ring", "fast"}, SwitchCPU: 1},
		Scenarios: []bench.ScenarioReport{
			{
				Name: "unicast-64",
				Metrics: []bench.MetricReport{{
					Name: "frames_per_s", Unit: "frames/s", Better: "higher", Datapath: "ring",
					Snoopswitch:         bench.Summarize([]float64{1_100_000}),
					LinuxBridge:         bench.Summarize([]float64{1_000_000}),
					Ratio:               bench.Summarize([]float64{1.1}),
					SwitchCPUNsPerFrame: &cpu,
				}, {
					Name: "frames_per_s", Unit: "frames/s", Better: "higher", Datapath: "fast",
					Snoopswitch:         bench.Summarize([]float64{1_170_000}),
					LinuxBridge:         bench.Summarize([]float64{1_000_000}),
					Ratio:               bench.Summarize([]float64{1.17}),
					SwitchCPUNsPerFrame: &fastCPU,
				}},
				Runs: []bench.RunReport{
					{Pair: 1, Switch: bench.Snoopswitch, Datapath: "ring", Flags: []string{}, WindowS: 3,
						Metrics:             map[string]float64{"frames_per_s": 1_100_000},
						Frames:              &bench.FrameCounts{Receivers: 1, SenderTx: 3_600_000, SwitchRx: 3_600_000, SwitchTx: 3_300_000, Delivered: 3_300_000},
						SwitchCPUNs:         ptr(2.8e9),
						SwitchCPUNsPerFrame: ptr(850),
						AllCPUNsPerFrame:    ptr(1800),
						CPUs:                []bench.CPULoad{{CPU: 0, BusyPct: 100}, {CPU: 1, BusyPct: 95, StealPct: 0.5}},
					},
					{Pair: 1, Switch: bench.LinuxBridge, Flags: []string{}, WindowS: 3,
						Metrics:          map[string]float64{"frames_per_s": 1_000_000},
						Frames:           &bench.FrameCounts{Receivers: 1, SenderTx: 3_000_000, SwitchRx: 3_000_000, SwitchTx: 3_000_000, Delivered: 3_000_000},
						AllCPUNsPerFrame: ptr(1000),
						CPUs:             []bench.CPULoad{{CPU: 0, BusyPct: 100}, {CPU: 1, BusyPct: 2}},
					},
					{Pair: 1, Switch: bench.Snoopswitch, Datapath: "fast", Flags: []string{}, WindowS: 3,
						Metrics: map[string]float64{"frames_per_s": 1_170_000},
						// 3.5 of the 3.6 million frames received were forwarded
						// in the kernel: 97.2%.
						Frames:              &bench.FrameCounts{Receivers: 1, SenderTx: 3_600_000, SwitchRx: 3_600_000, SwitchTx: 3_510_000, Delivered: 3_510_000, FastForwarded: &fast},
						SwitchCPUNs:         ptr(1.4e8),
						SwitchCPUNsPerFrame: ptr(40),
						AllCPUNsPerFrame:    ptr(850),
						CPUs:                []bench.CPULoad{{CPU: 0, BusyPct: 100}, {CPU: 1, BusyPct: 5}},
					},
				},
			},
			{
				Name: "ping",
				Metrics: []bench.MetricReport{
					{Name: "rtt_p50_us", Unit: "µs", Better: "lower", Datapath: "ring",
						Snoopswitch: bench.Summarize([]float64{120}), LinuxBridge: bench.Summarize([]float64{10}), Ratio: bench.Summarize([]float64{12})},
					{Name: "rtt_p50_us", Unit: "µs", Better: "lower", Datapath: "fast",
						Snoopswitch: bench.Summarize([]float64{110}), LinuxBridge: bench.Summarize([]float64{10}), Ratio: bench.Summarize([]float64{11})},
				},
				Runs: []bench.RunReport{},
			},
		},
		Warnings: []string{"something to say"},
	}
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"unicast-64 kframes/s", "1100", "1000", "1.10 [1.10..1.10]", "850",
		"1170", "1.17 [1.17..1.17]",
		"ping RTT p50, µs", "120.0", "10.0", "12.00 [12.00..12.00]", "11.00 [11.00..11.00]",
		"snoopswitch ring, the Linux bridge, snoopswitch fast",
		"97.2%", // the fast run's frames forwarded in the kernel
		// 300000 of 3.6 million frames did not leave the switch.
		"8.33%",
		"cpu0 100% cpu1 95%",
		"something to say",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "per receiver") {
		t.Errorf("text report explains fan-out without a scenario that has it:\n%s", out)
	}
	// Each figure has a row per datapath, each against the bridge.
	var rows [][]string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[0] == "unicast-64" && f[1] == "kframes/s" {
			rows = append(rows, f[2:5])
		}
	}
	if want := [][]string{{"ring", "1100", "1000"}, {"fast", "1170", "1000"}}; !slices.EqualFunc(rows, want, slices.Equal) {
		t.Errorf("unicast-64 rows %q, want %q\n%s", rows, want, out)
	}
	// The latency row has no CPU per frame.
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "ping RTT") && !strings.HasSuffix(strings.TrimSpace(line), "-") {
			t.Errorf("ping row should end in -: %q", line)
		}
	}
}

// TestWriteJSONShape pins the keys BENCHMARKS.md documents: renaming one
// is a new Schema.
func TestWriteJSONShape(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	wantKeys := func(what string, m any, keys ...string) {
		t.Helper()
		obj, ok := m.(map[string]any)
		if !ok {
			t.Fatalf("%s is %T, want an object", what, m)
		}
		var got []string
		for k := range obj {
			got = append(got, k)
		}
		slices.Sort(got)
		slices.Sort(keys)
		if !slices.Equal(got, keys) {
			t.Errorf("%s keys %v, want %v", what, got, keys)
		}
	}
	wantKeys("report", doc, "schema", "started", "command", "machine", "settings", "scenarios", "warnings")
	if doc["schema"] != "snoopswitch-bench/2" {
		t.Errorf("schema %v", doc["schema"])
	}
	wantKeys("machine", doc["machine"], "kernel", "cpus", "cpu_model", "go")
	wantKeys("settings", doc["settings"], "pairs", "quick", "warmup_s", "window_s", "pings", "ping_interval_ms", "switch_args", "datapaths", "generator_cpu", "switch_cpu")
	sc := doc["scenarios"].([]any)[0]
	wantKeys("scenario", sc, "name", "description", "metrics", "runs")
	m := sc.(map[string]any)["metrics"].([]any)[0]
	wantKeys("metric", m, "name", "unit", "better", "datapath", "snoopswitch", "linux_bridge", "ratio", "switch_cpu_ns_per_frame")
	wantKeys("summary", m.(map[string]any)["ratio"], "median", "min", "max", "values")
	runs := sc.(map[string]any)["runs"].([]any)
	wantKeys("run", runs[0], "pair", "switch", "datapath", "discarded", "flags", "window_s", "metrics", "frames", "ping", "groups",
		"switch_cpu_ns", "switch_cpu_ns_per_frame", "all_cpu_ns_per_frame", "cpus", "other_cpu_pct", "other_processes")
	wantKeys("frames", runs[0].(map[string]any)["frames"], "receivers", "sender_tx", "sender_tx_dropped", "switch_rx", "switch_rx_dropped",
		"switch_tx", "switch_tx_dropped", "delivered", "idle_rx", "softnet_dropped", "ring_dropped", "fast_forwarded")
	wantKeys("cpu", runs[0].(map[string]any)["cpus"].([]any)[0], "cpu", "busy_pct", "steal_pct")
	// Figures that do not apply are null, not missing.
	if v, ok := runs[0].(map[string]any)["groups"]; !ok || v != nil {
		t.Errorf("unicast run: groups = %v (present %v), want null", v, ok)
	}
	if v, ok := runs[1].(map[string]any)["switch_cpu_ns_per_frame"]; !ok || v != nil {
		t.Errorf("Linux bridge run: switch_cpu_ns_per_frame = %v (present %v), want null", v, ok)
	}
	if v := doc["scenarios"].([]any)[1].(map[string]any)["metrics"].([]any)[0].(map[string]any)["switch_cpu_ns_per_frame"]; v != nil {
		t.Errorf("ping scenario: switch_cpu_ns_per_frame = %v, want null", v)
	}
}

// TestWriteTextFanOut checks the stage table of a multicast scenario with
// four receivers: the switch should send each frame it receives four
// times, and the table shows what the idle hosts got and the groups held.
func TestWriteTextFanOut(t *testing.T) {
	groups := 10000
	rep := sampleReport()
	rep.Scenarios = []bench.ScenarioReport{{
		Name: "multicast-4-10k",
		Metrics: []bench.MetricReport{{
			Name: "frames_per_s", Unit: "frames/s", Better: "higher", Datapath: "ring",
			Snoopswitch: bench.Summarize([]float64{300_000}), LinuxBridge: bench.Summarize([]float64{250_000}), Ratio: bench.Summarize([]float64{1.2}),
		}},
		Runs: []bench.RunReport{{
			Pair: 1, Switch: bench.Snoopswitch, Datapath: "ring", Flags: []string{}, WindowS: 1,
			Metrics: map[string]float64{"frames_per_s": 300_000},
			// 1 000 000 in, 3 600 000 out of 4 000 000 owed: 10% lost in
			// the switch; 3 600 000 out, 1 200 000 delivered: 66.67% at the
			// receivers.
			Frames: &bench.FrameCounts{Receivers: 4, SenderTx: 1_000_000, SwitchRx: 1_000_000, SwitchTx: 3_600_000, Delivered: 1_200_000, IdleRx: 3},
			Groups: &groups,
		}},
	}}
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "per receiver") {
		t.Errorf("text report does not say rates are per receiver:\n%s", out)
	}
	var row []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "multicast-4-10k" && f[1] == bench.Snoopswitch && f[2] == "ring" {
			row = f
		}
	}
	// SCENARIO SWITCH SENT CPU-BUSY(none) STEAL ALL-CPU LOST... IN-KERNEL IDLE GROUPS FLAGGED
	want := []string{"multicast-4-10k", "snoopswitch", "ring", "1000", "0.0%", "-", "0.00%", "10.00%", "66.67%", "-", "3", "10000", "0", "of", "1"}
	if strings.Join(row, " ") != strings.Join(want, " ") {
		t.Errorf("stage row %q, want %q\n%s", row, want, out)
	}
}
