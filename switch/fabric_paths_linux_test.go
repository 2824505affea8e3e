package switching_test

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/snoop"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// Issue 14: one snooping domain across machines. Three machines in
// namespaces (testenv.Fabric), a, b and c, each running its own switch in
// this process, joined by VXLAN tunnels; a is the hub of the star. Hosts:
// src and a1 on a, b1 and b2 on b, c1 and c2 on c.

// fabricRole is the role of the tunnel ports: links to other switches.
const fabricRole = config.RoleSwitch

// Querier addresses: a's switch has the lowest, so it wins the election
// (RFC 3376 s6.6.2); b's is next and takes over when a stops.
var (
	querierA = netip.MustParseAddr("198.18.0.251")
	querierB = netip.MustParseAddr("198.18.0.252")
)

type fabricLab struct {
	*testenv.Fabric
	sw    map[string]*testenv.Switch // by machine
	hosts map[string]*testenv.Host
}

var fabricHosts = map[string][]string{"a": {"src", "a1"}, "b": {"b1", "b2"}, "c": {"c1", "c2"}}

// newFabricLab builds the three machines with tunnels as topo says and
// starts a switch on each: shortTimers, the tunnels in fabricRole (split
// horizon in a full mesh), a's
// and b's queriers at querierA and querierB (c's at 0.0.0.0); edit, if not
// nil, changes a machine's configuration before its switch starts.
func newFabricLab(t *testing.T, topo testenv.FabricTunnels, edit func(m *testenv.Machine, c *config.Config)) *fabricLab {
	t.Helper()
	l := &fabricLab{Fabric: testenv.NewFabric(t, testenv.FabricOptions{Tunnels: topo}), sw: make(map[string]*testenv.Switch), hosts: make(map[string]*testenv.Host)}
	for _, name := range []string{"a", "b", "c"} {
		m, err := l.AddMachine(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, hn := range fabricHosts[name] {
			h, err := m.AddHost(hn, testenv.HostOptions{})
			if err != nil {
				t.Fatal(err)
			}
			l.hosts[hn] = h
		}
	}
	for _, m := range l.Machines() {
		c := m.Config(fabricRole)
		c.Snooping.Timers = shortTimers()
		if topo == testenv.FullMesh {
			// Nobody relays in a mesh, and a flood would loop.
			for _, tn := range m.Tunnels() {
				c.Port(tn.Name).SplitHorizon = true
			}
		}
		switch m.Name {
		case "a":
			c.Querier.IPv4Source = querierA
		case "b":
			c.Querier.IPv4Source = querierB
		}
		if edit != nil {
			edit(m, c)
		}
		sw, err := m.StartConfigured(c, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		l.sw[m.Name] = sw
	}
	return l
}

// port returns the PortID of switch port name on machine m.
func (l *fabricLab) port(t *testing.T, m, name string) fdb.PortID {
	t.Helper()
	id, ok := l.sw[m].Engine.PortID(name)
	if !ok {
		t.Fatalf("machine %s has no port %s", m, name)
	}
	return id
}

// tunnelPort returns the PortID, on from's switch, of the tunnel to to.
func (l *fabricLab) tunnelPort(t *testing.T, from, to string) fdb.PortID {
	t.Helper()
	return l.port(t, from, l.Tunnel(l.Machine(from), l.Machine(to)).Name)
}

// waitLearned waits until no switch floods unregistered groups.
func (l *fabricLab) waitLearned(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(8 * time.Second)
	for name, sw := range l.sw {
		for sw.Engine.Snooper().LearningAny() {
			if time.Now().After(deadline) {
				t.Fatalf("machine %s still floods unregistered groups after 8 s", name)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// waitMember waits until machine m's switch holds group on port.
func (l *fabricLab) waitMember(t *testing.T, m string, group netip.Addr, port fdb.PortID) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := l.sw[m].Engine.Snooper().Groups().Get(0, group, port); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("machine %s did not register %s on port %s within 5 s", m, group, l.sw[m].Engine.PortName(port))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// queriers returns, for each running switch, the querier it names for
// family (4 or 6) on VLAN 0, and whether it is that querier itself.
func (l *fabricLab) queriers(family int) map[string]netip.Addr {
	out := make(map[string]netip.Addr)
	for name, sw := range l.sw {
		for _, st := range sw.Engine.Snooper().Querier().Status(time.Now()) {
			if st.VLAN == 0 && st.Family == family {
				out[name] = st.Querier
			}
		}
	}
	return out
}

// waitQuerier waits until every running switch names want as the IGMP
// querier, and fails the test with what they name if that takes longer
// than within.
func (l *fabricLab) waitQuerier(t *testing.T, want netip.Addr, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := l.queriers(4)
		all := len(got) == len(l.sw)
		for _, q := range got {
			all = all && q == want
		}
		if all {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("after %v the switches name these IGMP queriers: %v; want %s on every one", within, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFabricGroupBehindCStaysThere(t *testing.T) {
	for _, topo := range []testenv.FabricTunnels{testenv.Star, testenv.FullMesh} {
		t.Run(topo.String(), func(t *testing.T) {
			l := newFabricLab(t, topo, nil)
			l.waitLearned(t)
			for _, fam := range []struct {
				group netip.Addr
			}{{netip.MustParseAddr("239.14.1.1")}, {netip.MustParseAddr("ff0e::14:1")}} {
				g := fam.group
				m, err := l.hosts["c1"].Join(g)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Leave()
				l.waitMember(t, "c", g, l.port(t, "c", l.hosts["c1"].SwitchPort))
				// c sends its hosts' reports out of every switch port, so a
				// learns the member on its tunnel to c.
				l.waitMember(t, "a", g, l.tunnelPort(t, "a", "c"))
				caps := make(map[string]*testenv.Capture)
				for _, n := range []string{"a1", "b1", "b2", "c1", "c2"} {
					if caps[n], err = l.hosts[n].Capture(); err != nil {
						t.Fatal(err)
					}
				}
				// What crossed the a-b tunnel arrives at b's end.
				ab, err := l.Tunnel(l.Machine("b"), l.Machine("a")).Capture()
				if err != nil {
					t.Fatal(err)
				}
				const n = 20
				for i := range n {
					if err := l.hosts["src"].SendUDP(g, 5000, fmt.Appendf(nil, "datagram %d", i)); err != nil {
						t.Fatal(err)
					}
					time.Sleep(5 * time.Millisecond)
				}
				match := udpTo(g, 5000)
				caps["c1"].WaitFor(match, n, 2*time.Second)
				time.Sleep(100 * time.Millisecond)
				if got := caps["c1"].Count(match); got != n {
					t.Errorf("%s: c1, the member, received %d of %d datagrams", g, got, n)
				}
				for _, h := range []string{"a1", "b1", "b2", "c2"} {
					if got := caps[h].Count(match); got != 0 {
						t.Errorf("%s: %s, no member, received %d datagrams", g, h, got)
					}
				}
				if got := ab.Count(match); got != 0 {
					t.Errorf("%s: %d datagrams crossed the a-b tunnel, behind which nobody joined", g, got)
				}
			}
		})
	}
}

func TestFabricLeaveOnCStopsStream(t *testing.T) {
	l := newFabricLab(t, testenv.Star, nil)
	l.waitLearned(t)
	g := netip.MustParseAddr("239.14.2.2")
	c1 := l.hosts["c1"]
	if err := c1.ForceIGMPVersion(2); err != nil { // a leave goes out at once
		t.Fatal(err)
	}
	m, err := c1.Join(g)
	if err != nil {
		t.Fatal(err)
	}
	l.waitMember(t, "c", g, l.port(t, "c", c1.SwitchPort))
	l.waitMember(t, "a", g, l.tunnelPort(t, "a", "c"))
	ac, err := l.Tunnel(l.Machine("c"), l.Machine("a")).Capture()
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	sent := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				sent <- nil
				return
			default:
			}
			if err := l.hosts["src"].SendUDP(g, 5001, fmt.Appendf(nil, "datagram %d", i)); err != nil {
				sent <- err
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	match := udpTo(g, 5001)
	if !ac.WaitFor(match, 10, 2*time.Second) {
		t.Fatalf("the stream does not reach c over the a-c tunnel before the leave: %d datagrams", ac.Count(match))
	}
	// The leave bound: c's last member query time, then a's for its
	// tunnel port (RFC 3376 s6.4: LMQT = LMQC x LMQI), and a margin.
	timers := shortTimers()
	lmqt := time.Duration(timers.LastMemberCount) * timers.LastMemberInterval
	bound := 2*lmqt + time.Second
	if err := m.Leave(); err != nil {
		t.Fatal(err)
	}
	left := time.Now()
	time.Sleep(bound)
	at := ac.Count(match)
	time.Sleep(time.Second)
	close(stop)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if after := ac.Count(match) - at; after != 0 {
		t.Errorf("%d datagrams crossed the a-c tunnel in the second that began %v after c1's leave (the bound), want none", after, bound)
	}
	if _, ok := l.sw["a"].Engine.Snooper().Groups().Get(0, g, l.tunnelPort(t, "a", "c")); ok {
		t.Errorf("a still holds %s on its tunnel to c %v after c1's leave", g, time.Since(left))
	}
}

func TestFabricQuerierElectionAndFailover(t *testing.T) {
	// A full mesh: b and c still reach each other when a stops.
	l := newFabricLab(t, testenv.FullMesh, nil)
	// a's switch queries at once, and the others hear it over the tunnels.
	l.waitQuerier(t, querierA, 3*time.Second)
	for _, name := range []string{"b", "c"} {
		for _, st := range l.sw[name].Engine.Snooper().Querier().Status(time.Now()) {
			if st.Family == 4 && st.SelfQuerier {
				t.Errorf("machine %s queries itself while a is the querier", name)
			}
		}
	}
	// MLD: whoever wins, every switch names the same one.
	deadline := time.Now().Add(3 * time.Second)
	for {
		q := l.queriers(6)
		if len(q) == 3 && q["a"] == q["b"] && q["b"] == q["c"] && q["a"].IsValid() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the switches name different MLD queriers: %v", q)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// a stops: b, the next lowest address, takes over within the other
	// querier present interval (RFC 3376 s8.5: RV x QI + QRI/2).
	timers := shortTimers()
	opi := time.Duration(timers.Robustness)*timers.QueryInterval + timers.QueryResponseInterval/2
	if err := l.sw["a"].Close(); err != nil {
		t.Fatal(err)
	}
	delete(l.sw, "a")
	took := l.waitQuerier(t, querierB, opi+time.Second)
	t.Logf("b took over %v after a stopped (other querier present interval %v)", took, opi)
}

func TestFabricRogueQuerierOnHostPortOfB(t *testing.T) {
	l := newFabricLab(t, testenv.Star, nil)
	l.waitQuerier(t, querierA, 3*time.Second)
	b1 := l.hosts["b1"]
	port := l.port(t, "b", b1.SwitchPort)
	before := l.sw["b"].Engine.Stats()[port].Drops["router-guard"]
	// A query from an address below every switch's would win any
	// election it took part in.
	rogue := netip.MustParseAddr("198.18.0.1")
	igmp, err := snoop.AppendIGMPQuery(nil, rogue, snoop.Query{Version: 3, Group: netip.IPv4Unspecified(), MaxResp: time.Second, QRV: 2, QQI: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	dst := snoop.MulticastMAC(netip.MustParseAddr("224.0.0.1"))
	frame := append(dst[:], b1.MAC...)
	frame = binary.BigEndian.AppendUint16(frame, 0x0800)
	frame = append(frame, igmp...)
	caps := make(map[string]*testenv.Capture)
	for _, n := range []string{"a1", "b2", "c1"} {
		if caps[n], err = l.hosts[n].Capture(); err != nil {
			t.Fatal(err)
		}
	}
	const n = 10
	for range n {
		if err := b1.SendFrame(frame); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if got := l.sw["b"].Engine.Stats()[port].Drops["router-guard"] - before; got != n {
		t.Errorf("b dropped %d of the %d rogue queries from its host port as router-guard", got, n)
	}
	for name, c := range caps {
		if got := c.Count(testenv.QueryFrom(b1.MAC, rogue)); got != 0 {
			t.Errorf("%s received %d of the rogue queries", name, got)
		}
	}
	for name, q := range l.queriers(4) {
		if q != querierA {
			t.Errorf("machine %s names %s as the IGMP querier after the rogue queries, want a's %s", name, q, querierA)
		}
	}
}

func TestFabricPingAndTCPAcrossTwoTunnels(t *testing.T) {
	l := newFabricLab(t, testenv.Star, nil)
	b1, c1 := l.hosts["b1"], l.hosts["c1"]
	for _, dst := range []netip.Addr{c1.IPv4.Addr(), c1.IPv6.Addr()} {
		res, err := b1.Ping(dst, 5, 10*time.Millisecond, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if res.Received != res.Sent {
			t.Errorf("ping %s from b1 over b-a and a-c: %d of %d answered", dst, res.Received, res.Sent)
		}
	}
	before, err := l.Tunnel(l.Machine("a"), l.Machine("c")).Stats()
	if err != nil {
		t.Fatal(err)
	}
	gbps, err := testenv.TCPThroughput(b1, c1, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	after, err := l.Tunnel(l.Machine("a"), l.Machine("c")).Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("TCP b1 -> c1 across two tunnels: %.2f Gbit/s; %d MB into the a-c tunnel", gbps, (after.TxBytes-before.TxBytes)>>20)
	if gbps <= 0.01 {
		t.Errorf("TCP across two tunnels: %.3f Gbit/s", gbps)
	}
	// The bytes went over the tunnels, not around them.
	if got, want := after.TxBytes-before.TxBytes, uint64(gbps*1e9/8*2*0.5); got < want {
		t.Errorf("the a-c tunnel carried %d bytes during the TCP run, want at least half of the %.2f Gbit/s for 2 s", got, gbps)
	}
}
