package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/control"
	"github.com/snoopswitch/snoopswitch/internal/scenario"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// The two fabrics a fabric lab compares: the same machines and tunnels,
// the tunnels plain router ports (every stream crosses every tunnel) or
// switch ports.
const (
	FloodingFabric = "flooding fabric"
	SnoopingFabric = "snooping fabric"
)

// A FabricLab is a fabric topology built in network namespaces: a
// testenv.Fabric with a machine per topology machine, each running its own
// `snoopswitch run` process on its hosts' ports and its tunnels.
type FabricLab struct {
	Topology *Topology
	Env      *testenv.Fabric
	// Binary is the snoopswitch program each machine runs.
	Binary string
	// Datapath is each machine's --datapath (auto, ring or fast; "" is
	// run's default).
	Datapath string
	hosts    []*testenv.Host    // in topology order
	on       []*testenv.Machine // the machine of each host
}

// BuildFabric creates the fabric topology t's machines, tunnels and hosts
// (names starting with prefix, 1 to 5 characters; "" picks a random one).
// Binary is the snoopswitch program the machines run. On error it removes
// what it made; otherwise the caller must Close the lab.
func BuildFabric(t *Topology, prefix, binary string) (*FabricLab, error) {
	if !t.IsFabric() {
		return nil, fmt.Errorf("lab: topology %s lists no machines: build it with Build", t.Name)
	}
	tunnels := testenv.Star
	if t.Tunnels == TunnelsFullMesh {
		tunnels = testenv.FullMesh
	}
	env, err := testenv.BuildFabric(testenv.FabricOptions{Prefix: prefix, Tunnels: tunnels})
	if err != nil {
		return nil, err
	}
	l := &FabricLab{Topology: t, Env: env, Binary: binary}
	if err := l.build(); err != nil {
		return nil, errors.Join(err, env.Close())
	}
	return l, nil
}

func (l *FabricLab) build() error {
	for _, name := range l.Topology.Machines {
		if _, err := l.Env.AddMachine(name); err != nil {
			return err
		}
	}
	hosts := l.Topology.Hosts
	for i := 0; i < len(hosts); {
		th := hosts[i]
		m := l.Env.Machine(th.Machine)
		// The hosts of a shared port are adjacent and on one machine
		// (Parse checks it).
		n := 1
		for th.Port != "" && i+n < len(hosts) && hosts[i+n].Port == th.Port {
			n++
		}
		if th.Port == "" {
			h, err := m.AddHost(th.Name, testenv.HostOptions{})
			if err != nil {
				return err
			}
			l.hosts, l.on = append(l.hosts, h), append(l.on, m)
		} else {
			var names []string
			for _, o := range hosts[i : i+n] {
				names = append(names, o.Name)
			}
			hs, err := m.AddHostsBehindPort(th.Port, names...)
			if err != nil {
				return err
			}
			for _, h := range hs {
				l.hosts, l.on = append(l.hosts, h), append(l.on, m)
			}
		}
		i += n
	}
	return nil
}

// Close stops the switches and removes every namespace and link.
func (l *FabricLab) Close() error { return l.Env.Close() }

// Hosts returns the lab's hosts in topology order.
func (l *FabricLab) Hosts() []*testenv.Host { return slices.Clone(l.hosts) }

// fabrics are the two runs, in Crossed's order: the tunnel ports' flag.
var fabrics = [2]struct{ name, flag string }{
	{FloodingFabric, "--router-port"},
	{SnoopingFabric, "--switch-port"},
}

// Run shows the fabric at work: the streams run once over a flooding
// fabric, then over the snooping fabric, where the hosts also ping each
// other first (each the next, over IPv4 and IPv6, across the tunnels).
// Each run starts a `snoopswitch run` process on every machine and stops
// them at its end. An error means the lab failed, not the switches:
// FabricReport.Failures says whether they did their job.
func (l *FabricLab) Run(ctx context.Context, pings int) (*FabricReport, error) {
	r := &FabricReport{Report: &Report{Topology: l.Topology}, Prefix: l.Env.Prefix()}
	for _, h := range l.hosts {
		r.Hosts = append(r.Hosts, HostInfo{Name: h.Name, SwitchPort: h.SwitchPort, IPv4: h.IPv4, IPv6: h.IPv6, LinkLocal: h.LinkLocal})
	}
	for _, m := range l.Env.Machines() {
		info := MachineInfo{Name: m.Name, Namespace: m.SwitchNS().Name, Underlay: m.Underlay}
		for j, h := range l.hosts {
			if l.on[j] == m {
				info.Hosts = append(info.Hosts, h.Name)
			}
		}
		r.Machines = append(r.Machines, info)
	}
	// Each tunnel end counts what arrives over it: the other direction.
	ends := l.Env.Tunnels()
	for _, e := range ends {
		r.Tunnels = append(r.Tunnels, TunnelInfo{From: e.Peer.Name, To: e.Machine.Name, Device: e.Name, VNI: e.VNI})
	}
	for f, fab := range fabrics {
		run, err := l.runFabric(ctx, fab.flag, ends, pings, f == snoopingRun)
		if err != nil {
			return nil, fmt.Errorf("lab: %s: %w", fab.name, err)
		}
		r.Crossed[f] = run.crossed
		r.Queriers[f] = run.queriers
		if f == floodingRun {
			r.FloodingReceived = run.received
			continue
		}
		r.Received, r.Pings, r.Notes = run.received, run.pings, run.notes
	}
	r.Querier = r.querierSummary()
	return r, nil
}

type fabricRun struct {
	received [][]int
	crossed  [][]int
	queriers [][]control.QuerierState
	pings    PingSummary
	notes    []string
}

// runFabric starts the switches with tunnelFlag on the tunnels, pings (if
// ping), runs the scenario and stops the switches.
func (l *FabricLab) runFabric(ctx context.Context, tunnelFlag string, ends []*testenv.Tunnel, pings int, ping bool) (*fabricRun, error) {
	args := []string{
		// The start-up window ends after the first query's response
		// interval: 1 s rather than 10 s.
		"--query-response-interval", "1s",
		// The machines start one after another: a switch that starts
		// after the elected querier's startup queries defers at its
		// next one (RFC 3376 s8.6/8.7: a quarter of the query interval
		// later), or as soon as the querier hears its query and answers
		// (snoop.Querier.Outranked). An 8 s interval bounds the first
		// at 2 s within the lab's run, as 125 s would not.
		"--query-interval", "8s",
		"--log-level", "warn",
	}
	if l.Datapath != "" {
		args = append(args, "--datapath", l.Datapath)
	}
	var procs []*testenv.Process
	defer func() {
		for _, p := range procs {
			p.Stop()
		}
	}()
	for _, m := range l.Env.Machines() {
		p, err := m.Run(testenv.ProcessOptions{Binary: l.Binary, TunnelFlag: tunnelFlag, Args: args, SplitHorizon: l.Topology.Tunnels == TunnelsFullMesh && tunnelFlag != "--router-port"})
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
	}
	dev := &fabricDevice{procs: procs, on: l.on, hosts: l.hosts}
	run := &fabricRun{}
	if ping && pings > 0 {
		p, err := pingRing(ctx, l.hosts, pings)
		if err != nil {
			return nil, err
		}
		run.pings = p
	}
	if err := dev.waitLearned(ctx, learnWait); err != nil {
		return nil, err
	}
	caps := make([]*testenv.Capture, len(ends))
	defer func() {
		for _, c := range caps {
			if c != nil {
				c.Close()
			}
		}
	}()
	for k, e := range ends {
		c, err := e.Capture()
		if err != nil {
			return nil, err
		}
		caps[k] = c
	}
	sc := scenarioOf(l.Topology)
	res, err := (&scenario.Runner{Hosts: l.hosts, Device: dev}).RunContext(ctx, sc)
	if err != nil {
		return nil, err
	}
	run.notes = res.Notes
	run.received = received(l.Topology, sc, res)
	for _, s := range l.Topology.Streams {
		row := make([]int, len(ends))
		match := res.StreamMatch(s.Name())
		for k, c := range caps {
			row[k] = c.Count(match)
		}
		run.crossed = append(run.crossed, row)
	}
	for _, p := range procs {
		var qs []control.QuerierState
		b, err := p.Fetch("querier")
		if err == nil {
			err = json.Unmarshal(b, &qs)
		}
		if err != nil {
			return nil, err
		}
		run.queriers = append(run.queriers, qs)
	}
	return run, nil
}

// fabricDevice is the switches of a fabric, as processes, for the
// scenario runner: a host's group is registered when its machine's switch
// shows it on the host's port.
type fabricDevice struct {
	procs []*testenv.Process // by machine, in order
	on    []*testenv.Machine // the machine of each host
	hosts []*testenv.Host
}

func (d *fabricDevice) Name() string { return "snoopswitch fabric" }

func (d *fabricDevice) Snoops(group netip.Addr) bool { return scenario.OnSwitch(nil).Snoops(group) }

func (d *fabricDevice) Registered(h *testenv.Host, group netip.Addr) (bool, error) {
	j := slices.Index(d.hosts, h)
	if j < 0 {
		return false, fmt.Errorf("lab: host %s is not in the fabric", h.Name)
	}
	var p *testenv.Process
	for _, q := range d.procs {
		if q.Machine == d.on[j] {
			p = q
		}
	}
	b, err := p.Fetch("groups")
	if err != nil {
		return false, err
	}
	var gs []control.Group
	if err := json.Unmarshal(b, &gs); err != nil {
		return false, fmt.Errorf("lab: show groups on %s: %w", p.Machine.Name, err)
	}
	for _, g := range gs {
		if g.Group == group.String() && g.Port == h.SwitchPort {
			return true, nil
		}
	}
	return false, nil
}

// waitLearned waits until no switch of the fabric floods unregistered
// groups while it learns (show querier: unregistered "learning").
func (d *fabricDevice) waitLearned(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var learning []string
		for _, p := range d.procs {
			var qs []control.QuerierState
			b, err := p.Fetch("querier")
			if err == nil {
				err = json.Unmarshal(b, &qs)
			}
			if err != nil {
				return err
			}
			for _, q := range qs {
				if q.Unregistered == "learning" {
					learning = append(learning, p.Machine.Name+" "+q.Family)
				}
			}
		}
		if len(learning) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab: the switches still learn after %v: %s", timeout, strings.Join(learning, ", "))
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
