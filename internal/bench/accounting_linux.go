package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/control"
	"github.com/snoopswitch/snoopswitch/testenv"
	"github.com/vishvananda/netlink"
)

// What a measurement counts: the snapshots of every counter it compares
// at the start and the end of its window (frames delivered, the switch's
// port table, the ports' link statistics) and the CPU time of the switch
// and of everything else on the machine over that window.

// snapshot is every counter a measurement compares at the start and the end
// of its window.
type snapshot struct {
	at        time.Time // when the receivers' counters were read
	delivered uint64    // receivers' eth0 rx_packets
	idle      uint64    // idle hosts' eth0 rx_packets
	// ipIn is the receivers' IPv4 InReceives, read for flows of IP
	// datagrams only, which the sink should keep from their stacks.
	ipIn uint64

	senderTx, senderTxDropped uint64 // senders' eth0
	swRx, swRxDropped         uint64 // senders' switch ports
	swTx, swTxDropped         uint64 // receivers' switch ports
	softnetDropped            uint64

	cpus      []CPUTimes
	procTicks uint64 // the switch process's utime+stime
	procs     map[int]ProcStat
	// ringDrops and fastRx are the senders' ports' ring drops and frames
	// the fast path forwarded, from snoopswitch's ports report; nil for the
	// Linux bridge or when the report could not be read.
	ringDrops, fastRx *uint64
}

// cpuSnapshot reads the CPU times of the machine and, unless p is nil, of
// the switch process p, and when.
func cpuSnapshot(p *process) (snapshot, error) {
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
	return s, nil
}

// snapshot reads the counters. The CPU times and the receivers' counters
// come first and together, since figures divide one by the other.
func (r *rig) snapshot(f flow, p *process) (snapshot, error) {
	s, err := cpuSnapshot(p)
	if err != nil {
		return s, err
	}
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
	if f.ipFlow() {
		for _, h := range f.receivers {
			n, err := ipInReceives(h)
			if err != nil {
				return s, err
			}
			s.ipIn += n
		}
	}
	sw := r.lab.SwitchNS()
	for _, st := range f.streams {
		ls, err := linkStats(st.sender.NS, st.sender.Iface)
		if err != nil {
			return s, err
		}
		s.senderTx += ls.TxPackets
		s.senderTxDropped += ls.TxDropped
		if ls, err = linkStats(sw, st.sender.SwitchPort); err != nil {
			return s, err
		}
		s.swRx += ls.RxPackets
		s.swRxDropped += ls.RxDropped
	}
	// Right after the ports' own counters, which the fast path's share is
	// compared with.
	if p != nil {
		ports, err := r.switchPorts()
		if err != nil {
			r.warn("ring drops and fast-path frames not counted: %v", err)
		} else if s.ringDrops, s.fastRx, err = senderPorts(ports, f); err != nil {
			r.warn("ring drops and fast-path frames not counted: %v", err)
		}
	}
	for _, h := range f.receivers {
		ls, err := linkStats(sw, h.SwitchPort)
		if err != nil {
			return s, err
		}
		s.swTx += ls.TxPackets
		s.swTxDropped += ls.TxDropped
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
	return s, nil
}

// switchPorts reads snoopswitch's ports report from its control socket.
func (r *rig) switchPorts() ([]PortCounters, error) {
	doc, err := control.Fetch(r.controlSocket, "ports")
	if err != nil {
		return nil, err
	}
	return ParseShowPorts(doc)
}

// senderPorts sums, over the flow's senders' switch ports, the frames the
// kernel dropped at their full receive rings and the frames the fast path
// forwarded in the kernel (which the engine's port counters include).
func senderPorts(ports []PortCounters, f flow) (ringDrops, fastRx *uint64, err error) {
	var drops, fast uint64
	for _, st := range f.streams {
		i := slices.IndexFunc(ports, func(p PortCounters) bool { return p.Name == st.sender.SwitchPort })
		if i < 0 {
			return nil, nil, fmt.Errorf("the switch reports no port %s", st.sender.SwitchPort)
		}
		drops += ports[i].KernelDrops
		fast += ports[i].FastRxFrames
	}
	return &drops, &fast, nil
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
