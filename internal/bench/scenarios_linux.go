package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

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
		description: "64-byte unicast frames (60 without FCS) from a to b at saturation; frames/s delivered at b",
		metrics:     []metricSpec{metricRate},
		measure:     saturate(unicast(64)),
	},
	{
		name:        "unicast-1500",
		description: "1500-byte unicast frames (1496 without FCS) from a to b at saturation; frames/s delivered at b",
		metrics:     []metricSpec{metricRate},
		measure:     saturate(unicast(1500)),
	},
	{
		name:        "ping",
		description: "ICMP echo from a to b, one request at a time; round-trip time percentiles",
		metrics:     []metricSpec{metricRTTP50, metricRTTP99},
		measure:     pingRTT,
	},
}

// unicast is a flow of wireSize-byte frames (FCS included) from a to b,
// which c must not see.
func unicast(wireSize int) func(r *rig) flow {
	return func(r *rig) flow {
		return flow{
			sender:    r.a,
			receivers: []*testenv.Host{r.b},
			idle:      []*testenv.Host{r.c},
			frame:     TrafgenFrame{Dst: r.b.MAC, Src: r.a.MAC, EtherType: benchEtherType, Len: wireSize - fcsLen},
		}
	}
}

// saturate measures a flow that trafgen sends as fast as it can from one
// core: the rate delivered per receiver over a steady window after a
// warm-up, with the counters of every stage.
func saturate(build func(r *rig) flow) func(ctx context.Context, r *rig, d device) (RunReport, error) {
	return func(ctx context.Context, r *rig, d device) (RunReport, error) {
		f := build(r)
		if err := r.prepare(ctx, f); err != nil {
			return RunReport{}, err
		}
		conf, err := f.frame.Config()
		if err != nil {
			return RunReport{}, err
		}
		path := filepath.Join(r.tmp, fmt.Sprintf("frame-%d.cfg", f.frame.Len))
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			return RunReport{}, fmt.Errorf("trafgen configuration: %w", err)
		}
		// --no-sock-mem: the net.core.wmem sysctls are read-only in a
		// namespace, and global state is not ours to change anyway. -Q: leave
		// IRQ affinity alone. -P 1: one worker, which trafgen binds to CPU 0.
		// -C: no CPU statistics at exit.
		gen, err := startProcess("trafgen", f.sender.NS.Command(r.taskset, "-c", fmt.Sprint(generatorCPU),
			r.trafgen, "--dev", f.sender.Iface, "--conf", path, "--no-sock-mem", "-Q", "-P", "1", "-C"))
		if err != nil {
			return RunReport{}, err
		}
		defer gen.kill()
		if err := sleep(ctx, r.timing.warmup); err != nil {
			return RunReport{}, err
		}
		if gen.exited() {
			return RunReport{}, fmt.Errorf("trafgen stopped during the warm-up: %s", gen.status())
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
		if gen.exited() {
			return RunReport{}, fmt.Errorf("trafgen stopped during the window: %s", gen.status())
		}
		gen.stop(syscall.SIGINT, 5*time.Second)

		window := s1.at.Sub(s0.at).Seconds()
		fr := &FrameCounts{
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
		if fr.Delivered == 0 {
			return RunReport{}, fmt.Errorf("nothing delivered in the window (trafgen sent %d frames): %s", fr.SenderTx, gen.status())
		}
		// A flooded flow would reach the idle hosts as often as the receivers.
		if limit := 10 + fr.Delivered/1000; fr.IdleRx > limit {
			return RunReport{}, fmt.Errorf("scenario check: the idle hosts received %d frames in the window while the receivers got %d: the flow was flooded, so the figure is not forwarding",
				fr.IdleRx, fr.Delivered)
		}
		run := RunReport{
			WindowS: window,
			Metrics: map[string]float64{metricRate.name: float64(fr.Delivered) / window / float64(len(f.receivers))},
			Frames:  fr,
			Flags:   []string{},
		}
		// The Linux bridge forwards in the sender's softirq, on the
		// generator's CPU: the switch's CPU has nothing to do.
		var idleCPUs []int
		ours := []int{gen.pid()}
		if p := d.process(); p != nil {
			ours = append(ours, p.pid())
		} else {
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
	dst := r.b.IPv4.Addr()
	const timeout = time.Second
	// Resolves ARP (where needed) so the measured echoes carry no extra
	// round trip.
	warm, err := r.a.Ping(dst, 3, r.timing.pingInterval, timeout)
	if err != nil {
		return RunReport{}, err
	}
	if warm.Received == 0 {
		return RunReport{}, fmt.Errorf("scenario check: no reply from %s (host %s) to %d warm-up pings", dst, r.b.Name, warm.Sent)
	}
	s0, err := r.pingSnapshot(f)
	if err != nil {
		return RunReport{}, err
	}
	res, err := r.a.Ping(dst, r.timing.pings, r.timing.pingInterval, timeout)
	if err != nil {
		return RunReport{}, err
	}
	s1, err := r.pingSnapshot(f)
	if err != nil {
		return RunReport{}, err
	}
	if res.Received == 0 {
		return RunReport{}, fmt.Errorf("no reply from %s to %d pings", dst, res.Sent)
	}
	if res.Received < res.Sent {
		r.warn("ping through %s: %d of %d echo requests got no reply within %v", d.name(), res.Sent-res.Received, res.Sent, timeout)
	}
	// ARP may broadcast now and then; a flooded echo would reach c every time.
	if idle := s1.idle - s0.idle; idle > uint64(res.Sent/2) {
		return RunReport{}, fmt.Errorf("scenario check: idle host %s received %d frames during %d pings: the switch floods them", r.c.Name, idle, res.Sent)
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

// pingSnapshot reads what a latency run needs: CPU times and the idle
// hosts' counters.
func (r *rig) pingSnapshot(f flow) (snapshot, error) {
	var s snapshot
	var err error
	if s.cpus, err = readProcStat(); err != nil {
		return s, err
	}
	s.at = time.Now()
	idle, err := rxPackets(f.idle)
	if err != nil {
		return s, err
	}
	s.idle = sum(idle)
	s.procs, err = scanProcs()
	return s, err
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
