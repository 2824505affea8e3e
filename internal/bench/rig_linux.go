package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/control"
	"github.com/snoopswitch/snoopswitch/testenv"
	"github.com/vishvananda/netlink"
)

// rig is the lab a bench runs on and the tools it drives.
type rig struct {
	lab *testenv.Lab
	a   *testenv.Host // the sender of every scenario
	// members are m1 to m4: m1 receives the unicast flows, and the
	// multicast scenarios' members are the first one or all four.
	members []*testenv.Host
	// n receives nothing, in every scenario; it holds the other groups of
	// the 10 000-group scenarios.
	n     *testenv.Host
	hosts []*testenv.Host

	binary     string   // the snoopswitch executable
	switchArgs []string // extra arguments for snoopswitch run
	trafgen    string
	taskset    string
	tmp        string // holds trafgen configurations, the switch configuration and its control socket
	clkTck     uint64 // USER_HZ, the unit of /proc CPU times
	timing     timing
	warn       func(format string, args ...any)

	// switchConfig is the configuration file snoopswitch run gets (the
	// lab's ports), controlSocket the control socket it names, which the
	// bench asks for the group table.
	switchConfig, controlSocket string
}

// timing is how long each part of a measurement lasts.
type timing struct {
	warmup, window time.Duration
	pings          int
	pingInterval   time.Duration
}

var (
	fullTiming  = timing{warmup: time.Second, window: 3 * time.Second, pings: 200, pingInterval: 10 * time.Millisecond}
	quickTiming = timing{warmup: 300 * time.Millisecond, window: 700 * time.Millisecond, pings: 40, pingInterval: 10 * time.Millisecond}
)

const (
	generatorCPU = 0
	switchCPU    = 1

	// benchEtherType is IEEE 802's "local experimental" EtherType: no
	// protocol handler takes it, so a host's stack counts the frame in
	// rx_packets and frees it, the cheapest sink there is.
	benchEtherType = 0x88b5

	// probeFrames are sent one by one before a measurement, to check that the
	// flow reaches its receivers and no idle host.
	probeFrames = 20

	maxStealPct    = 3
	maxIdleBusyPct = 10
	maxOtherPct    = 5 // of one CPU

	// readyLog is what `snoopswitch run` logs once every port is open.
	readyLog = `msg="switch running"`

	// settleTimeout is how long a switch may flood a flow before the
	// measurement fails: the Linux bridge floods multicast until its
	// querier has waited out one query response interval
	// (bridgeQueryResponseCS).
	settleTimeout = 3 * time.Second
	// groupsTimeout is how long the joins of a multicast scenario may take
	// to show in the switch's table; the reports are sent again every
	// groupsResend meanwhile.
	groupsTimeout = 5 * time.Second
	groupsResend  = time.Second

	// The Linux bridge's multicast options (ip-link(8)). The hash table
	// must hold the 10 000-group scenarios' entries: a bridge whose table
	// overflows turns snooping off. A querier of its own makes it forward
	// by its table (without a querier on the link it floods), and it
	// starts doing so one query response interval after the querier is
	// turned on, 1 s here instead of the default 10 s.
	bridgeHashMax         = 16384
	bridgeQueryResponseCS = 100 // centiseconds
	bridgeIGMPVersion     = 3   // as snoopswitch's querier
)

// flow is the traffic of a saturating scenario: one frame, sent by trafgen
// from sender as fast as it can, which the switch should deliver to every
// receiver and to no idle host.
type flow struct {
	sender    *testenv.Host
	receivers []*testenv.Host
	idle      []*testenv.Host
	frame     TrafgenFrame
	// groups is valid iff the flow is multicast (to frame.DstIP).
	groups *groupSet
}

// groupSet is what a multicast flow needs in the switch's table: the
// receivers' membership of the flow's group, which their kernels join, and
// others more groups, which holder joins with crafted reports.
type groupSet struct {
	holder *testenv.Host
	others int
}

// device is one of the two switches under test, set up on the lab's switch
// ports.
type device interface {
	name() string
	start(ctx context.Context) error
	// stop takes the switch down and reports whether it ended well.
	stop() error
	// process is the switch's process, or nil for the Linux bridge.
	process() *process
	// groups reads the switch's multicast group table.
	groups() ([]GroupEntry, error)
}

// snoopswitchDevice runs `snoopswitch run` over every switch port, pinned to
// the switch's CPU.
type snoopswitchDevice struct {
	r *rig
	p *process
}

func (d *snoopswitchDevice) name() string      { return Snoopswitch }
func (d *snoopswitchDevice) process() *process { return d.p }

func (d *snoopswitchDevice) start(ctx context.Context) error {
	args := append([]string{"-c", strconv.Itoa(switchCPU), d.r.binary, "run", "--config", d.r.switchConfig}, d.r.switchArgs...)
	p, err := startProcess("snoopswitch run", d.r.lab.SwitchNS().Command(d.r.taskset, args...))
	if err != nil {
		return err
	}
	const timeout = 10 * time.Second
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.out.since(0), readyLog) {
		switch {
		case p.exited():
			return fmt.Errorf("snoopswitch run (%s %s) did not start: %s", d.r.binary, strings.Join(args[3:], " "), p.status())
		case ctx.Err() != nil:
			p.kill()
			return ctx.Err()
		case time.Now().After(deadline):
			p.kill()
			return fmt.Errorf("snoopswitch run has not logged %s after %v (killed it): %s", readyLog, timeout, p.status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	d.p = p
	return nil
}

func (d *snoopswitchDevice) groups() ([]GroupEntry, error) {
	doc, err := control.Fetch(d.r.controlSocket, "groups")
	if err != nil {
		return nil, err
	}
	return ParseShowGroups(doc)
}

func (d *snoopswitchDevice) stop() error {
	p := d.p
	if p == nil {
		return nil
	}
	d.p = nil
	const timeout = 10 * time.Second
	if !p.stop(syscall.SIGTERM, timeout) {
		return fmt.Errorf("snoopswitch run did not exit within %v of SIGTERM (killed it): %s", timeout, p.status())
	}
	if p.err != nil {
		return fmt.Errorf("snoopswitch run ended with %v after SIGTERM, want exit status 0: %s", p.err, p.status())
	}
	return nil
}

// bridgeDevice is the lab's Linux bridge twin, with multicast snooping,
// a querier and room for the 10 000-group scenarios.
type bridgeDevice struct {
	r      *rig
	bridge string // its name while it is up
}

func (d *bridgeDevice) name() string      { return LinuxBridge }
func (d *bridgeDevice) process() *process { return nil }

func (d *bridgeDevice) start(context.Context) error {
	name, err := d.r.lab.AddLinuxBridge()
	if err != nil {
		return err
	}
	d.bridge = name
	if err := d.configure(); err != nil {
		return joinErr(err, d.stop())
	}
	return nil
}

// configure sets the bridge's multicast options and checks that they took.
// The querier goes on last: turning it on starts the wait of one query
// response interval, which must be the short one by then.
func (d *bridgeDevice) configure() error {
	if _, err := d.r.switchTool("ip", "link", "set", d.bridge, "type", "bridge", "mcast_snooping", "1",
		"mcast_igmp_version", strconv.Itoa(bridgeIGMPVersion), "mcast_hash_max", strconv.Itoa(bridgeHashMax),
		"mcast_query_response_interval", strconv.Itoa(bridgeQueryResponseCS)); err != nil {
		return err
	}
	if _, err := d.r.switchTool("ip", "link", "set", d.bridge, "type", "bridge", "mcast_querier", "1"); err != nil {
		return err
	}
	out, err := d.r.switchTool("ip", "-d", "-j", "link", "show", d.bridge)
	if err != nil {
		return err
	}
	opts, err := ParseBridgeOptions(out)
	if err != nil {
		return err
	}
	want := BridgeOptions{Snooping: 1, Querier: 1, HashMax: bridgeHashMax, IGMPVersion: bridgeIGMPVersion, QueryResponseCS: bridgeQueryResponseCS}
	if opts != want {
		return fmt.Errorf("bridge %s has multicast options %+v after ip link set, want %+v", d.bridge, opts, want)
	}
	return nil
}

func (d *bridgeDevice) groups() ([]GroupEntry, error) {
	out, err := d.r.switchTool("bridge", "-j", "mdb", "show", "dev", d.bridge)
	if err != nil {
		return nil, err
	}
	return ParseBridgeMDB(out)
}

func (d *bridgeDevice) stop() error {
	d.bridge = ""
	return d.r.lab.RemoveLinuxBridge()
}

// switchTool runs an iproute2 tool in the switch namespace and returns its
// standard output.
func (r *rig) switchTool(name string, args ...string) ([]byte, error) {
	cmd := r.lab.SwitchNS().Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// newRig builds the lab: the sender a, the members m1 to m4 and the
// non-member n. Their IPv6 is off, so that no router solicitation or MLD
// report of theirs reaches the hosts that should receive nothing.
func newRig(lab *testenv.Lab) (*rig, error) {
	r := &rig{lab: lab}
	for _, name := range []string{"a", "m1", "m2", "m3", "m4", "n"} {
		h, err := lab.AddHost(name, testenv.HostOptions{})
		if err != nil {
			return nil, err
		}
		if err := h.NS.SetSysctl("net.ipv6.conf."+h.Iface+".disable_ipv6", "1"); err != nil {
			return nil, err
		}
		r.hosts = append(r.hosts, h)
	}
	r.a, r.members, r.n = r.hosts[0], r.hosts[1:5], r.hosts[5]
	return r, nil
}

// writeSwitchConfig writes the configuration snoopswitch run gets: every
// host's port, in the lab's order, and a control socket in dir. n's port has
// no group limit of its own (a host port's default is 1000), since n joins
// the 9 999 other groups of the 10 000-group scenarios.
func (r *rig) writeSwitchConfig(dir string) error {
	r.switchConfig = filepath.Join(dir, "switch.yaml")
	r.controlSocket = filepath.Join(dir, "control.sock")
	var b strings.Builder
	b.WriteString("# Written by snoopswitch bench for its lab.\nports:\n")
	for _, h := range r.hosts {
		fmt.Fprintf(&b, "  - name: %s\n", h.SwitchPort)
		if h == r.n {
			b.WriteString("    guard:\n      group-limit: 0\n")
		}
	}
	// A socket of its own: the switch must not clash with a snoopswitch
	// already running on the machine (or another bench).
	fmt.Fprintf(&b, "control-socket:\n  path: %s\n", r.controlSocket)
	if err := os.WriteFile(r.switchConfig, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("bench: switch configuration: %w", err)
	}
	return nil
}

// measure brings d up, runs one measurement of sc on it, and takes it down.
func (r *rig) measure(ctx context.Context, sc scenario, d device, pair int) (run RunReport, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("bench: pair %d, %s through %s: %w", pair, sc.name, d.name(), err)
		}
	}()
	if err := d.start(ctx); err != nil {
		return RunReport{}, err
	}
	defer func() {
		if serr := d.stop(); serr != nil {
			err = joinErr(err, serr)
		}
	}()
	run, err = sc.measure(ctx, r, d)
	if err != nil {
		return RunReport{}, err
	}
	run.Pair, run.Switch = pair, d.name()
	return run, nil
}

func joinErr(err, more error) error {
	if err == nil {
		return more
	}
	return fmt.Errorf("%w; then: %w", err, more)
}

// prepare teaches the switch where the receivers are (each sends one
// broadcast frame) and checks that the flow's frame, sent probeFrames times
// from the sender, reaches every receiver and is not flooded to the idle
// hosts. A switch may flood for a while after it starts (the Linux bridge
// floods multicast until its querier has waited): the probes are sent again
// until settleTimeout. It leaves the counters to the caller's snapshots.
func (r *rig) prepare(ctx context.Context, f flow) error {
	for _, h := range f.receivers {
		learn := TrafgenFrame{Dst: broadcastMAC, Src: h.MAC, EtherType: benchEtherType, Len: 64 - fcsLen}
		if err := h.SendFrame(learn.Bytes()); err != nil {
			return err
		}
	}
	// The broadcasts must have crossed before the counts below start.
	if err := sleep(ctx, 20*time.Millisecond); err != nil {
		return err
	}
	deadline := time.Now().Add(settleTimeout)
	for {
		flooded, err := r.probe(ctx, f)
		if err != nil || flooded == nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w, still %v after the switch started", flooded, settleTimeout)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// probe sends the flow's frame probeFrames times and waits until every
// receiver has it. It returns an error, and flooded nil, if one does not
// within a while; it returns flooded, an error to report, if an idle host
// received half the probes or more.
func (r *rig) probe(ctx context.Context, f flow) (flooded, err error) {
	rx0, err := rxPackets(f.receivers)
	if err != nil {
		return nil, err
	}
	idle0, err := rxPackets(f.idle)
	if err != nil {
		return nil, err
	}
	probe := f.frame.Bytes()
	for range probeFrames {
		if err := f.sender.SendFrame(probe); err != nil {
			return nil, err
		}
	}
	const timeout = 2 * time.Second
	deadline := time.Now().Add(timeout)
	for {
		rx, err := rxPackets(f.receivers)
		if err != nil {
			return nil, err
		}
		done := true
		for i, h := range f.receivers {
			got := rx[i] - rx0[i]
			if got >= probeFrames {
				continue
			}
			done = false
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("scenario check: host %s received %d of %d probe frames from %s within %v",
					h.Name, got, probeFrames, f.sender.Name, timeout)
			}
		}
		if done {
			break
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return nil, err
		}
	}
	idle, err := rxPackets(f.idle)
	if err != nil {
		return nil, err
	}
	for i, h := range f.idle {
		if got := idle[i] - idle0[i]; got >= probeFrames/2 {
			return fmt.Errorf("scenario check: idle host %s received %d of the %d probe frames: the switch floods the flow instead of forwarding it",
				h.Name, got, probeFrames), nil
		}
	}
	return nil, nil
}

var broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func rxPackets(hosts []*testenv.Host) ([]uint64, error) {
	rx := make([]uint64, len(hosts))
	for i, h := range hosts {
		n, err := h.RxPackets()
		if err != nil {
			return nil, err
		}
		rx[i] = n
	}
	return rx, nil
}

func sum(v []uint64) uint64 {
	var s uint64
	for _, x := range v {
		s += x
	}
	return s
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// snapshot is every counter a measurement compares at the start and the end
// of its window.
type snapshot struct {
	at        time.Time // when the receivers' counters were read
	delivered uint64    // receivers' eth0 rx_packets
	idle      uint64    // idle hosts' eth0 rx_packets
	// ipIn is the receivers' IPv4 InReceives, read for flows of IP
	// datagrams only, which the sink should keep from their stacks.
	ipIn uint64

	senderTx, senderTxDropped uint64 // sender's eth0
	swRx, swRxDropped         uint64 // sender's switch port
	swTx, swTxDropped         uint64 // receivers' switch ports
	softnetDropped            uint64

	cpus      []CPUTimes
	procTicks uint64 // the switch process's utime+stime
	procs     map[int]ProcStat
	ringDrops *uint64
}

// snapshot reads the counters. The CPU times and the receivers' counters
// come first and together, since figures divide one by the other.
func (r *rig) snapshot(f flow, p *process) (snapshot, error) {
	var s snapshot
	var err error
	if p != nil {
		if s.procTicks, err = procTicks(p.pid()); err != nil {
			return s, err
		}
	}
	if s.cpus, err = readProcStat(); err != nil {
		return s, err
	}
	s.at = time.Now()
	for _, h := range f.receivers {
		st, err := linkStats(h.NS, h.Iface)
		if err != nil {
			return s, err
		}
		s.delivered += st.RxPackets
	}
	idle, err := rxPackets(f.idle)
	if err != nil {
		return s, err
	}
	s.idle = sum(idle)
	if f.frame.DstIP.IsValid() {
		for _, h := range f.receivers {
			n, err := ipInReceives(h)
			if err != nil {
				return s, err
			}
			s.ipIn += n
		}
	}
	st, err := linkStats(f.sender.NS, f.sender.Iface)
	if err != nil {
		return s, err
	}
	s.senderTx, s.senderTxDropped = st.TxPackets, st.TxDropped
	sw := r.lab.SwitchNS()
	if st, err = linkStats(sw, f.sender.SwitchPort); err != nil {
		return s, err
	}
	s.swRx, s.swRxDropped = st.RxPackets, st.RxDropped
	for _, h := range f.receivers {
		if st, err = linkStats(sw, h.SwitchPort); err != nil {
			return s, err
		}
		s.swTx += st.TxPackets
		s.swTxDropped += st.TxDropped
	}
	b, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		return s, fmt.Errorf("%w", err)
	}
	if s.softnetDropped, err = ParseSoftnetDrops(bytes.NewReader(b)); err != nil {
		return s, err
	}
	if s.procs, err = scanProcs(); err != nil {
		return s, err
	}
	if p != nil {
		ports, err := switchStatus(p, len(r.hosts))
		if err != nil {
			r.warn("ring drops not counted: %v", err)
		}
		for _, pc := range ports {
			if pc.Name == f.sender.SwitchPort {
				s.ringDrops = &pc.KernelDrops
			}
		}
	}
	return s, nil
}

// switchStatus asks snoopswitch for its port table (SIGUSR1) and reads it
// from its output.
func switchStatus(p *process, ports int) ([]PortCounters, error) {
	mark := p.out.mark()
	if err := p.signal(syscall.SIGUSR1); err != nil {
		return nil, err
	}
	const timeout = time.Second
	deadline := time.Now().Add(timeout)
	for {
		rows, ok, err := ParsePortTable(p.out.since(mark), ports)
		if err != nil || ok {
			return rows, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("snoopswitch wrote no port table within %v of SIGUSR1", timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func linkStats(ns *testenv.Namespace, name string) (*netlink.LinkStatistics, error) {
	nl := ns.Handle()
	if nl == nil {
		return nil, fmt.Errorf("statistics of %s: namespace %s is closed", name, ns.Name)
	}
	link, err := nl.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("statistics of %s in %s: %w", name, ns.Name, err)
	}
	st := link.Attrs().Statistics
	if st == nil {
		return nil, fmt.Errorf("the kernel sent no statistics for %s in %s", name, ns.Name)
	}
	return st, nil
}

// scanProcs reads /proc/<pid>/stat of every process.
func scanProcs() (map[int]ProcStat, error) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	procs := make(map[int]ProcStat, len(dirs))
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue // it has just ended
		}
		if p, err := ParseProcPIDStat(b); err == nil {
			procs[p.PID] = p
		}
	}
	return procs, nil
}

func readProcStat() ([]CPUTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	return ParseProcStat(bytes.NewReader(b))
}

func procTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, fmt.Errorf("CPU time of the switch: %w", err)
	}
	p, err := ParseProcPIDStat(b)
	return p.Ticks, err
}

// clockTicks returns USER_HZ from the auxiliary vector; Linux has used 100
// on every architecture Go supports, which is the fallback.
func clockTicks() uint64 {
	if b, err := os.ReadFile("/proc/self/auxv"); err == nil {
		if hz := ParseAuxvClockTicks(b); hz > 0 {
			return hz
		}
	}
	return 100
}

// cpuWindow fills a run's CPU figures from two snapshots: per-CPU load,
// the load of processes not the bench's (whose process groups are ours),
// flags for steal, for other load and for load on CPUs that should idle,
// and CPU time per delivered frame.
func (r *rig) cpuWindow(run *RunReport, s0, s1 snapshot, hasProc bool, idleCPUs, ours []int) error {
	loads, busy, err := LoadBetween(s0.cpus, s1.cpus)
	if err != nil {
		return err
	}
	run.CPUs = loads
	for _, l := range loads {
		if l.StealPct > maxStealPct && !slices.Contains(run.Flags, FlagSteal) {
			run.Flags = append(run.Flags, FlagSteal)
		}
		for _, c := range idleCPUs {
			if l.CPU == c && l.BusyPct > maxIdleBusyPct && !slices.Contains(run.Flags, FlagIdleCPUBusy) {
				run.Flags = append(run.Flags, FlagIdleCPUBusy)
			}
		}
	}
	self := os.Getpid()
	isOurs := func(p ProcStat) bool { return p.PID == self || slices.Contains(ours, p.PGID) }
	windowTicks := s1.at.Sub(s0.at).Seconds() * float64(r.clkTck)
	others, otherPct := OtherLoad(s0.procs, s1.procs, isOurs, windowTicks, 1)
	run.OtherProcesses = others
	if run.OtherProcesses == nil {
		run.OtherProcesses = []ProcessLoad{}
	}
	run.OtherCPUPct = otherPct
	if otherPct > maxOtherPct {
		run.Flags = append(run.Flags, FlagOtherLoad)
	}
	tick := 1e9 / float64(r.clkTck)
	if hasProc {
		ns := float64(s1.procTicks-s0.procTicks) * tick
		run.SwitchCPUNs = &ns
	}
	if delivered := s1.delivered - s0.delivered; delivered > 0 {
		all := float64(busy) * tick / float64(delivered)
		run.AllCPUNsPerFrame = &all
		if run.SwitchCPUNs != nil {
			per := *run.SwitchCPUNs / float64(delivered)
			run.SwitchCPUNsPerFrame = &per
		}
	}
	return nil
}
