package lab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/internal/scenario"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// Timing of a run.
const (
	// learnWait bounds the wait for the switch's start-up window.
	learnWait = 10 * time.Second
	// attackGap spaces an attack's frames, so that the attack lasts about
	// as long as the default streams.
	attackGap = 50 * time.Millisecond
	// dropWait bounds the wait for the switch to count an attack's frames.
	dropWait = 2 * time.Second
	// settle lets the last frames reach the captures.
	settle = 150 * time.Millisecond
)

// A Lab is a topology built in network namespaces, with snoopswitch running
// in the test process on the switch side of every host's link.
type Lab struct {
	Topology *Topology
	Env      *testenv.Lab
	Switch   *testenv.Switch
	hosts    []*testenv.Host // in topology order
}

// timers are the switch's protocol timers: the RFC defaults, but a 1 s query
// response interval, so that the start-up window, in which the switch floods
// groups nobody has registered yet, ends 1.6 s after it starts (its first
// query, 1 s to answer it, 0.5 s margin) instead of 10.6 s.
func timers() snoop.Timers {
	t := snoop.DefaultTimers()
	t.QueryResponseInterval = time.Second
	return t
}

// Build creates the topology's namespaces (names starting with prefix; ""
// picks a random one) and starts snoopswitch on the hosts' ports, on
// datapath (ring, fast or auto; "" as testenv.SwitchConfig.Datapath: the
// environment's, or auto): a router port (guard.RouterPortDefaults, a
// static router port) for each router, a guarded host port
// (guard.HostPortDefaults) for every other host. On error it removes what
// it made; otherwise the caller must Close the lab.
func Build(t *Topology, prefix, datapath string) (*Lab, error) {
	env, err := testenv.NewLab(testenv.Options{Prefix: prefix})
	if err != nil {
		return nil, err
	}
	l := &Lab{Topology: t, Env: env}
	if err := l.build(datapath); err != nil {
		return nil, errors.Join(err, env.Close())
	}
	return l, nil
}

func (l *Lab) build(datapath string) error {
	var routers, fastLeave fdb.PortSet
	var policies []guard.PortPolicy
	hosts := l.Topology.Hosts
	for i := 0; i < len(hosts); {
		th := hosts[i]
		// The hosts of a shared port are adjacent (Parse checks it).
		n := 1
		for th.Port != "" && i+n < len(hosts) && hosts[i+n].Port == th.Port {
			n++
		}
		if th.Port == "" {
			h, err := l.Env.AddHost(th.Name, testenv.HostOptions{})
			if err != nil {
				return err
			}
			l.hosts = append(l.hosts, h)
		} else {
			var names []string
			for _, o := range hosts[i : i+n] {
				names = append(names, o.Name)
			}
			hs, err := l.Env.AddHostsBehindPort(th.Port, names...)
			if err != nil {
				return err
			}
			l.hosts = append(l.hosts, hs...)
		}
		i += n
		// testenv.StartSwitch adds the ports in the order of
		// Env.SwitchPorts, from PortID 0: one a port, shared or not.
		port := fdb.PortID(len(policies))
		if th.FastLeave {
			fastLeave.Add(port)
		}
		if th.Router {
			routers.Add(port)
			policies = append(policies, guard.RouterPortDefaults())
		} else {
			policies = append(policies, guard.HostPortDefaults())
		}
	}
	sw, err := l.Env.StartSwitch(testenv.SwitchConfig{Engine: switching.Config{
		Logger: slog.New(slog.DiscardHandler),
		Snooping: &snoop.Config{
			StaticRouterPorts: routers,
			Membership: snoop.MembershipConfig{
				Timers:    timers(),
				FastLeave: func(p fdb.PortID) bool { return fastLeave.Has(p) },
			},
		},
		Guard: policies,
	}, Datapath: datapath})
	if err != nil {
		return err
	}
	l.Switch = sw
	return nil
}

// Close stops the switch and removes every namespace and link of the lab.
func (l *Lab) Close() error { return l.Env.Close() }

// Hosts returns the lab's hosts in topology order.
func (l *Lab) Hosts() []*testenv.Host { return slices.Clone(l.hosts) }

func (l *Lab) host(name string) *testenv.Host {
	for _, h := range l.hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Run shows the switch at work: pings echo requests from every host to the
// next over IPv4 and IPv6, then the hosts' joins and the streams (through
// internal/scenario's runner, which counts every stream's datagrams at
// every host) with the attacks running beside them. It stops between steps
// when ctx is done. An error means the lab failed (a socket, a sysctl), not
// the switch: Report.Failures says whether the switch did its job.
func (l *Lab) Run(ctx context.Context, pings int) (*Report, error) {
	r := &Report{Topology: l.Topology, Querier: l.querierName()}
	for _, h := range l.hosts {
		r.Hosts = append(r.Hosts, HostInfo{Name: h.Name, SwitchPort: h.SwitchPort, IPv4: h.IPv4, IPv6: h.IPv6, LinkLocal: h.LinkLocal})
	}
	if pings > 0 {
		p, err := pingRing(ctx, l.hosts, pings)
		if err != nil {
			return nil, err
		}
		r.Pings = p
	}
	device := scenario.OnSwitch(l.Switch)
	if err := device.WaitLearned(learnWait); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	var runs []func(context.Context) attackOutcome
	for _, a := range l.Topology.Attacks {
		run, err := l.prepareAttack(a)
		if err != nil {
			return nil, err // the lab's Close closes the captures made
		}
		runs = append(runs, run)
	}
	outcomes := make([]attackOutcome, len(runs))
	var wg sync.WaitGroup
	for i, run := range runs {
		wg.Go(func() { outcomes[i] = run(ctx) })
	}
	sc := scenarioOf(l.Topology)
	res, runErr := (&scenario.Runner{Lab: l.Env, Device: device}).RunContext(ctx, sc)
	wg.Wait()
	errs := []error{runErr}
	for _, out := range outcomes {
		errs = append(errs, out.err)
		r.Attacks = append(r.Attacks, out.result)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	r.Notes = res.Notes
	r.Received = received(l.Topology, sc, res)
	return r, nil
}

// querierName says which querier the hosts answer to.
func (l *Lab) querierName() string {
	cfg := l.Switch.Engine.Snooper().Querier().Config()
	v4, v6 := cfg.IPv4Source, cfg.IPv6Source
	if !v4.IsValid() {
		v4 = netip.IPv4Unspecified() // snoop.QuerierConfig's default
	}
	for _, st := range l.Switch.Engine.Snooper().Querier().Status(time.Now()) {
		if st.SelfQuerier && st.Family == 4 {
			v4 = st.Querier
		}
		if st.SelfQuerier && st.Family == 6 {
			v6 = st.Querier
		}
	}
	return fmt.Sprintf("snoopswitch's own, IGMPv3 from %s and MLDv2 from %s", v4, v6)
}

// pingRing has every host ping the next, the last the first, over IPv4 and
// IPv6, count echo requests each.
func pingRing(ctx context.Context, hosts []*testenv.Host, count int) (PingSummary, error) {
	var s PingSummary
	var rtts []time.Duration
	for i, from := range hosts {
		to := hosts[(i+1)%len(hosts)]
		for _, dst := range []netip.Addr{to.IPv4.Addr(), to.IPv6.Addr()} {
			if err := ctx.Err(); err != nil {
				return s, err
			}
			res, err := from.Ping(dst, count, 10*time.Millisecond, time.Second)
			if err != nil {
				return s, err
			}
			s.Sent += res.Sent
			s.Received += res.Received
			rtts = append(rtts, res.RTTs...)
		}
	}
	all := testenv.PingResult{RTTs: rtts}
	s.Median, s.Max = all.Percentile(50), all.Percentile(100)
	return s, nil
}

// scenarioOf turns topology t into a scenario: every join, then every
// stream, and for every stream an expectation at every host but its sender
// (each counts what the host received).
func scenarioOf(t *Topology) *scenario.Scenario {
	s := &scenario.Scenario{Name: "snoopswitch lab", Why: "what each host of " + t.Name + " receives"}
	for _, h := range t.Hosts {
		s.Hosts = append(s.Hosts, scenario.Host{Name: h.Name, IGMP: h.IGMP, MLD: h.MLD})
		for _, j := range h.Joins {
			step := scenario.Step{Action: scenario.Join, Host: h.Name, Group: j.Group}
			if j.Source != "" {
				step.Action, step.Source = scenario.JoinSource, j.Source
			}
			s.Steps = append(s.Steps, step)
		}
	}
	// The leaves come once every host has joined: a host behind a shared
	// port leaves while the others there stay.
	for _, h := range t.Hosts {
		for _, j := range h.Joins {
			if j.Leave {
				s.Steps = append(s.Steps, scenario.Step{Action: scenario.Leave, Host: h.Name, Group: j.Group})
			}
		}
	}
	for _, st := range t.Streams {
		s.Steps = append(s.Steps, scenario.Step{Action: scenario.Send, Host: st.From, Group: st.Group, Stream: st.Name(), Count: st.Count})
		for j, h := range t.Hosts {
			if h.Name == st.From {
				continue
			}
			want := scenario.None()
			if t.Wants(j, st) {
				want = scenario.Exactly(st.Count)
			}
			s.Expect = append(s.Expect, scenario.Expect{Host: h.Name, Stream: st.Name(), Want: want})
		}
	}
	return s
}

// received lays the counts of res out as Report.Received.
func received(t *Topology, sc *scenario.Scenario, res *scenario.Result) [][]int {
	out := make([][]int, len(t.Streams))
	hostIndex := make(map[string]int)
	for j, h := range t.Hosts {
		hostIndex[h.Name] = j
	}
	streamIndex := make(map[string]int)
	for i, st := range t.Streams {
		streamIndex[st.Name()] = i
		out[i] = make([]int, len(t.Hosts))
		out[i][hostIndex[st.From]] = -1
	}
	for k, e := range sc.Expect {
		out[streamIndex[e.Stream]][hostIndex[e.Host]] = res.Got[k]
	}
	return out
}

type attackOutcome struct {
	result AttackResult
	err    error
}

// prepareAttack builds an attack's frames and opens the captures that count
// them at the other hosts, and returns the function that runs it.
func (l *Lab) prepareAttack(a Attack) (func(context.Context) attackOutcome, error) {
	from := l.host(a.From)
	port, ok := l.Switch.Engine.PortID(from.SwitchPort)
	if !ok {
		return nil, fmt.Errorf("lab: the switch has no port %s for %s", from.SwitchPort, from.Name)
	}
	frames, err := rogueQueries(from)
	if err != nil {
		return nil, err
	}
	caps := make(map[string]*testenv.Capture)
	for _, h := range l.hosts {
		if h == from {
			continue
		}
		c, err := h.Capture()
		if err != nil {
			for _, c := range caps {
				c.Close()
			}
			return nil, err
		}
		caps[h.Name] = c
	}
	return func(ctx context.Context) attackOutcome {
		defer func() {
			for _, c := range caps {
				c.Close()
			}
		}()
		querier := l.Switch.Engine.Snooper().Querier()
		res := AttackResult{Attack: a, Sources: []netip.Addr{from.IPv4.Addr(), from.LinkLocal}, Reached: make(map[string]int)}
		res.Before = querier.Status(time.Now())
		before := l.Switch.Engine.Stats()[port].Drops
	send:
		for range a.Count {
			for _, f := range frames {
				if err := from.SendFrame(f); err != nil {
					return attackOutcome{err: err}
				}
				res.Sent++
			}
			select {
			case <-ctx.Done():
				break send
			case <-time.After(attackGap):
			}
		}
		if err := ctx.Err(); err != nil {
			return attackOutcome{err: err}
		}
		// The switch counts a drop when its receive loop reaches the frame,
		// a moment after it was sent.
		deadline := time.Now().Add(dropWait)
		for {
			res.Drops = dropsSince(before, l.Switch.Engine.Stats()[port].Drops)
			if sum(res.Drops) >= uint64(res.Sent) || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(settle)
		isQuery := testenv.QueryFrom(from.MAC, netip.Addr{})
		for name, c := range caps {
			res.Reached[name] = c.Count(isQuery)
		}
		res.After = querier.Status(time.Now())
		return attackOutcome{result: res}
	}, nil
}

// rogueQueries are the frames of a rogue querier on host h: an IGMPv3 and
// an MLDv2 general query from h's own addresses, as a router would send them
// (Router Alert, TTL 1), announcing a 1 s query interval.
func rogueQueries(h *testenv.Host) ([][]byte, error) {
	igmp, err := snoop.AppendIGMPQuery(nil, h.IPv4.Addr(), snoop.Query{Version: 3, Group: netip.IPv4Unspecified(), MaxResp: time.Second, QRV: 2, QQI: time.Second})
	if err != nil {
		return nil, err
	}
	mld, err := snoop.AppendMLDQuery(nil, h.LinkLocal, snoop.Query{Version: 2, Group: netip.IPv6Unspecified(), MaxResp: time.Second, QRV: 2, QQI: time.Second})
	if err != nil {
		return nil, err
	}
	return [][]byte{
		ethernet(h, netip.MustParseAddr("224.0.0.1"), 0x0800, igmp),
		ethernet(h, netip.MustParseAddr("ff02::1"), 0x86dd, mld),
	}, nil
}

// ethernet puts packet in a frame from h to the MAC of group.
func ethernet(h *testenv.Host, group netip.Addr, etherType uint16, packet []byte) []byte {
	dst := snoop.MulticastMAC(group)
	f := make([]byte, 14, 14+len(packet))
	copy(f[0:6], dst[:])
	copy(f[6:12], h.MAC)
	binary.BigEndian.PutUint16(f[12:14], etherType)
	return append(f, packet...)
}

// dropsSince returns the counts of after that grew since before.
func dropsSince(before, after map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64)
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// HoldJoins joins every group of the topology again, as --keep wants after
// a run (the runner leaves its memberships when it ends). The lab's Close
// ends them.
func (l *Lab) HoldJoins() error {
	for i, th := range l.Topology.Hosts {
		h := l.hosts[i]
		for _, j := range th.Joins {
			if j.Leave {
				continue
			}
			var err error
			if j.Source == "" {
				_, err = h.Join(j.Group)
			} else {
				src := l.host(j.Source)
				addr := src.IPv4.Addr()
				if j.Group.Is6() {
					addr = src.IPv6.Addr()
				}
				_, err = h.JoinSource(j.Group, addr)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}
