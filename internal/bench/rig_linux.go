package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/snoopswitch/snoopswitch/testenv"
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
	taskset    string
	tmp        string // holds the switch configuration and its control socket
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
	tcp            time.Duration // iperf3's --time (whole seconds, at least 1)
}

var (
	fullTiming  = timing{warmup: time.Second, window: 3 * time.Second, pings: 200, pingInterval: 10 * time.Millisecond, tcp: 3 * time.Second}
	quickTiming = timing{warmup: 300 * time.Millisecond, window: 700 * time.Millisecond, pings: 40, pingInterval: 10 * time.Millisecond, tcp: time.Second}
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
	// (bridgeQueryResponse).
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
	bridgeHashMax       = 16384
	bridgeQueryResponse = time.Second
	bridgeIGMPVersion   = 3 // as snoopswitch's querier
)

// flow is the traffic of a saturating scenario: one stream or more, each
// one frame sent from its sender as fast as it can (sender), which the
// switch should deliver to every receiver of the stream and to no idle
// host. Every receiver gets every frame of one stream.
type flow struct {
	streams   []stream
	receivers []*testenv.Host
	idle      []*testenv.Host
	// groups is valid iff the flow is multicast (to the first stream's
	// frame.DstIP).
	groups *groupSet
}

// stream is one sender's part of a flow: frame sent from sender's
// interface by a thread pinned to cpu.
type stream struct {
	sender *testenv.Host
	frame  Frame
	cpu    int
}

// ipFlow says whether the flow's frames are IP datagrams, which the
// receivers' sink should keep from their stacks.
func (f flow) ipFlow() bool { return f.streams[0].frame.DstIP.IsValid() }

// groupSet is what a multicast flow needs in the switch's table: the
// receivers' membership of the flow's group, which their kernels join, and
// others more groups, which holder joins with crafted reports.
type groupSet struct {
	holder *testenv.Host
	others int
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
			err = fmt.Errorf("bench: pair %d, %s through %s: %w", pair, sc.name, strings.TrimSpace(d.name()+" "+d.datapath()), err)
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
	run.Pair, run.Switch, run.Datapath = pair, d.name(), d.datapath()
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
		learn := Frame{Dst: broadcastMAC, Src: h.MAC, EtherType: benchEtherType, Len: 64 - fcsLen}
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

// probe sends each stream's frame probeFrames times and waits until every
// receiver has them. It returns an error, and flooded nil, if one does not
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
	for _, st := range f.streams {
		probe := st.frame.Bytes()
		for range probeFrames {
			if err := st.sender.SendFrame(probe); err != nil {
				return nil, err
			}
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
				return nil, fmt.Errorf("scenario check: host %s received %d of %d probe frames within %v",
					h.Name, got, probeFrames, timeout)
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
