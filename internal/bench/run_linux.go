package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/snoopswitch/snoopswitch/switch/fastpath"
	"github.com/snoopswitch/snoopswitch/testenv"
	"golang.org/x/sys/unix"
)

// DefaultPairs is how many snoopswitch / Linux bridge pairs a bench
// measures, and QuickPairs how many with Options.Quick.
const (
	DefaultPairs = 5
	QuickPairs   = 2
)

// A flagged pair is measured again after rerunPause, up to as many times
// per scenario as there are pairs (at least minReruns): the bench takes at
// most twice as long on a machine that someone else is using.
const (
	minReruns  = 2
	rerunPause = time.Second
)

// Options configures Run.
type Options struct {
	// Binary is the snoopswitch executable to measure; Run starts it as
	// `Binary run --port ... [SwitchArgs]`.
	Binary     string
	SwitchArgs []string
	// Pairs is the number of pairs per scenario; 0 means DefaultPairs, or
	// QuickPairs with Quick.
	Pairs int
	// Quick shortens every window, for tests: the figures are rougher.
	Quick bool
	// Scenarios selects scenarios by name; empty means all of them.
	Scenarios []string
	// Datapaths are snoopswitch's datapaths to measure (DatapathRing,
	// DatapathFast), each against the Linux bridge; empty means both
	// where the fast path can load here, the ring alone otherwise.
	Datapaths []string
	// Command is the command line, recorded in the report.
	Command string
	// Progress receives a line per run; nil discards them.
	Progress io.Writer
}

// ScenarioNames lists the scenarios in the order Run measures them.
func ScenarioNames() []string {
	names := make([]string, len(scenarioTable))
	for i, s := range scenarioTable {
		names[i] = s.name
	}
	return names
}

// Validate checks the options that do not depend on the machine.
func (o Options) Validate() error {
	if o.Pairs < 0 {
		return fmt.Errorf("bench: %d pairs: need at least 1", o.Pairs)
	}
	for _, name := range o.Scenarios {
		if !slices.Contains(ScenarioNames(), name) {
			return fmt.Errorf("bench: no scenario %q (there are: %s)", name, strings.Join(ScenarioNames(), ", "))
		}
	}
	for i, dp := range o.Datapaths {
		if dp != DatapathRing && dp != DatapathFast {
			return fmt.Errorf("bench: no datapath %q (there are: %s, %s)", dp, DatapathRing, DatapathFast)
		}
		if slices.Contains(o.Datapaths[:i], dp) {
			return fmt.Errorf("bench: datapath %s given twice", dp)
		}
	}
	for _, a := range o.SwitchArgs {
		for _, f := range []string{"port", "router-port", "config", "control-socket"} {
			if isFlag(a, f) {
				return fmt.Errorf("bench: the switch arguments must not give --%s: the bench passes the lab's ports in a configuration file of its own, with a control socket to read the group table from", f)
			}
		}
		if isFlag(a, "datapath") {
			return errors.New("bench: the switch arguments must not give --datapath: the bench's own --datapath chooses the datapaths to measure")
		}
	}
	return nil
}

// isFlag says whether the argument a gives the flag name.
func isFlag(a, name string) bool {
	return a == "--"+name || a == "-"+name || strings.HasPrefix(a, "--"+name+"=") || strings.HasPrefix(a, "-"+name+"=")
}

// Run builds a lab of six hosts (a sends; m1 to m4 receive, as unicast
// destination or multicast members; n should receive nothing), measures
// each scenario through snoopswitch and through the Linux bridge in
// alternation, and removes the lab, also when ctx is canceled.
// It needs root and taskset, and at least two CPUs: the sender and the
// bench itself run on CPU 0, the switch on CPU 1.
func Run(ctx context.Context, o Options) (rep *Report, err error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Binary == "" {
		return nil, errors.New("bench: no snoopswitch binary to measure")
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("bench: building the namespace lab needs root (run it with sudo)")
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return nil, errors.New("bench: taskset, which pins the switch and the generator to their CPUs, is not installed (apt-get install util-linux)")
	}
	cpus, err := readProcStat()
	if err != nil {
		return nil, err
	}
	datapaths, why, err := chooseDatapaths(o.Datapaths)
	if err != nil {
		return nil, err
	}
	if len(cpus) < 2 {
		return nil, fmt.Errorf("bench: %d CPU online: the bench needs two, one for the generator and one for the switch", len(cpus))
	}

	t := fullTiming
	pairs := DefaultPairs
	if o.Quick {
		t, pairs = quickTiming, QuickPairs
	}
	if o.Pairs > 0 {
		pairs = o.Pairs
	}
	selected := scenarioTable
	if len(o.Scenarios) > 0 {
		selected = nil
		for _, s := range scenarioTable {
			if slices.Contains(o.Scenarios, s.name) {
				selected = append(selected, s)
			}
		}
	}
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}

	rep = &Report{
		Schema:  Schema,
		Started: time.Now().UTC().Truncate(time.Second),
		Command: o.Command,
		Machine: machine(len(cpus)),
		Settings: Settings{
			Pairs: pairs, Quick: o.Quick,
			WarmupS: t.warmup.Seconds(), WindowS: t.window.Seconds(),
			Pings: t.pings, PingIntervalMS: float64(t.pingInterval) / float64(time.Millisecond),
			SwitchArgs:   append([]string{}, o.SwitchArgs...),
			Datapaths:    datapaths,
			GeneratorCPU: generatorCPU, SwitchCPU: switchCPU,
		},
		Warnings: []string{},
	}
	warn := func(format string, args ...any) {
		w := fmt.Sprintf(format, args...)
		if !slices.Contains(rep.Warnings, w) {
			rep.Warnings = append(rep.Warnings, w)
			fmt.Fprintf(progress, "warning: %s\n", w)
		}
	}

	if why != "" {
		warn("%s", why)
	}

	restore, err := pinProcess(generatorCPU)
	if err != nil {
		return nil, err
	}
	defer restore()

	tmp, err := os.MkdirTemp("", "snoopswitch-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(tmp)

	lab, err := testenv.NewLab(testenv.Options{})
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := lab.Close(); cerr != nil {
			err = joinErr(err, cerr)
		}
	}()
	r, err := newRig(lab)
	if err != nil {
		return nil, err
	}
	r.binary, r.switchArgs = o.Binary, o.SwitchArgs
	r.taskset, r.tmp = taskset, tmp
	if err := r.writeSwitchConfig(tmp); err != nil {
		return nil, err
	}
	detach, err := r.installSinks()
	if err != nil {
		return nil, err
	}
	defer detach()
	r.clkTck = clockTicks()
	r.timing = t
	r.warn = warn
	fmt.Fprintf(progress, "lab %s: hosts a (sender), m1-m4 (receivers, members; m2 sends too in unicast-64-2s), n (receives nothing); %d pairs of %s; snoopswitch datapaths %s\n",
		lab.Prefix(), pairs, strings.Join(names(selected), ", "), strings.Join(datapaths, ", "))

	runs, err := r.measureAll(ctx, selected, datapaths, pairs, progress)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("bench: interrupted; the lab is removed: %w", ctx.Err())
		}
		return nil, err
	}
	for i, sc := range selected {
		sr, err := summarize(sc, datapaths, runs[i])
		if err != nil {
			return nil, err
		}
		rep.Scenarios = append(rep.Scenarios, sr)
	}
	return rep, nil
}

// measureAll measures every pair of every scenario and returns each
// scenario's runs. A pair is snoopswitch on the first datapath, the Linux
// bridge, and snoopswitch on the second datapath, if any: each
// snoopswitch run is next to the bridge's run it is compared with, so
// slow drift in the machine affects both alike, and the pairs of a
// scenario alternate A B A B. A pair with a flagged run is measured
// again, a limited number of times.
func (r *rig) measureAll(ctx context.Context, selected []scenario, datapaths []string, pairs int, progress io.Writer) ([][]RunReport, error) {
	var devices []device
	for i, dp := range datapaths {
		if i == 1 {
			devices = append(devices, &bridgeDevice{r: r})
		}
		devices = append(devices, &snoopswitchDevice{r: r, dp: dp})
	}
	if len(datapaths) == 1 {
		devices = append(devices, &bridgeDevice{r: r})
	}
	runs := make([][]RunReport, len(selected))
	reruns := make([]int, len(selected))
	for pair := 1; pair <= pairs; pair++ {
		for i, sc := range selected {
			for {
				var measured []RunReport
				for _, d := range devices {
					run, err := r.measure(ctx, sc, d, pair)
					if err != nil {
						return nil, err
					}
					fmt.Fprintf(progress, "pair %d/%d  %-15s %-16s %s\n", pair, pairs, sc.name, strings.TrimSpace(d.name()+" "+d.datapath()), describeRun(run))
					measured = append(measured, run)
				}
				flagged := slices.ContainsFunc(measured, func(r RunReport) bool { return len(r.Flags) > 0 })
				if flagged && reruns[i] < max(pairs, minReruns) {
					reruns[i]++
					for j := range measured {
						measured[j].Discarded = true
					}
					runs[i] = append(runs[i], measured...)
					fmt.Fprintf(progress, "pair %d/%d  %s: flagged, measuring the pair again\n", pair, pairs, sc.name)
					if err := sleep(ctx, rerunPause); err != nil {
						return nil, err
					}
					continue
				}
				if flagged {
					r.warn("%s: pair %d is flagged (%s) and kept: the re-runs of this scenario are used up", sc.name, pair, strings.Join(flagsOf(measured), ", "))
				}
				runs[i] = append(runs[i], measured...)
				break
			}
		}
	}
	return runs, nil
}

func names(ss []scenario) []string {
	n := make([]string, len(ss))
	for i, s := range ss {
		n[i] = s.name
	}
	return n
}

func flagsOf(runs []RunReport) []string {
	var flags []string
	for _, r := range runs {
		for _, f := range r.Flags {
			if !slices.Contains(flags, f) {
				flags = append(flags, f)
			}
		}
	}
	return flags
}

// describeRun is a run's progress line.
func describeRun(r RunReport) string {
	var b strings.Builder
	if v, ok := r.Metrics[metricRate.name]; ok {
		fmt.Fprintf(&b, "%7.0f kframes/s", v/1e3)
	}
	if v, ok := r.Metrics[metricBitRate.name]; ok {
		fmt.Fprintf(&b, "%7.2f Gbit/s", v/1e9)
	}
	if v, ok := r.Metrics[metricRTTP50.name]; ok {
		fmt.Fprintf(&b, "RTT p50 %.1f µs p99 %.1f µs (%d/%d replies)", v, r.Metrics[metricRTTP99.name], r.Ping.Received, r.Ping.Sent)
	}
	if r.SwitchCPUNsPerFrame != nil {
		fmt.Fprintf(&b, ", switch %.0f ns/frame", *r.SwitchCPUNsPerFrame)
	}
	for _, c := range r.CPUs {
		fmt.Fprintf(&b, ", cpu%d %.0f%% (steal %.1f%%)", c.CPU, c.BusyPct, c.StealPct)
	}
	if len(r.Flags) > 0 {
		fmt.Fprintf(&b, " FLAGGED: %s", strings.Join(r.Flags, ", "))
	}
	if r.OtherCPUPct > maxOtherPct {
		var others []string
		for _, p := range r.OtherProcesses {
			others = append(others, fmt.Sprintf("%s[%d] %.0f%%", p.Comm, p.PID, p.CPUPct))
		}
		fmt.Fprintf(&b, " (other processes: %s)", strings.Join(others, ", "))
	}
	return b.String()
}

// summarize pairs the kept runs of one scenario and compares each
// datapath's with the Linux bridge's.
func summarize(sc scenario, datapaths []string, runs []RunReport) (ScenarioReport, error) {
	sr := ScenarioReport{Name: sc.name, Description: sc.description, Runs: runs}
	var br []RunReport
	ss := make(map[string][]RunReport)
	for _, r := range runs {
		if r.Discarded {
			continue
		}
		switch r.Switch {
		case Snoopswitch:
			ss[r.Datapath] = append(ss[r.Datapath], r)
		case LinuxBridge:
			br = append(br, r)
		}
	}
	for _, m := range sc.metrics {
		b := metricValues(br, m.name)
		for _, dp := range datapaths {
			a := metricValues(ss[dp], m.name)
			ratios, err := PairedRatios(a, b)
			if err != nil {
				return sr, fmt.Errorf("bench: %s %s on the %s datapath: %w", sc.name, m.name, dp, err)
			}
			mr := MetricReport{
				Name: m.name, Unit: m.unit, Better: m.better, Datapath: dp,
				Snoopswitch: Summarize(a), LinuxBridge: Summarize(b), Ratio: Summarize(ratios),
			}
			var cpu []float64
			for _, r := range ss[dp] {
				if r.SwitchCPUNsPerFrame != nil {
					cpu = append(cpu, *r.SwitchCPUNsPerFrame)
				}
			}
			if len(cpu) > 0 {
				s := Summarize(cpu)
				mr.SwitchCPUNsPerFrame = &s
			}
			sr.Metrics = append(sr.Metrics, mr)
		}
	}
	return sr, nil
}

// chooseDatapaths returns the datapaths to measure: those asked for, or,
// if none were, both where the fast path loads and the ring alone where it
// does not, with why in a sentence for the report.
func chooseDatapaths(asked []string) (datapaths []string, why string, err error) {
	loadErr := fastPathLoads()
	if len(asked) == 0 {
		if loadErr != nil {
			return []string{DatapathRing}, fmt.Sprintf("the ring datapath alone is measured: the fast path cannot load here (%v)", loadErr), nil
		}
		return []string{DatapathRing, DatapathFast}, "", nil
	}
	if slices.Contains(asked, DatapathFast) && loadErr != nil {
		return nil, "", fmt.Errorf("bench: --datapath %s: the fast path cannot load here: %w", DatapathFast, loadErr)
	}
	return slices.Clone(asked), "", nil
}

// fastPathLoads loads the fast path's programs and maps, as `snoopswitch
// run --datapath fast` does, and unloads them: nil if they load here.
func fastPathLoads() error {
	d, err := fastpath.Load(1)
	if err != nil {
		return err
	}
	return d.Close()
}

func metricValues(runs []RunReport, name string) []float64 {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = r.Metrics[name]
	}
	return v
}

// machine describes this machine for the report.
func machine(cpus int) Machine {
	m := Machine{CPUs: cpus, Go: runtime.Version()}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// pinProcess moves every thread of this process to cpu, so that the
// switch's CPU runs nothing of the bench's; threads started later inherit
// the mask from the thread that starts them. The returned function puts
// every thread back on the CPUs it had.
func pinProcess(cpu int) (restore func(), err error) {
	var orig, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &orig); err != nil {
		return nil, fmt.Errorf("bench: CPU affinity: %w", err)
	}
	if !orig.IsSet(cpu) {
		return nil, fmt.Errorf("bench: this process may not run on CPU %d (is it started under taskset?)", cpu)
	}
	one.Set(cpu)
	if err := setAllThreads(&one); err != nil {
		return nil, err
	}
	return func() { _ = setAllThreads(&orig) }, nil
}

func setAllThreads(set *unix.CPUSet) error {
	// Twice: a thread the runtime starts during the first pass may have
	// been started by a thread not yet moved.
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		for _, t := range tasks {
			var tid int
			if _, err := fmt.Sscan(t.Name(), &tid); err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, set); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("bench: pin thread %d: %w", tid, err)
			}
		}
	}
	return nil
}
