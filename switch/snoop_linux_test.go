package switching_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// shortTimers make the leave and querier tests run in seconds: the other
// querier present interval is 2*2s+0.5s = 4.5s, the last member query time
// 2*300ms.
func shortTimers() snoop.Timers {
	return snoop.Timers{Robustness: 2, QueryInterval: 2 * time.Second, QueryResponseInterval: time.Second,
		LastMemberInterval: 300 * time.Millisecond, LastMemberCount: 2}
}

// snoopLab is a lab of named hosts on a snooping switch.
type snoopLab struct {
	*testenv.Lab
	sw    *testenv.Switch
	hosts map[string]*testenv.Host
}

func newSnoopLab(t *testing.T, cfg snoop.Config, names ...string) *snoopLab {
	t.Helper()
	l := &snoopLab{Lab: testenv.New(t), hosts: make(map[string]*testenv.Host)}
	for _, n := range names {
		h, err := l.AddHost(n, testenv.HostOptions{})
		if err != nil {
			t.Fatal(err)
		}
		l.hosts[n] = h
	}
	if cfg.Membership.Timers == (snoop.Timers{}) {
		cfg.Membership.Timers = shortTimers()
	}
	l.sw = testenv.StartSwitch(t, l.Lab, testenv.SwitchConfig{Engine: switching.Config{Snooping: &cfg}})
	return l
}

// port returns the PortID of host n (ports are in host order).
func (l *snoopLab) port(n string) fdb.PortID {
	for i, h := range l.Hosts() {
		if h.Name == n {
			return fdb.PortID(i)
		}
	}
	panic("no host " + n)
}

// udpTo matches frames carrying UDP to group:port (IPv4 or IPv6 without
// extension headers).
func udpTo(group netip.Addr, port int) func([]byte) bool {
	return func(f []byte) bool {
		if len(f) < 14 {
			return false
		}
		ip := f[14:]
		switch binary.BigEndian.Uint16(f[12:14]) {
		case 0x0800:
			if len(ip) < 28 || ip[9] != 17 || netip.AddrFrom4([4]byte(ip[16:20])) != group {
				return false
			}
			ihl := int(ip[0]&0x0f) * 4
			return len(ip) >= ihl+4 && int(binary.BigEndian.Uint16(ip[ihl+2:])) == port
		case 0x86dd:
			return len(ip) >= 48 && ip[6] == 17 && netip.AddrFrom16([16]byte(ip[24:40])) == group &&
				int(binary.BigEndian.Uint16(ip[42:44])) == port
		}
		return false
	}
}

// captures starts a capture at every named host.
func (l *snoopLab) captures(t *testing.T, names ...string) map[string]*testenv.Capture {
	t.Helper()
	out := make(map[string]*testenv.Capture)
	for _, n := range names {
		c, err := l.hosts[n].Capture()
		if err != nil {
			t.Fatal(err)
		}
		out[n] = c
	}
	return out
}

// stream sends count datagrams from host to group:port, spaced by gap.
func (l *snoopLab) stream(t *testing.T, from string, group netip.Addr, port, count int, gap time.Duration) {
	t.Helper()
	for i := range count {
		if err := l.hosts[from].SendUDP(group, port, []byte(fmt.Sprintf("datagram %d", i))); err != nil {
			t.Fatalf("%s sends to %s: %v", from, group, err)
		}
		time.Sleep(gap)
	}
}

// expectCounts checks what each host received of a stream: exactly want
// for each named host (after a moment for the last frames to land).
func expectCounts(t *testing.T, caps map[string]*testenv.Capture, match func([]byte) bool, want map[string]int) {
	t.Helper()
	time.Sleep(100 * time.Millisecond)
	for n, w := range want {
		if got := caps[n].Count(match); got != w {
			t.Errorf("host %s received %d frames of the stream, want %d", n, got, w)
		}
	}
}

// waitGroup waits until port has state for (vlan 0, group) in the switch.
func (l *snoopLab) waitGroup(t *testing.T, group netip.Addr, port fdb.PortID) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if _, ok := l.sw.Engine.Snooper().Groups().Get(0, group, port); ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the switch did not register %s on port %d within 3s", group, port)
}

func TestSnoopJoinedHostsReceiveOthersDoNot(t *testing.T) {
	cases := []struct {
		name    string
		group   string
		version func(*testenv.Host) error
	}{
		{"IGMPv1", "239.1.2.3", func(h *testenv.Host) error { return h.ForceIGMPVersion(1) }},
		{"IGMPv2", "239.1.2.3", func(h *testenv.Host) error { return h.ForceIGMPVersion(2) }},
		{"IGMPv3", "239.1.2.3", func(h *testenv.Host) error { return h.ForceIGMPVersion(3) }},
		{"MLDv1", "ff0e::1:2:3", func(h *testenv.Host) error { return h.ForceMLDVersion(1) }},
		{"MLDv2", "ff0e::1:2:3", func(h *testenv.Host) error { return h.ForceMLDVersion(2) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newSnoopLab(t, snoop.Config{}, "src", "member", "other")
			group := netip.MustParseAddr(c.group)
			for _, h := range l.hosts {
				if err := c.version(h); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := l.hosts["member"].Join(group); err != nil {
				t.Fatal(err)
			}
			l.waitGroup(t, group, l.port("member"))
			caps := l.captures(t, "member", "other")
			l.stream(t, "src", group, 5000, 20, 5*time.Millisecond)
			expectCounts(t, caps, udpTo(group, 5000), map[string]int{"member": 20, "other": 0})
		})
	}
}

// TestSnoop32GroupsShareAMAC: 224.1.1.1 and 225.1.1.1 both map to
// 01:00:5e:01:01:01; each member receives only its own group.
func TestSnoop32GroupsShareAMAC(t *testing.T) {
	l := newSnoopLab(t, snoop.Config{}, "src", "a", "b")
	ga, gb := netip.MustParseAddr("224.1.1.1"), netip.MustParseAddr("225.1.1.1")
	if snoop.MulticastMAC(ga) != snoop.MulticastMAC(gb) {
		t.Fatal("the groups were meant to share a MAC")
	}
	if _, err := l.hosts["a"].Join(ga); err != nil {
		t.Fatal(err)
	}
	if _, err := l.hosts["b"].Join(gb); err != nil {
		t.Fatal(err)
	}
	l.waitGroup(t, ga, l.port("a"))
	l.waitGroup(t, gb, l.port("b"))
	caps := l.captures(t, "a", "b")
	l.stream(t, "src", ga, 6000, 10, 5*time.Millisecond)
	l.stream(t, "src", gb, 6000, 10, 5*time.Millisecond)
	expectCounts(t, caps, udpTo(ga, 6000), map[string]int{"a": 10, "b": 0})
	expectCounts(t, caps, udpTo(gb, 6000), map[string]int{"a": 0, "b": 10})
}

func TestSnoopSourceFiltering(t *testing.T) {
	for _, c := range []struct{ name, group string }{{"IGMPv3", "232.1.1.1"}, {"MLDv2", "ff3e::8000:1"}} {
		t.Run("SSM/"+c.name, func(t *testing.T) {
			l := newSnoopLab(t, snoop.Config{}, "s1", "s2", "rx")
			group := netip.MustParseAddr(c.group)
			s1 := l.hosts["s1"].IPv4.Addr()
			if group.Is6() {
				s1 = l.hosts["s1"].IPv6.Addr()
			}
			if _, err := l.hosts["rx"].JoinSource(group, s1); err != nil {
				t.Fatal(err)
			}
			l.waitGroup(t, group, l.port("rx"))
			caps := l.captures(t, "rx")
			match := udpTo(group, 7000)
			l.stream(t, "s1", group, 7000, 10, 5*time.Millisecond)
			expectCounts(t, caps, match, map[string]int{"rx": 10})
			l.stream(t, "s2", group, 7000, 10, 5*time.Millisecond)
			expectCounts(t, caps, match, map[string]int{"rx": 10}) // nothing from S2
		})
	}
	t.Run("EXCLUDE", func(t *testing.T) {
		l := newSnoopLab(t, snoop.Config{}, "s1", "s2", "rx")
		group := netip.MustParseAddr("239.7.7.7")
		if _, err := l.hosts["rx"].JoinExclude(group, l.hosts["s2"].IPv4.Addr()); err != nil {
			t.Fatal(err)
		}
		l.waitGroup(t, group, l.port("rx"))
		caps := l.captures(t, "rx")
		match := udpTo(group, 7001)
		l.stream(t, "s1", group, 7001, 10, 5*time.Millisecond)
		l.stream(t, "s2", group, 7001, 10, 5*time.Millisecond)
		expectCounts(t, caps, match, map[string]int{"rx": 10})
	})
}

func TestSnoopLeave(t *testing.T) {
	for _, fast := range []bool{false, true} {
		t.Run(fmt.Sprintf("fast=%v", fast), func(t *testing.T) {
			cfg := snoop.Config{}
			var leaverPort fdb.PortID = 1 // hosts: src, leaver, stayer
			if fast {
				cfg.Membership.FastLeave = func(p fdb.PortID) bool { return p == leaverPort }
			}
			l := newSnoopLab(t, cfg, "src", "leaver", "stayer")
			group := netip.MustParseAddr("239.9.9.9")
			m, err := l.hosts["leaver"].Join(group)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.hosts["stayer"].Join(group); err != nil {
				t.Fatal(err)
			}
			l.waitGroup(t, group, l.port("leaver"))
			l.waitGroup(t, group, l.port("stayer"))
			if err := m.Leave(); err != nil {
				t.Fatal(err)
			}
			// Last member query time: 2 x 300 ms; fast leave: at once.
			limit := 600*time.Millisecond + 300*time.Millisecond
			if fast {
				limit = 100 * time.Millisecond
			}
			deadline := time.Now().Add(limit)
			for {
				if _, ok := l.sw.Engine.Snooper().Groups().Get(0, group, l.port("leaver")); !ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the leaver's port still holds the group %v after its leave", limit)
				}
				time.Sleep(10 * time.Millisecond)
			}
			caps := l.captures(t, "leaver", "stayer")
			l.stream(t, "src", group, 8000, 10, 5*time.Millisecond)
			expectCounts(t, caps, udpTo(group, 8000), map[string]int{"leaver": 0, "stayer": 10})
		})
	}
}

// isReport matches IGMP and MLD reports and leaves.
func isReport(f []byte) bool {
	if len(f) < 14 {
		return false
	}
	et := binary.BigEndian.Uint16(f[12:14])
	var m snoop.Message
	if snoop.Parse(et, f[14:], &m) != nil {
		return false
	}
	switch m.Type {
	case snoop.MsgIGMPv1Report, snoop.MsgIGMPv2Report, snoop.MsgIGMPv2Leave, snoop.MsgIGMPv3Report,
		snoop.MsgMLDv1Report, snoop.MsgMLDv1Done, snoop.MsgMLDv2Report:
		return true
	}
	return false
}

func TestSnoopReportsGoOnlyToRouterPorts(t *testing.T) {
	var routers fdb.PortSet
	routers.Add(2) // hosts: member, other, router
	l := newSnoopLab(t, snoop.Config{StaticRouterPorts: routers}, "member", "other", "router")
	caps := l.captures(t, "other", "router")
	group := netip.MustParseAddr("239.4.4.4")
	m, err := l.hosts["member"].Join(group)
	if err != nil {
		t.Fatal(err)
	}
	l.waitGroup(t, group, l.port("member"))
	m.Leave()
	if !caps["router"].WaitFor(isReport, 2, 2*time.Second) {
		t.Errorf("the router port saw %d reports and leaves, want the join and the leave", caps["router"].Count(isReport))
	}
	if n := caps["other"].Count(isReport); n != 0 {
		t.Errorf("another host port saw %d reports: hosts would suppress their own", n)
	}
	// Unregistered data goes to the router port only, once the switch's
	// start-up window (a query response interval) is over.
	for l.sw.Engine.Snooper().LearningAny() {
		time.Sleep(20 * time.Millisecond)
	}
	unreg := netip.MustParseAddr("239.5.5.5")
	l.stream(t, "member", unreg, 9000, 10, 5*time.Millisecond)
	expectCounts(t, caps, udpTo(unreg, 9000), map[string]int{"router": 10, "other": 0})
}

func TestSnoopLinkLocalGroupsReachEveryPort(t *testing.T) {
	l := newSnoopLab(t, snoop.Config{}, "src", "a", "b")
	caps := l.captures(t, "a", "b")
	for _, g := range []string{"224.0.0.251", "ff02::1", "ff02::fb"} {
		group := netip.MustParseAddr(g)
		l.stream(t, "src", group, 5353, 5, 5*time.Millisecond)
		expectCounts(t, caps, udpTo(group, 5353), map[string]int{"a": 5, "b": 5})
	}
}

// TestSnoopQuerierElection: an external querier with a lower address wins,
// the switch stops querying, and takes over again once the other querier
// has been silent for the other-querier-present interval (4.5 s here).
func TestSnoopQuerierElection(t *testing.T) {
	own := netip.MustParseAddr("198.18.0.200")
	l := newSnoopLab(t, snoop.Config{Querier: snoop.QuerierConfig{IPv4Source: own, IGMPVersion: 3}}, "querier", "host")
	caps := l.captures(t, "host")
	fromSwitch := testenv.QueryFrom(nil, own)
	if !caps["host"].WaitFor(fromSwitch, 1, 3*time.Second) {
		t.Fatal("the switch sent no query on its own")
	}
	// The external querier (198.18.0.1 < 198.18.0.200) queries every second
	// for 3 seconds.
	ext := l.hosts["querier"].IPv4.Addr()
	query, err := snoop.AppendIGMPQuery(make([]byte, 14), ext, snoop.Query{Version: 3, Group: netip.IPv4Unspecified(), MaxResp: time.Second, QRV: 2, QQI: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	mac := snoop.MulticastMAC(netip.MustParseAddr("224.0.0.1"))
	copy(query[0:6], mac[:])
	copy(query[6:12], l.hosts["querier"].MAC)
	query[12], query[13] = 0x08, 0x00
	for range 3 {
		if err := l.hosts["querier"].SendFrame(query); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
	}
	before := caps["host"].Count(fromSwitch)
	time.Sleep(time.Second) // still within the other querier's presence
	if n := caps["host"].Count(fromSwitch) - before; n != 0 {
		t.Errorf("the switch sent %d queries while a lower-addressed querier was present", n)
	}
	if !caps["host"].WaitFor(testenv.QueryFrom(nil, ext), 3, time.Second) {
		t.Error("the external querier's queries were not flooded to the host")
	}
	// After 4.5 s of silence the switch queries again.
	if !caps["host"].WaitFor(func(f []byte) bool { return fromSwitch(f) }, before+1, 6*time.Second) {
		t.Error("the switch did not take over after the other querier went silent")
	}
}
