package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// Schema names the shape of the JSON report. It changes when a field is
// renamed, removed or changes meaning; new fields may appear without it
// changing.
const Schema = "snoopswitch-bench/2"

// The two switches a bench compares, as runs and reports name them.
const (
	Snoopswitch = "snoopswitch"
	LinuxBridge = "linux-bridge"
)

// The datapaths of snoopswitch a bench measures (its --datapath): the
// AF_PACKET rings alone, and the rings with the kernel fast path.
const (
	DatapathRing = "ring"
	DatapathFast = "fast"
)

// Flags a run can carry, saying the machine was not quiet. A flagged pair is
// measured again (a limited number of times) and the flagged runs are kept
// in the report, discarded.
const (
	// FlagSteal: the hypervisor took more than maxStealPct of a CPU's time
	// during the window.
	FlagSteal = "steal"
	// FlagIdleCPUBusy: a CPU that the scenario leaves idle was more than
	// maxIdleBusyPct busy: something else ran on the machine.
	FlagIdleCPUBusy = "idle-cpu-busy"
	// FlagOtherLoad: processes other than the bench's used more than
	// maxOtherPct of a CPU during the window.
	FlagOtherLoad = "other-load"
)

// Report is the result of a bench run. Its JSON form is the document
// `snoopswitch bench --json` prints; BENCHMARKS.md describes it.
type Report struct {
	Schema    string           `json:"schema"`
	Started   time.Time        `json:"started"`
	Command   string           `json:"command"`
	Machine   Machine          `json:"machine"`
	Settings  Settings         `json:"settings"`
	Scenarios []ScenarioReport `json:"scenarios"`
	Warnings  []string         `json:"warnings"`
}

// Machine describes where the bench ran.
type Machine struct {
	Kernel   string `json:"kernel"`
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	Go       string `json:"go"`
}

// Settings are the parameters the figures depend on.
type Settings struct {
	Pairs          int      `json:"pairs"`
	Quick          bool     `json:"quick"`
	WarmupS        float64  `json:"warmup_s"`
	WindowS        float64  `json:"window_s"`
	Pings          int      `json:"pings"`
	PingIntervalMS float64  `json:"ping_interval_ms"`
	SwitchArgs     []string `json:"switch_args"`
	// Datapaths are snoopswitch's datapaths measured, each against the
	// Linux bridge, in the order each pair runs them.
	Datapaths    []string `json:"datapaths"`
	GeneratorCPU int      `json:"generator_cpu"`
	SwitchCPU    int      `json:"switch_cpu"`
}

// ScenarioReport holds one scenario's figures.
type ScenarioReport struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Metrics holds each figure once per datapath, in the order of
	// Settings.Datapaths.
	Metrics []MetricReport `json:"metrics"`
	Runs    []RunReport    `json:"runs"`
}

// MetricReport compares one figure between snoopswitch on one datapath
// and the Linux bridge.
type MetricReport struct {
	Name        string  `json:"name"`
	Unit        string  `json:"unit"`
	Better      string  `json:"better"` // "higher" or "lower"
	Datapath    string  `json:"datapath"`
	Snoopswitch Summary `json:"snoopswitch"`
	LinuxBridge Summary `json:"linux_bridge"`
	// Ratio is snoopswitch / linux_bridge, pair by pair.
	Ratio Summary `json:"ratio"`
	// SwitchCPUNsPerFrame is the snoopswitch process's CPU time (user and
	// system) per frame delivered, over the datapath's kept runs; null for
	// scenarios that count no frames.
	SwitchCPUNsPerFrame *Summary `json:"switch_cpu_ns_per_frame"`
}

// RunReport is one measurement of one switch.
type RunReport struct {
	Pair   int    `json:"pair"`
	Switch string `json:"switch"`
	// Datapath is snoopswitch's datapath; empty for the Linux bridge.
	Datapath  string   `json:"datapath"`
	Discarded bool     `json:"discarded"`
	Flags     []string `json:"flags"`
	WindowS   float64  `json:"window_s"`
	// Metrics holds the scenario's figures by metric name.
	Metrics map[string]float64 `json:"metrics"`
	Frames  *FrameCounts       `json:"frames"`
	Ping    *PingCounts        `json:"ping"`
	// Groups is how many IPv4 groups the switch's table held, as read
	// before the window (snoopswitch's control socket, the bridge's MDB)
	// and checked against what the scenario joined; null for scenarios
	// without multicast.
	Groups *int `json:"groups"`
	// SwitchCPUNs is the snoopswitch process's CPU time in the window;
	// null for the Linux bridge, which has no process.
	SwitchCPUNs         *float64 `json:"switch_cpu_ns"`
	SwitchCPUNsPerFrame *float64 `json:"switch_cpu_ns_per_frame"`
	// AllCPUNsPerFrame is the busy time of every CPU (generator, switch,
	// receivers, anything else) per frame delivered.
	AllCPUNsPerFrame *float64  `json:"all_cpu_ns_per_frame"`
	CPUs             []CPULoad `json:"cpus"`
	// OtherCPUPct is the CPU that processes not the bench's (nor kernel
	// threads) used in the window, in percent of one CPU; OtherProcesses
	// lists those that used at least 1%.
	OtherCPUPct    float64       `json:"other_cpu_pct"`
	OtherProcesses []ProcessLoad `json:"other_processes"`
}

// FrameCounts are the counters of every stage a saturating flow crosses,
// as differences over the window. Receivers (and their switch ports) and
// idle hosts are summed.
type FrameCounts struct {
	// Receivers is how many hosts receive each frame of the flow: each
	// frame sent should be delivered that many times (in unicast-64-2s,
	// two senders each to a receiver of its own: 1).
	Receivers       int    `json:"receivers"`
	SenderTx        uint64 `json:"sender_tx"`
	SenderTxDropped uint64 `json:"sender_tx_dropped"`
	SwitchRx        uint64 `json:"switch_rx"`
	SwitchRxDropped uint64 `json:"switch_rx_dropped"`
	SwitchTx        uint64 `json:"switch_tx"`
	SwitchTxDropped uint64 `json:"switch_tx_dropped"`
	Delivered       uint64 `json:"delivered"`
	IdleRx          uint64 `json:"idle_rx"`
	SoftnetDropped  uint64 `json:"softnet_dropped"`
	// RingDropped is what the kernel dropped because snoopswitch's receive
	// ring on the sender's port was full (PACKET_STATISTICS); null for the
	// Linux bridge, or when the switch's status could not be read.
	RingDropped *uint64 `json:"ring_dropped"`
	// FastForwarded is the part of SwitchRx that snoopswitch's kernel fast
	// path forwarded without the engine (the fast path's counters, which
	// its ports report includes); 0 on the ring datapath, null for the
	// Linux bridge, or when the switch's report could not be read.
	FastForwarded *uint64 `json:"fast_forwarded"`
}

// PingCounts are the echo requests of a latency run.
type PingCounts struct {
	Sent     int `json:"sent"`
	Received int `json:"received"`
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// metricDisplay says how the text table shows a metric.
type metricDisplay struct {
	label  string
	scale  float64 // the value is divided by it
	format string
}

var displays = map[string]metricDisplay{
	"frames_per_s": {"kframes/s", 1e3, "%.0f"},
	"bits_per_s":   {"Gbit/s", 1e9, "%.2f"},
	"rtt_p50_us":   {"RTT p50, µs", 1, "%.1f"},
	"rtt_p99_us":   {"RTT p99, µs", 1, "%.1f"},
}

func display(m MetricReport) metricDisplay {
	if d, ok := displays[m.Name]; ok {
		return d
	}
	return metricDisplay{m.Name + ", " + m.Unit, 1, "%.4g"}
}

// WriteText writes the report as tables for people: the paired comparison,
// then where the CPU time and the frames went.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tDATAPATH\tSNOOPSWITCH (MEDIAN)\tLINUX BRIDGE (MEDIAN)\tRATIO MEDIAN [MIN..MAX]\tSWITCH CPU NS/FRAME")
	for _, s := range r.Scenarios {
		for _, m := range s.Metrics {
			d := display(m)
			cpu := "-"
			if m.SwitchCPUNsPerFrame != nil && len(m.SwitchCPUNsPerFrame.Values) > 0 {
				cpu = fmt.Sprintf("%.0f", m.SwitchCPUNsPerFrame.Median)
			}
			fmt.Fprintf(tw, "%s %s\t%s\t"+d.format+"\t"+d.format+"\t%.2f [%.2f..%.2f]\t%s\n", s.Name, d.label, m.Datapath,
				m.Snoopswitch.Median/d.scale, m.LinuxBridge.Median/d.scale,
				m.Ratio.Median, m.Ratio.Min, m.Ratio.Max, cpu)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nRatios are snoopswitch on each datapath / Linux bridge per pair (%d pairs; each pair runs %s); for RTT lower is better.\n",
		r.Settings.Pairs, pairOrder(r.Settings.Datapaths))
	if r.hasFanOut() {
		fmt.Fprintf(w, "Rates are per receiver: where a scenario has several, each receives every frame.\n")
	}

	fmt.Fprintf(w, "\nWhere the time and the frames went (medians of the kept runs; loss in %% of frames sent;\n"+
		"IN KERNEL: part of the frames received that snoopswitch's fast path forwarded without the engine;\n"+
		"IDLE RX: frames the hosts that should get none received in the window; GROUPS: in the switch's table):\n")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tSWITCH\tSENT KFRAMES/S\tCPU BUSY\tSTEAL MAX\tALL-CPU NS/FRAME\tLOST AT SENDER\tLOST IN SWITCH\tLOST AT RECEIVER\tIN KERNEL\tIDLE RX\tGROUPS\tFLAGGED RUNS")
	for _, s := range r.Scenarios {
		for _, dp := range r.Settings.Datapaths {
			writeStageRow(tw, s, Snoopswitch, dp)
		}
		writeStageRow(tw, s, LinuxBridge, "")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Warnings) > 0 {
		fmt.Fprintln(w, "\nWarnings:")
		for _, warning := range r.Warnings {
			fmt.Fprintf(w, "  - %s\n", warning)
		}
	}
	return nil
}

// hasFanOut says whether a scenario sends each frame to several receivers.
func (r *Report) hasFanOut() bool {
	for _, s := range r.Scenarios {
		for _, run := range s.Runs {
			if run.Frames != nil && run.Frames.Receivers > 1 {
				return true
			}
		}
	}
	return false
}

// writeStageRow writes the medians of one switch's kept runs of s, on
// datapath dp for snoopswitch.
func writeStageRow(w io.Writer, s ScenarioReport, sw, dp string) {
	var (
		sent, allCPU, steal          []float64
		lostSender, lostSw, lostRecv []float64
		inKernel, idleRx, groups     []float64
		busy                         = map[int][]float64{}
		cpuOrder                     []int
		flagged, total               int
	)
	for _, run := range s.Runs {
		if run.Switch != sw || run.Datapath != dp {
			continue
		}
		total++
		if len(run.Flags) > 0 {
			flagged++
		}
		if run.Discarded {
			continue
		}
		var maxSteal float64
		for _, c := range run.CPUs {
			if _, ok := busy[c.CPU]; !ok {
				cpuOrder = append(cpuOrder, c.CPU)
			}
			busy[c.CPU] = append(busy[c.CPU], c.BusyPct)
			maxSteal = math.Max(maxSteal, c.StealPct)
		}
		steal = append(steal, maxSteal)
		if run.AllCPUNsPerFrame != nil {
			allCPU = append(allCPU, *run.AllCPUNsPerFrame)
		}
		if f := run.Frames; f != nil && f.SenderTx > 0 && run.WindowS > 0 {
			// Each frame the switch receives should leave it, and reach a
			// host, once per receiver.
			receivers := uint64(max(f.Receivers, 1))
			sent = append(sent, float64(f.SenderTx)/run.WindowS)
			lostSender = append(lostSender, pct(f.SenderTxDropped, f.SenderTx+f.SenderTxDropped))
			lostSw = append(lostSw, pct(sub(f.SwitchRx*receivers, f.SwitchTx), f.SwitchRx*receivers))
			lostRecv = append(lostRecv, pct(sub(f.SwitchTx, f.Delivered), f.SwitchTx))
			idleRx = append(idleRx, float64(f.IdleRx))
			if f.FastForwarded != nil && f.SwitchRx > 0 {
				inKernel = append(inKernel, pct(*f.FastForwarded, f.SwitchRx))
			}
		}
		if run.Groups != nil {
			groups = append(groups, float64(*run.Groups))
		}
	}
	var cpus []string
	for _, c := range cpuOrder {
		cpus = append(cpus, fmt.Sprintf("cpu%d %.0f%%", c, Median(busy[c])))
	}
	orDash := func(v []float64, format string) string {
		if len(v) == 0 {
			return "-"
		}
		return fmt.Sprintf(format, Median(v))
	}
	name := sw
	if dp != "" {
		name += " " + dp
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d of %d\n", s.Name, name,
		orDash(scaled(sent, 1e-3), "%.0f"), strings.Join(cpus, " "), orDash(steal, "%.1f%%"),
		orDash(allCPU, "%.0f"), orDash(lostSender, "%.2f%%"), orDash(lostSw, "%.2f%%"),
		orDash(lostRecv, "%.2f%%"), orDash(inKernel, "%.1f%%"), orDash(idleRx, "%.0f"), orDash(groups, "%.0f"), flagged, total)
}

func pct(part, whole uint64) float64 {
	if whole == 0 {
		return 0
	}
	return 100 * float64(part) / float64(whole)
}

// sub returns a-b, or 0 when counters read at slightly different moments
// make b the larger.
func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

func scaled(v []float64, k float64) []float64 {
	out := make([]float64, len(v))
	for i := range v {
		out[i] = v[i] * k
	}
	return out
}

// pairOrder describes the runs of one pair: snoopswitch's first datapath,
// the Linux bridge, then the other datapath, each run next to the bridge's.
func pairOrder(datapaths []string) string {
	order := []string{}
	for i, dp := range datapaths {
		if i == 1 {
			order = append(order, "the Linux bridge")
		}
		order = append(order, "snoopswitch "+dp)
	}
	if len(datapaths) < 2 {
		order = append(order, "the Linux bridge")
	}
	return strings.Join(order, ", ")
}
