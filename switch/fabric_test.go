package switching_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

// memFabric is several switches (Offline engines, one clock) whose switch
// ports are joined pairwise in memory, as tunnels between machines join
// them: what one end sends, the other receives at the same time. Each
// switch has its host ports first (PortID 0...), then one switch port per
// link, in the order of the links.
type memFabric struct {
	t     *testing.T
	sw    []*fabricSwitch
	links []fabricLink
	now   time.Time
}

type fabricSwitch struct {
	o     *switching.Offline
	ports []*memPort
	hosts int
	down  bool // stopped: sends and receives nothing
}

type fabricLink struct {
	a, pa, b, pb int // switch a's port pa <-> switch b's port pb
	seenA, seenB int // frames of each end already carried across
}

// fabricSpec describes a memFabric.
type fabricSpec struct {
	hosts []int    // host ports per switch
	links [][2]int // switch pairs joined by a link
	// split sets split horizon on every switch port (a full mesh); a star
	// leaves it off.
	split bool
	// ipv4Source is a switch's configured querier address (default
	// 0.0.0.0).
	ipv4Source map[int]string
}

// fabricMAC is switch i's MAC.
func fabricMAC(i int) fdb.MAC { return snoop.SwitchMAC([]byte{byte('a' + i)}) }

var fabricStart = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func newMemFabric(t *testing.T, spec fabricSpec) *memFabric {
	t.Helper()
	f := &memFabric{t: t, now: fabricStart}
	swPorts := make([][]int, len(spec.hosts)) // switch ports of each switch, by link
	for _, l := range spec.links {
		la := fabricLink{a: l[0], b: l[1], pa: spec.hosts[l[0]] + len(swPorts[l[0]]), pb: spec.hosts[l[1]] + len(swPorts[l[1]])}
		swPorts[l[0]] = append(swPorts[l[0]], la.pa)
		swPorts[l[1]] = append(swPorts[l[1]], la.pb)
		f.links = append(f.links, la)
	}
	for i, h := range spec.hosts {
		n := h + len(swPorts[i])
		var fabric fdb.PortSet
		policies := make([]guard.PortPolicy, n)
		for p := range n {
			policies[p] = guard.HostPortDefaults()
			if p >= h {
				policies[p] = guard.SwitchPortDefaults()
				fabric.Add(fdb.PortID(p))
			}
		}
		sc := &snoop.Config{SwitchPorts: fabric}
		if a, ok := spec.ipv4Source[i]; ok {
			sc.Querier.IPv4Source = netip.MustParseAddr(a)
		}
		o, err := switching.NewOffline(switching.Config{MAC: fabricMAC(i), Snooping: sc, Guard: policies}, f.now)
		if err != nil {
			t.Fatal(err)
		}
		s := &fabricSwitch{o: o, hosts: h}
		for p := range n {
			m := &memPort{name: string(rune('a'+i)) + string(rune('0'+p))}
			id, err := o.AddPort(m)
			if err != nil {
				t.Fatal(err)
			}
			if p >= h && spec.split {
				if err := o.Engine().SetPortSplitHorizon(id, true); err != nil {
					t.Fatal(err)
				}
			}
			s.ports = append(s.ports, m)
		}
		f.sw = append(f.sw, s)
	}
	return f
}

// carry delivers what the switch ports sent to the other ends, until
// nothing more moves.
func (f *memFabric) carry() {
	for round := 0; ; round++ {
		if round == 50 {
			f.t.Fatal("frames still crossing the links after 50 rounds: a loop")
		}
		moved := false
		for i := range f.links {
			l := &f.links[i]
			moved = f.carryOne(l.a, l.pa, &l.seenA, l.b, l.pb) || moved
			moved = f.carryOne(l.b, l.pb, &l.seenB, l.a, l.pa) || moved
		}
		if !moved {
			return
		}
	}
}

func (f *memFabric) carryOne(from, fromPort int, seen *int, to, toPort int) bool {
	sent := f.sw[from].ports[fromPort].sent
	if *seen == len(sent) {
		return false
	}
	batch := sent[*seen:]
	*seen = len(sent)
	if f.sw[from].down || f.sw[to].down {
		return true
	}
	if err := f.sw[to].o.Handle(fdb.PortID(toPort), f.now, append([]switching.Packet(nil), batch...)); err != nil {
		f.t.Fatal(err)
	}
	return true
}

// run moves the clock on by d, in control-plane ticks, carrying frames
// across the links after each.
func (f *memFabric) run(d time.Duration) {
	end := f.now.Add(d)
	for f.now.Before(end) {
		f.now = f.now.Add(100 * time.Millisecond)
		for _, s := range f.sw {
			if !s.down {
				s.o.Advance(f.now)
			}
		}
		f.carry()
	}
}

// send hands frame to switch sw's port p, as from the host behind it, and
// carries what follows.
func (f *memFabric) send(sw, p int, frame []byte) {
	f.t.Helper()
	if err := f.sw[sw].o.Handle(fdb.PortID(p), f.now, []switching.Packet{{Data: frame, Len: len(frame)}}); err != nil {
		f.t.Fatal(err)
	}
	f.carry()
}

// hostOf is the MAC and IPv4 address of the host behind switch sw's port p.
func hostOf(sw, p int) (fdb.MAC, netip.Addr) {
	return fdb.MAC{0x02, 0, 0, 0, byte(sw + 1), byte(p + 1)}, netip.AddrFrom4([4]byte{198, 18, byte(sw + 1), byte(p + 1)})
}

// hostReport is an IGMPv3 report (RFC 3376 s4.2: to 224.0.0.22, TTL 1,
// Router Alert) from the host behind switch sw's port p with one sourceless
// record of type typ for group: IS_EX({}) joins, TO_IN({}) leaves.
func hostReport(sw, p int, typ snoop.RecordType, group netip.Addr) []byte {
	m, ip := hostOf(sw, p)
	return mcBenchIPv4Frame(m, ip, netip.MustParseAddr("224.0.0.22"), 1, 2, 0xc0, []byte{0x94, 4, 0, 0}, igmpV3Report(1, typ, group))
}

// hostData is a UDP datagram from the host behind switch sw's port p to
// group.
func hostData(sw, p int, group netip.Addr) []byte {
	m, ip := hostOf(sw, p)
	return mcBenchIPv4Frame(m, ip, group, 8, 17, 0, nil, udpDatagram(5000, "fabric"))
}

// dataTo counts the UDP datagrams to group that switch sw sent out of port
// p.
func (f *memFabric) dataTo(sw, p int, group netip.Addr) int {
	n := 0
	g := group.As4()
	for _, pk := range f.sw[sw].ports[p].sent {
		b := pk.Data
		if len(b) >= 34 && binary.BigEndian.Uint16(b[12:]) == 0x0800 && b[14+9] == 17 && bytes.Equal(b[14+16:14+20], g[:]) {
			n++
		}
	}
	return n
}

// querier returns who switch sw says is the querier of (VLAN 0, family),
// and whether it is itself.
func (f *memFabric) querier(sw, family int) (snoop.QuerierID, bool) {
	for _, st := range f.sw[sw].o.Engine().Snooper().Querier().Status(f.now) {
		if st.VLAN == 0 && st.Family == family {
			return snoop.QuerierID{Addr: st.Querier, MAC: st.QuerierMAC}, st.SelfQuerier
		}
	}
	f.t.Fatalf("switch %d: no querier status of VLAN 0, family %d", sw, family)
	return snoop.QuerierID{}, false
}

// oneQuerier checks that exactly one switch that is up queries (VLAN 0,
// family), that it is want, and that every switch up names it.
func (f *memFabric) oneQuerier(family, want int) {
	f.t.Helper()
	wantID, _ := f.querier(want, family)
	if wantID.MAC != fabricMAC(want) {
		f.t.Errorf("family %d: switch %d names %v (MAC %v) as querier, want itself (MAC %v)", family, want, wantID.Addr, wantID.MAC, fabricMAC(want))
	}
	for i, s := range f.sw {
		if s.down {
			continue
		}
		id, self := f.querier(i, family)
		if self != (i == want) || id != wantID {
			f.t.Errorf("family %d: switch %d says querier %v %v (self %v), want switch %d's %v %v", family, i, id.Addr, id.MAC, self, want, wantID.Addr, wantID.MAC)
		}
	}
}

// lowestMAC returns which of the switches up has the lowest MAC.
func (f *memFabric) lowestMAC() int {
	best := -1
	for i, s := range f.sw {
		if s.down {
			continue
		}
		if m, b := fabricMAC(i), fabricMAC(max(best, 0)); best < 0 || bytes.Compare(m[:], b[:]) < 0 {
			best = i
		}
	}
	return best
}

// TestFabricQueryIsTheSwitchs: the general query a switch sends out of
// its switch port is, byte for byte, the snoop encoder's IGMPv3 query from
// 0.0.0.0 to 224.0.0.1 in a frame from the switch's MAC (SwitchMAC, which
// the others recognise by IsSwitchMAC).
func TestFabricQueryIsTheSwitchs(t *testing.T) {
	f := newMemFabric(t, fabricSpec{hosts: []int{1, 1}, links: [][2]int{{0, 1}}})
	f.sw[1].down = true // nothing heard: switch 0 queries
	f.run(200 * time.Millisecond)
	q := snoop.Query{Version: 3, Group: netip.IPv4Unspecified(), MaxResp: 10 * time.Second, QRV: 2, QQI: 125 * time.Second}
	want, err := snoop.AppendIGMPQuery(make([]byte, 14), netip.IPv4Unspecified(), q)
	if err != nil {
		t.Fatal(err)
	}
	src := fabricMAC(0)
	copy(want[0:6], []byte{0x01, 0x00, 0x5e, 0, 0, 1})
	copy(want[6:12], src[:])
	want[12], want[13] = 0x08, 0x00
	var got []byte
	for _, p := range f.sw[0].ports[1].sent {
		if binary.BigEndian.Uint16(p.Data[12:]) == 0x0800 {
			got = p.Data
			break
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("query out of the switch port:\n got % x\nwant % x", got, want)
	}
	if !snoop.IsSwitchMAC(fdb.MAC(got[6:12])) || got[6] != 0x02 {
		t.Errorf("source MAC %x is not a locally administered snoopswitch MAC", got[6:12])
	}
}

// TestFabricElectsOneQuerier: three switches in a full mesh, all querying
// from 0.0.0.0 (and from link-local addresses derived from their MACs for
// MLD): the one with the lowest MAC queries IGMP, the one with the lowest
// link-local address MLD, and every switch names the same querier. When it
// stops, the next takes over after the other-querier-present interval, and
// not before.
func TestFabricElectsOneQuerier(t *testing.T) {
	f := newMemFabric(t, fabricSpec{hosts: []int{1, 1, 1}, links: [][2]int{{0, 1}, {0, 2}, {1, 2}}, split: true})
	f.run(2 * time.Second)
	first := f.lowestMAC()
	f.oneQuerier(4, first)
	// MLD: the lowest address, EUI-64 of the MAC, whose order is the MAC's
	// with the universal/local bit flipped, the same for every switch here.
	f.oneQuerier(6, first)

	f.sw[first].down = true
	oqpi := snoop.DefaultTimers().OtherQuerierPresent()
	f.run(oqpi - 3*time.Second)
	for i, s := range f.sw {
		if s.down {
			continue
		}
		if id, self := f.querier(i, 4); self || id.MAC != fabricMAC(first) {
			t.Errorf("switch %d, %v after the querier stopped: querier %v (self %v), want still switch %d until the interval ends", i, oqpi-3*time.Second, id, self, first)
		}
	}
	f.run(5 * time.Second)
	next := f.lowestMAC()
	f.oneQuerier(4, next)
	f.oneQuerier(6, next)
}

// TestFabricConfiguredQuerierWins: a switch configured with a querier
// address wins the IGMP election against switches querying from 0.0.0.0,
// whatever the MACs (RFC 4541 s2.1.1: 0.0.0.0 takes no part), and the
// others name it; MLD is elected by address as before.
func TestFabricConfiguredQuerierWins(t *testing.T) {
	last := 0
	for i := 1; i < 3; i++ {
		if a, b := fabricMAC(i), fabricMAC(last); bytes.Compare(a[:], b[:]) > 0 {
			last = i
		}
	}
	f := newMemFabric(t, fabricSpec{hosts: []int{1, 1, 1}, links: [][2]int{{0, 1}, {0, 2}, {1, 2}}, split: true,
		ipv4Source: map[int]string{last: "192.0.2.9"}})
	f.run(2 * time.Second)
	f.oneQuerier(4, last)
	if id, _ := f.querier((last+1)%3, 4); id.Addr != netip.MustParseAddr("192.0.2.9") {
		t.Errorf("querier address %v, want 192.0.2.9", id.Addr)
	}
	f.oneQuerier(6, f.lowestMAC())
}

// TestFabricRogueQueryOnHostPort: a host's query from a lower address than
// any, on a host port of a switch that is not the querier, is dropped
// there (router-guard), crosses no link, and the fabric's querier stays.
func TestFabricRogueQueryOnHostPort(t *testing.T) {
	f := newMemFabric(t, fabricSpec{hosts: []int{1, 1, 1}, links: [][2]int{{0, 1}, {0, 2}, {1, 2}}, split: true})
	f.run(2 * time.Second)
	q := f.lowestMAC()
	rogue := (q + 1) % 3
	f.oneQuerier(4, q)
	m, _ := hostOf(rogue, 0)
	gq := snoop.Query{Version: 3, Group: netip.IPv4Unspecified(), MaxResp: time.Second, QRV: 2, QQI: 125 * time.Second}
	ipq, err := snoop.AppendIGMPQuery(nil, netip.MustParseAddr("10.0.0.1"), gq)
	if err != nil {
		t.Fatal(err)
	}
	frame := append(make([]byte, 14), ipq...)
	copy(frame[0:6], []byte{0x01, 0x00, 0x5e, 0, 0, 1})
	copy(frame[6:12], m[:])
	frame[12], frame[13] = 0x08, 0x00
	before := f.sw[rogue].o.Engine().Stats()[0].Drops["router-guard"]
	for range 3 {
		f.send(rogue, 0, frame)
		f.run(10 * time.Second)
	}
	if got := f.sw[rogue].o.Engine().Stats()[0].Drops["router-guard"] - before; got != 3 {
		t.Errorf("router-guard drops on the host port = %d, want 3", got)
	}
	f.oneQuerier(4, q)
	for i := range f.sw {
		for _, rt := range f.sw[i].o.Engine().Snooper().RouterPorts().List(f.now) {
			if rt.Address == netip.MustParseAddr("10.0.0.1") {
				t.Errorf("switch %d learned the rogue querier: %+v", i, rt)
			}
		}
	}
}

// fabricShapes are the two shapes of a fabric of four machines: a full
// mesh with split horizon (nobody relays: each switch reaches every other
// directly), and a star whose hub (switch 0) relays between its spokes.
var fabricShapes = []struct {
	name string
	spec fabricSpec
}{
	{"mesh", fabricSpec{hosts: []int{2, 2, 2, 2}, links: [][2]int{{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}}, split: true}},
	{"star", fabricSpec{hosts: []int{2, 2, 2, 2}, links: [][2]int{{0, 1}, {0, 2}, {0, 3}}}},
}

// linkPort returns switch a's port toward switch b, -1 if they share no
// link.
func (f *memFabric) linkPort(a, b int) int {
	for _, l := range f.links {
		switch {
		case l.a == a && l.b == b:
			return l.pa
		case l.b == a && l.a == b:
			return l.pb
		}
	}
	return -1
}

// TestFabricDataOnlyTowardMembers: in a mesh and in a star, a stream from a
// host of one switch reaches the one host that joined it, behind another
// switch, and crosses only the links on the way there: not toward the
// querier, not to the other machines, and no host port but the member's.
// Whichever switch is the querier, and whoever sends.
func TestFabricDataOnlyTowardMembers(t *testing.T) {
	group := netip.MustParseAddr("239.14.0.1")
	for _, shape := range fabricShapes {
		t.Run(shape.name, func(t *testing.T) {
			for _, c := range []struct{ sender, member int }{{1, 3}, {3, 1}, {0, 2}, {2, 0}} {
				f := newMemFabric(t, shape.spec)
				f.run(15 * time.Second) // past the start-up window
				f.send(c.member, 1, hostReport(c.member, 1, snoop.ModeIsExclude, group))
				f.run(time.Second)
				for range 5 {
					f.send(c.sender, 0, hostData(c.sender, 0, group))
				}
				if got := f.dataTo(c.member, 1, group); got != 5 {
					t.Errorf("%d -> %d: the member got %d of 5 datagrams", c.sender, c.member, got)
				}
				// The links a datagram may cross: sender -> member, or
				// through the hub in a star.
				on := map[[2]int]bool{{c.sender, c.member}: true}
				if shape.name == "star" && c.sender != 0 && c.member != 0 {
					on = map[[2]int]bool{{c.sender, 0}: true, {0, c.member}: true}
				}
				for i, s := range f.sw {
					for p := range s.ports {
						got := f.dataTo(i, p, group)
						want := 0
						switch {
						case p < s.hosts:
							if i == c.member && p == 1 {
								want = 5
							}
						default:
							for peer := range f.sw {
								if f.linkPort(i, peer) == p && on[[2]int{i, peer}] {
									want = 5
								}
							}
						}
						if got != want {
							t.Errorf("%d -> %d: switch %d port %d sent %d datagrams, want %d", c.sender, c.member, i, p, got, want)
						}
					}
				}
			}
		})
	}
}

// TestFabricReportsReachEverySwitch: a host's report reaches every other
// switch, in a mesh directly and in a star through the hub, and makes a
// membership there on the port toward the reporter; the reporter's own
// switch keeps it on the host port.
func TestFabricReportsReachEverySwitch(t *testing.T) {
	group := netip.MustParseAddr("239.14.0.2")
	for _, shape := range fabricShapes {
		t.Run(shape.name, func(t *testing.T) {
			f := newMemFabric(t, shape.spec)
			f.run(2 * time.Second)
			f.send(2, 0, hostReport(2, 0, snoop.ModeIsExclude, group))
			for i, s := range f.sw {
				ports, ok := s.o.Engine().Snooper().Groups().Lookup(0, group, netip.Addr{})
				want := f.linkPort(i, 2)
				if want < 0 {
					want = f.linkPort(i, 0) // a spoke reaches the others through the hub
				}
				if i == 2 {
					want = 0
				}
				if !ok || ports.Len() != 1 || !ports.Has(fdb.PortID(want)) {
					t.Errorf("switch %d: members %v, want port %d alone", i, ports.Ports(), want)
				}
			}
		})
	}
}

// TestFabricLeaveStopsTheStream: when the last member behind a switch
// leaves, the other switches stop sending it the stream within the leave
// bound (last member query count x interval, and a tick), whichever switch
// is the querier: the querier's group-specific query goes out of every
// switch port, so every switch that saw the leave lowers its timers.
func TestFabricLeaveStopsTheStream(t *testing.T) {
	group := netip.MustParseAddr("239.14.0.3")
	for _, shape := range fabricShapes {
		t.Run(shape.name, func(t *testing.T) {
			f := newMemFabric(t, shape.spec)
			f.run(15 * time.Second)
			q := f.lowestMAC()
			for _, member := range []int{(q + 1) % 4, q} {
				sender := (member + 2) % 4
				f.send(member, 1, hostReport(member, 1, snoop.ModeIsExclude, group))
				f.send(sender, 0, hostData(sender, 0, group))
				if got := f.dataTo(member, 1, group); got == 0 {
					t.Fatalf("member %d got nothing before the leave", member)
				}
				f.send(member, 1, hostReport(member, 1, snoop.ChangeToInclude, group))
				t2 := snoop.DefaultTimers()
				f.run(time.Duration(t2.Robustness)*t2.LastMemberInterval + 500*time.Millisecond)
				before := make(map[[2]int]int)
				for i, s := range f.sw {
					for p := range s.ports {
						before[[2]int{i, p}] = f.dataTo(i, p, group)
					}
				}
				f.send(sender, 0, hostData(sender, 0, group))
				for i, s := range f.sw {
					for p := range s.ports {
						if n := f.dataTo(i, p, group) - before[[2]int{i, p}]; n != 0 {
							t.Errorf("member %d left (querier %d): switch %d still sent the stream out of port %d", member, q, i, p)
						}
					}
				}
			}
		})
	}
}

// TestFabricRouterBeyondASwitchGetsAllData: a multicast router behind a
// switch of the fabric (on its router port; its queries and PIM hellos
// cross the links from its own MAC) makes every other switch's port toward
// it a router port that gets all data, while the ports toward the
// fabric's snooping querier get none.
func TestFabricRouterBeyondASwitchGetsAllData(t *testing.T) {
	group := netip.MustParseAddr("239.14.0.4")
	f := newMemFabric(t, fabricSpec{hosts: []int{1, 1, 1}, links: [][2]int{{0, 1}, {0, 2}, {1, 2}}, split: true})
	f.run(15 * time.Second) // past the start-up window: unregistered data goes to router ports only
	q := f.lowestMAC()
	routerAt := (q + 1) % 3
	sender := (q + 2) % 3
	// The router's port: a router port of its switch.
	var routers fdb.PortSet
	routers.Add(0)
	var switchPorts fdb.PortSet
	for p := f.sw[routerAt].hosts; p < len(f.sw[routerAt].ports); p++ {
		switchPorts.Add(fdb.PortID(p))
	}
	f.sw[routerAt].o.Engine().Snooper().SetPortRoles(snoop.PortRoles{StaticRouterPorts: routers, SwitchPorts: switchPorts})
	pol := guard.RouterPortDefaults()
	if _, _, err := f.sw[routerAt].o.Engine().UpdatePolicies(func(ps []guard.PortPolicy) (bool, error) { ps[0] = pol; return true, nil }); err != nil {
		t.Fatal(err)
	}
	routerMAC := fdb.MAC{0x52, 0x54, 0, 0, 0, 1}
	hello := mcBenchIPv4Frame(routerMAC, netip.MustParseAddr("192.0.2.254"), netip.MustParseAddr("224.0.0.13"), 1, 103, 0xc0, nil, withChecksum(pimHello()))
	f.send(routerAt, 0, hello)

	for range 3 {
		f.send(sender, 0, hostData(sender, 0, group))
	}
	if got := f.dataTo(sender, f.linkPort(sender, routerAt), group); got != 3 {
		t.Errorf("toward the router: %d of 3 datagrams", got)
	}
	if got := f.dataTo(routerAt, 0, group); got != 3 {
		t.Errorf("the router got %d of 3 datagrams", got)
	}
	if got := f.dataTo(sender, f.linkPort(sender, q), group); got != 0 {
		t.Errorf("toward the snooping querier's switch: %d datagrams, want none", got)
	}
	// The sender's port toward the router's switch is a router port by
	// the PIM hello; the one toward the querier's switch is listed as the
	// querier's side, and is no router port.
	toRouter, toQuerier := fdb.PortID(f.linkPort(sender, routerAt)), fdb.PortID(f.linkPort(sender, q))
	pim, querierSide := false, false
	for _, rt := range f.sw[sender].o.Engine().Snooper().RouterPorts().List(f.now) {
		switch {
		case rt.Port == toRouter && rt.Source == snoop.RouterPIM:
			pim = true
		case rt.Port == toQuerier && rt.Source == snoop.RouterSwitchQuerier:
			querierSide = true
		case rt.Port == toQuerier:
			t.Errorf("the port toward the snooping querier is a router port: %+v", rt)
		}
	}
	if !pim || !querierSide {
		t.Errorf("router ports %+v: want pim toward the router and switch-querier toward the querier", f.sw[sender].o.Engine().Snooper().RouterPorts().List(f.now))
	}
	if rp := f.sw[sender].o.Engine().Snooper().RouterPorts().Ports(0); rp.Has(toQuerier) || !rp.Has(toRouter) {
		t.Errorf("data router ports %v", rp.Ports())
	}
}

// TestSplitHorizon: a frame in on a split-horizon port never leaves
// through another, flooded, sent to a learned MAC or as multicast data to
// members, and the fast path is offered no decision that would send it
// there; a frame from a port without split horizon goes everywhere.
func TestSplitHorizon(t *testing.T) {
	c := newFakeCache()
	ts := newTestSwitchWith(t, 4, switching.Config{FlowCache: c, Snooping: &snoop.Config{}})
	for _, id := range []fdb.PortID{1, 2} {
		if err := ts.e.SetPortSplitHorizon(id, true); err != nil {
			t.Fatal(err)
		}
	}
	if !ts.e.PortSplitHorizon(1) || ts.e.PortSplitHorizon(0) {
		t.Fatal("PortSplitHorizon does not say what was set")
	}
	bcast := fdb.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	if got := ts.send(1, pkt(frame(bcast, mac(11), 0x0800))); !slices.Equal(got, []int{1, 0, 0, 1}) {
		t.Errorf("broadcast from split-horizon port 1 went out %v, want ports 0 and 3", got)
	}
	if got := ts.send(0, pkt(frame(bcast, mac(10), 0x0800))); !slices.Equal(got, []int{0, 1, 1, 1}) {
		t.Errorf("broadcast from port 0 went out %v, want every other port", got)
	}
	ts.send(2, pkt(frame(bcast, mac(12), 0x0800))) // mac(12) is on port 2
	ts.send(3, pkt(frame(bcast, mac(13), 0x0800))) // mac(13) on port 3
	if got := ts.send(1, pkt(frame(mac(12), mac(11), 0x0800))); !slices.Equal(got, []int{0, 0, 0, 0}) {
		t.Errorf("unicast from port 1 to a MAC on split-horizon port 2 went out %v, want nowhere", got)
	}
	if _, ok := c.valid(switching.UnicastFlow(1, 0, mac(11), mac(12))); ok {
		t.Error("the fast path holds a decision across split horizon")
	}
	if got := ts.send(1, pkt(frame(mac(13), mac(11), 0x0800))); !slices.Equal(got, []int{0, 0, 0, 1}) {
		t.Errorf("unicast from port 1 to port 3 went out %v", got)
	}
	if a, ok := c.valid(switching.UnicastFlow(1, 0, mac(11), mac(13))); !ok || a.Out != ports(3) {
		t.Errorf("unicast 1 -> 3 offered %v %v, want port 3", a.Out.Ports(), ok)
	}

	// Members behind split-horizon port 2 and port 3: data from split-
	// horizon port 1 goes to port 3 alone, and so does the fast path's
	// decision.
	group := netip.MustParseAddr("239.14.0.9")
	ts.send(2, pkt(mcBenchIGMPv3Report(1, []netip.Addr{group})))
	ts.send(3, pkt(mcBenchIGMPv3Report(2, []netip.Addr{group})))
	ts.e.ApplyControl()
	data := mcBenchIPv4Frame(mac(11), mcBenchHostIP(1), group, 8, 17, 0, nil, udpDatagram(5000, "split"))
	if got := ts.send(1, pkt(data)); !slices.Equal(got, []int{0, 0, 0, 1}) {
		t.Errorf("data from port 1 went out %v, want port 3 alone", got)
	}
	if a, ok := c.valid(switching.MulticastFlow(1, 0, mac(11), group, mcBenchHostIP(1))); !ok || a.Out != ports(3) {
		t.Errorf("multicast 1 -> members offered %v %v, want port 3", a.Out.Ports(), ok)
	}
	if err := ts.e.SetPortSplitHorizon(9, true); err == nil {
		t.Error("split horizon on a port that does not exist")
	}
}
