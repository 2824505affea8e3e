package bench

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/snoopswitch/snoopswitch/snoop"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// scenario is one kind of traffic, measured the same way through both
// switches. A scenario's measure runs with the switch up and returns the
// run's figures (RunReport.Metrics keyed by the names in metrics).
type scenario struct {
	name        string
	description string
	metrics     []metricSpec
	measure     func(ctx context.Context, r *rig, d device) (RunReport, error)
}

// scenarioTable lists every scenario, in the order a bench runs them.
var scenarioTable = []scenario{
	{
		name:        "unicast-64",
		description: "64-byte IPv4 UDP frames (60 without FCS) from a to m1 at saturation; frames/s delivered at m1",
		metrics:     []metricSpec{metricRate},
		measure:     saturate(unicast(64)),
	},
	{
		name:        "unicast-1500",
		description: "1500-byte IPv4 UDP frames (1496 without FCS) from a to m1 at saturation; frames/s delivered at m1",
		metrics:     []metricSpec{metricRate},
		measure:     saturate(unicast(1500)),
	},
	{
		name: "unicast-64-2s",
		description: "64-byte IPv4 UDP frames from a to m1 (generator on CPU 0) and from m2 to m3 (generator on CPU 1, " +
			"with the switch) at saturation; frames/s delivered per receiver",
		metrics: []metricSpec{metricRate},
		measure: saturate(unicastTwoSenders),
	},
	{
		name:        "multicast-1",
		description: "64-byte IPv4 UDP frames from a to 239.1.1.1, which m1 alone joined, at saturation; 1 group in the table; frames/s delivered at m1",
		metrics:     []metricSpec{metricRate},
		measure:     saturate(multicast(1, 0)),
	},
	{
		name:        "multicast-4",
		description: "64-byte IPv4 UDP frames from a to 239.1.1.1, which m1 to m4 joined, at saturation; 1 group in the table; frames/s delivered per member",
		metrics:     []metricSpec{metricRate},
		measure:     saturate(multicast(4, 0)),
	},
	{
		name:        "multicast-1-10k",
		description: "as multicast-1, with 10 000 groups in the table (n joined the 9 999 others); frames/s delivered at m1",
		metrics:     []metricSpec{metricRate},
		measure:     saturate(multicast(1, otherGroups10k)),
	},
	{
		name:        "multicast-4-10k",
		description: "as multicast-4, with 10 000 groups in the table (n joined the 9 999 others); frames/s delivered per member",
		metrics:     []metricSpec{metricRate},
		measure:     saturate(multicast(4, otherGroups10k)),
	},
	{
		name:        "tcp",
		description: "one TCP stream (iperf3) from a to m1, offloads at their defaults, iperf3 on CPU 0; Gbit/s received at m1",
		metrics:     []metricSpec{metricBitRate},
		measure:     tcpStream,
	},
	{
		name:        "ping",
		description: "ICMP echo from a to b, one request at a time; round-trip time percentiles",
		metrics:     []metricSpec{metricRTTP50, metricRTTP99},
		measure:     pingRTT,
	},
}

// unicast is a flow of wireSize-byte IPv4 UDP frames from a to m1, which
// the other hosts must not see. They go to the discard port, as the
// multicast flows' do, so that the receiver's BPF sink drops them as it
// drops those: every throughput scenario counts at the same sink.
func unicast(wireSize int) func(r *rig) flow {
	return func(r *rig) flow {
		m1 := r.members[0]
		return flow{
			streams:   []stream{{sender: r.a, frame: unicastFrame(r.a, m1, wireSize), cpu: generatorCPU}},
			receivers: []*testenv.Host{m1},
			idle:      append(slices.Clone(r.members[1:]), r.n),
		}
	}
}

// unicastTwoSenders is two flows of 64-byte frames, a to m1 with its
// generator on CPU 0 and m2 to m3 with its generator on CPU 1. With one
// sender the Linux bridge forwards on the sender's core alone, leaving the
// other idle; with two it gets both cores, as snoopswitch does (whose core
// the second generator shares).
func unicastTwoSenders(r *rig) flow {
	m1, m2, m3 := r.members[0], r.members[1], r.members[2]
	return flow{
		streams: []stream{
			{sender: r.a, frame: unicastFrame(r.a, m1, 64), cpu: generatorCPU},
			{sender: m2, frame: unicastFrame(m2, m3, 64), cpu: switchCPU},
		},
		receivers: []*testenv.Host{m1, m3},
		idle:      []*testenv.Host{r.members[3], r.n},
	}
}

// unicastFrame is a wireSize-byte IPv4 UDP frame from host from to host to.
func unicastFrame(from, to *testenv.Host, wireSize int) Frame {
	return Frame{Dst: to.MAC, Src: from.MAC, EtherType: etherTypeIPv4,
		SrcIP: from.IPv4.Addr(), DstIP: to.IPv4.Addr(), Len: wireSize - fcsLen}
}

// benchGroup is the group of the multicast flows, and firstOtherGroup the
// first of the groups n joins besides (239.100.0.0 and up, which map to
// other MAC addresses).
var (
	benchGroup      = netip.MustParseAddr("239.1.1.1")
	firstOtherGroup = netip.MustParseAddr("239.100.0.0")
)

// otherGroups10k is how many groups n joins for the 10 000-group scenarios.
const otherGroups10k = 9999

// multicast is a flow of 64-byte IPv4 UDP frames from a to benchGroup,
// which the first members hosts join, while n joins others more groups:
// the hosts not joined must see none of it.
func multicast(members, others int) func(r *rig) flow {
	return func(r *rig) flow {
		mac := snoop.MulticastMAC(benchGroup)
		frame := Frame{Dst: mac[:], Src: r.a.MAC, EtherType: etherTypeIPv4,
			SrcIP: r.a.IPv4.Addr(), DstIP: benchGroup, Len: 64 - fcsLen}
		return flow{
			streams:   []stream{{sender: r.a, frame: frame, cpu: generatorCPU}},
			receivers: r.members[:members],
			idle:      append(slices.Clone(r.members[members:]), r.n),
			groups:    &groupSet{holder: r.n, others: others},
		}
	}
}

// installGroups makes the switch's table hold what f needs: the receivers'
// kernels join the flow's group (IP_ADD_MEMBERSHIP; their IGMPv3 reports
// cross the switch), the holder sends reports joining the other groups,
// and the table is read until it holds exactly those, on the right ports.
// It returns the number of groups in the table and a function that leaves
// the group again.
func (r *rig) installGroups(ctx context.Context, f flow, d device) (groups int, leave func(), err error) {
	group := f.streams[0].frame.DstIP
	var memberships []*testenv.Membership
	leave = func() {
		for _, m := range memberships {
			if err := m.Leave(); err != nil {
				r.warn("leave %v: %v", group, err)
			}
		}
	}
	defer func() {
		if err != nil {
			leave()
		}
	}()
	var ports []string
	for _, h := range f.receivers {
		m, err := h.Join(group)
		if err != nil {
			return 0, nil, err
		}
		memberships = append(memberships, m)
		ports = append(ports, h.SwitchPort)
	}
	others := make([]netip.Addr, f.groups.others)
	for i, g := 0, firstOtherGroup; i < len(others); i, g = i+1, g.Next() {
		others[i] = g
	}
	reports, err := IGMPv3JoinFrames(f.groups.holder.MAC, f.groups.holder.IPv4.Addr(), others)
	if err != nil {
		return 0, nil, err
	}
	start := time.Now()
	var sent time.Time
	for {
		if len(reports) > 0 && time.Since(sent) >= groupsResend {
			sent = time.Now()
			for _, rep := range reports {
				if err := f.groups.holder.SendFrame(rep); err != nil {
					return 0, nil, err
				}
			}
		}
		entries, err := d.groups()
		if err != nil {
			return 0, nil, err
		}
		n, cerr := CheckGroups(entries, group, ports, 1+len(others))
		if cerr == nil {
			return n, leave, nil
		}
		if time.Since(start) > groupsTimeout {
			return 0, nil, fmt.Errorf("scenario check: %v after the joins: %w", groupsTimeout, cerr)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return 0, nil, err
		}
	}
}

// saturate measures a flow that its senders send as fast as they can,
// each from its core: the rate delivered per receiver over a steady window after a
// warm-up, with the counters of every stage.
func saturate(build func(r *rig) flow) func(ctx context.Context, r *rig, d device) (RunReport, error) {
	return func(ctx context.Context, r *rig, d device) (RunReport, error) {
		f := build(r)
		var groups *int
		if f.groups != nil {
			n, leave, err := r.installGroups(ctx, f, d)
			if err != nil {
				return RunReport{}, err
			}
			defer leave()
			groups = &n
		}
		if err := r.prepare(ctx, f); err != nil {
			return RunReport{}, err
		}
		var senders []*sender
		defer func() {
			for _, s := range senders {
				s.halt()
			}
		}()
		for _, st := range f.streams {
			s, err := startSender(st)
			if err != nil {
				return RunReport{}, err
			}
			senders = append(senders, s)
		}
		if err := sleep(ctx, r.timing.warmup); err != nil {
			return RunReport{}, err
		}
		if err := sendersRunning(senders, "warm-up"); err != nil {
			return RunReport{}, err
		}
		s0, err := r.snapshot(f, d.process())
		if err != nil {
			return RunReport{}, err
		}
		if err := sleep(ctx, r.timing.window); err != nil {
			return RunReport{}, err
		}
		s1, err := r.snapshot(f, d.process())
		if err != nil {
			return RunReport{}, err
		}
		if err := sendersRunning(senders, "window"); err != nil {
			return RunReport{}, err
		}
		for _, s := range senders {
			s.halt()
		}

		window := s1.at.Sub(s0.at).Seconds()
		fr := &FrameCounts{
			Receivers:       len(f.receivers) / len(f.streams),
			SenderTx:        s1.senderTx - s0.senderTx,
			SenderTxDropped: s1.senderTxDropped - s0.senderTxDropped,
			SwitchRx:        s1.swRx - s0.swRx,
			SwitchRxDropped: s1.swRxDropped - s0.swRxDropped,
			SwitchTx:        s1.swTx - s0.swTx,
			SwitchTxDropped: s1.swTxDropped - s0.swTxDropped,
			Delivered:       s1.delivered - s0.delivered,
			IdleRx:          s1.idle - s0.idle,
			SoftnetDropped:  s1.softnetDropped - s0.softnetDropped,
		}
		if s0.ringDrops != nil && s1.ringDrops != nil {
			n := *s1.ringDrops - *s0.ringDrops
			fr.RingDropped = &n
		}
		if s0.fastRx != nil && s1.fastRx != nil {
			n := *s1.fastRx - *s0.fastRx
			fr.FastForwarded = &n
		}
		if fr.Delivered == 0 {
			return RunReport{}, fmt.Errorf("nothing delivered in the window (the sender's interface sent %d frames; the sender: %s)", fr.SenderTx, senders[0])
		}
		// A flooded flow would reach the idle hosts as often as the receivers.
		if limit := 10 + fr.Delivered/1000; fr.IdleRx > limit {
			return RunReport{}, fmt.Errorf("scenario check: the idle hosts (%s) received %d frames in the window while the receivers got %d: the flow was flooded, so the figure is not forwarding",
				hostNames(f.idle), fr.IdleRx, fr.Delivered)
		}
		// The members' stacks would have been part of the measurement.
		if in := s1.ipIn - s0.ipIn; in > 10+fr.Delivered/100 {
			return RunReport{}, fmt.Errorf("the receivers' IP stacks took %d of the %d datagrams delivered in the window: their BPF sink does not drop them", in, fr.Delivered)
		}
		run := RunReport{
			WindowS: window,
			Metrics: map[string]float64{metricRate.name: float64(fr.Delivered) / window / float64(len(f.receivers))},
			Frames:  fr,
			Groups:  groups,
			Flags:   []string{},
		}
		// The Linux bridge forwards in the sender's softirq, on the
		// generator's CPU: with one sender the switch's CPU has nothing to
		// do.
		var idleCPUs []int
		// The senders are threads of the bench.
		ours := []int{os.Getpid()}
		if p := d.process(); p != nil {
			ours = append(ours, p.pid())
		} else if len(f.streams) == 1 {
			idleCPUs = []int{switchCPU}
		}
		if err := r.cpuWindow(&run, s0, s1, d.process() != nil, idleCPUs, ours); err != nil {
			return RunReport{}, err
		}
		return run, nil
	}
}

// pingRTT measures the round-trip time of ICMP echoes from a to b, one at a
// time: what the express path is for.
func pingRTT(ctx context.Context, r *rig, d device) (RunReport, error) {
	f := unicast(64)(r)
	if err := r.prepare(ctx, f); err != nil {
		return RunReport{}, err
	}
	dst := f.receivers[0].IPv4.Addr()
	const timeout = time.Second
	// Resolves ARP (where needed) so the measured echoes carry no extra
	// round trip.
	warm, err := r.a.Ping(dst, 3, r.timing.pingInterval, timeout)
	if err != nil {
		return RunReport{}, err
	}
	if warm.Received == 0 {
		return RunReport{}, fmt.Errorf("scenario check: no reply from %s (host %s) to %d warm-up pings", dst, f.receivers[0].Name, warm.Sent)
	}
	s0, err := r.pingSnapshot(f, nil)
	if err != nil {
		return RunReport{}, err
	}
	res, err := r.a.Ping(dst, r.timing.pings, r.timing.pingInterval, timeout)
	if err != nil {
		return RunReport{}, err
	}
	s1, err := r.pingSnapshot(f, nil)
	if err != nil {
		return RunReport{}, err
	}
	if res.Received == 0 {
		return RunReport{}, fmt.Errorf("no reply from %s to %d pings", dst, res.Sent)
	}
	if res.Received < res.Sent {
		r.warn("ping through %s: %d of %d echo requests got no reply within %v", d.name(), res.Sent-res.Received, res.Sent, timeout)
	}
	// ARP may broadcast now and then; a flooded echo would reach the idle
	// hosts every time.
	if idle := s1.idle - s0.idle; idle > uint64(len(f.idle)*res.Sent/2) {
		return RunReport{}, fmt.Errorf("scenario check: the idle hosts (%s) received %d frames during %d pings: the switch floods them", hostNames(f.idle), idle, res.Sent)
	}
	run := RunReport{
		WindowS: s1.at.Sub(s0.at).Seconds(),
		Metrics: map[string]float64{
			metricRTTP50.name: micros(res.Percentile(50)),
			metricRTTP99.name: micros(res.Percentile(99)),
		},
		Ping:  &PingCounts{Sent: res.Sent, Received: res.Received},
		Flags: []string{},
	}
	var ours []int
	if p := d.process(); p != nil {
		ours = []int{p.pid()}
	}
	if err := r.cpuWindow(&run, s0, s1, false, nil, ours); err != nil {
		return RunReport{}, err
	}
	return run, nil
}

// pingSnapshot reads what a run that does not saturate needs: CPU times
// (of switch process p too, unless it is nil) and the idle hosts'
// counters.
func (r *rig) pingSnapshot(f flow, p *process) (snapshot, error) {
	s, err := cpuSnapshot(p)
	if err != nil {
		return s, err
	}
	idle, err := rxPackets(f.idle)
	if err != nil {
		return s, err
	}
	s.idle = sum(idle)
	s.procs, err = scanProcs()
	return s, err
}

func hostNames(hosts []*testenv.Host) string {
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.Name
	}
	return strings.Join(names, ", ")
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// sendersRunning fails if a sender has stopped during the part of the
// measurement named when.
func sendersRunning(senders []*sender, when string) error {
	for _, s := range senders {
		if err := s.running(); err != nil {
			return fmt.Errorf("the sender stopped during the %s: %w (%s)", when, err, s)
		}
	}
	return nil
}

// tcpStream measures one TCP stream from a to m1 with iperf3 (testenv's
// TCPThroughput), with the interfaces' offloads at their defaults, so
// that GSO super-frames cross the switch as they would. iperf3's client
// and server inherit the bench's CPU (the generator's); the switch has its
// own.
func tcpStream(ctx context.Context, r *rig, d device) (RunReport, error) {
	f := unicast(64)(r)
	if err := r.prepare(ctx, f); err != nil {
		return RunReport{}, err
	}
	p := d.process()
	s0, err := r.pingSnapshot(f, p)
	if err != nil {
		return RunReport{}, err
	}
	gbps, err := testenv.TCPThroughput(r.a, f.receivers[0], r.timing.tcp)
	if err != nil {
		return RunReport{}, err
	}
	s1, err := r.pingSnapshot(f, p)
	if err != nil {
		return RunReport{}, err
	}
	if !(gbps > 0) {
		return RunReport{}, fmt.Errorf("iperf3 from %s to %s measured %v Gbit/s", r.a.Name, f.receivers[0].Name, gbps)
	}
	run := RunReport{
		WindowS: s1.at.Sub(s0.at).Seconds(),
		Metrics: map[string]float64{metricBitRate.name: gbps * 1e9},
		Flags:   []string{},
	}
	// iperf3 runs in the bench's process group.
	ours := []int{syscall.Getpgrp()}
	var idleCPUs []int
	if p != nil {
		ours = append(ours, p.pid())
	} else {
		idleCPUs = []int{switchCPU}
	}
	if err := r.cpuWindow(&run, s0, s1, p != nil, idleCPUs, ours); err != nil {
		return RunReport{}, err
	}
	return run, nil
}
