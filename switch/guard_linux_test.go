package switching_test

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/internal/testutil"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// guardLab is a snooping, guarded switch: hosts src, v1 and v2 (victims
// joined to a group), attacker (all host ports with the host defaults) and
// router (a router port).
type guardLab struct {
	*snoopLab
	group netip.Addr
}

func newGuardLab(t *testing.T) *guardLab {
	t.Helper()
	return newGuardLabWith(t, guard.HostPortDefaults())
}

// newGuardLabWith is newGuardLab with policy attacker on the attacker's
// port, and extra host ports (with the host defaults) after the router.
func newGuardLabWith(t *testing.T, attacker guard.PortPolicy, extra ...string) *guardLab {
	t.Helper()
	names := append([]string{"src", "v1", "v2", "attacker", "router"}, extra...)
	var routers fdb.PortSet
	routers.Add(4)
	policies := []guard.PortPolicy{guard.HostPortDefaults(), guard.HostPortDefaults(), guard.HostPortDefaults(), attacker, guard.RouterPortDefaults()}
	for range extra {
		policies = append(policies, guard.HostPortDefaults())
	}
	l := &snoopLab{Lab: testenv.New(t), hosts: make(map[string]*testenv.Host)}
	for _, n := range names {
		h, err := l.AddHost(n, testenv.HostOptions{})
		if err != nil {
			t.Fatal(err)
		}
		l.hosts[n] = h
	}
	cfg := snoop.Config{StaticRouterPorts: routers, Membership: snoop.MembershipConfig{Timers: shortTimers()}}
	l.sw = testenv.StartSwitch(t, l.Lab, testenv.SwitchConfig{Engine: switching.Config{Snooping: &cfg, Guard: policies}})
	g := &guardLab{snoopLab: l, group: netip.MustParseAddr("239.10.10.10")}
	for _, v := range []string{"v1", "v2"} {
		if _, err := l.hosts[v].Join(g.group); err != nil {
			t.Fatal(err)
		}
		l.waitGroup(t, g.group, l.port(v))
	}
	return g
}

// attack runs a victims' stream (src to the group, 200 datagrams 1 ms
// apart) while attack sends its packets, checks both victims got every
// datagram, and returns how many the two of them lost.
func (g *guardLab) attack(t *testing.T, attack func()) int {
	t.Helper()
	return g.attackPaced(t, time.Millisecond, attack)
}

// attackPaced is attack with the victims' datagrams gap apart, so that the
// stream outlasts an attack that takes time to do harm (a leave takes the
// last member query time).
func (g *guardLab) attackPaced(t *testing.T, gap time.Duration, attack func()) int {
	t.Helper()
	caps := g.captures(t, "v1", "v2")
	done := make(chan struct{})
	go func() {
		defer close(done)
		attack()
	}()
	g.stream(t, "src", g.group, 4000, 200, gap)
	<-done
	want := map[string]int{"v1": 200, "v2": 200}
	match := udpTo(g.group, 4000)
	expectCounts(t, caps, match, want)
	lost := 0
	for n, w := range want {
		lost += w - caps[n].Count(match)
	}
	return lost
}

// drops returns port n's drops by reason.
func (g *guardLab) drops(n string) map[string]uint64 {
	return g.sw.Engine.Stats()[g.port(n)].Drops
}

// igmpFrame wraps an IPv4 packet from host h in an Ethernet frame to the
// MAC of its IP destination.
func igmpFrame(h *testenv.Host, ip []byte) []byte {
	dst := snoop.MulticastMAC(netip.AddrFrom4([4]byte(ip[16:20])))
	f := make([]byte, 14, 14+len(ip))
	copy(f[0:6], dst[:])
	copy(f[6:12], h.MAC)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	return append(f, ip...)
}

func TestGuardRogueQuerierAndDowngrade(t *testing.T) {
	g := newGuardLab(t)
	rogue := netip.MustParseAddr("198.18.0.4") // the attacker's own address
	v3, err := snoop.AppendIGMPQuery(nil, rogue, snoop.Query{Version: 3, Group: netip.IPv4Unspecified(), MaxResp: time.Second, QRV: 2, QQI: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	v1, err := snoop.AppendIGMPQuery(nil, rogue, snoop.Query{Version: 1, Group: netip.IPv4Unspecified()})
	if err != nil {
		t.Fatal(err)
	}
	a := g.hosts["attacker"]
	lost := g.attack(t, func() {
		for range 20 {
			a.SendFrame(igmpFrame(a, v3))
			a.SendFrame(igmpFrame(a, v1))
			time.Sleep(5 * time.Millisecond)
		}
	})
	if got := g.drops("attacker")["router-guard"]; got != 40 {
		t.Errorf("router-guard drops on the attacker's port = %d, want 40 (drops %v)", got, g.drops("attacker"))
	}
	logAttack(t, "rogue-querier-v3+v1-query", 40, dropsSince(nil, g.drops("attacker")), lost)
	if routers := g.sw.Engine.Snooper().RouterPorts().Ports(0); routers.Has(g.port("attacker")) {
		t.Error("the attacker's port became a router port")
	}
	if !g.sw.Engine.Snooper().Querier().IsQuerier(0, 4, time.Now()) {
		t.Error("the rogue querier won the election")
	}
}

func TestGuardMACSpoofing(t *testing.T) {
	g := newGuardLab(t)
	// A datagram to a group nobody joined, dressed in the victims' group MAC.
	a := g.hosts["attacker"]
	ip := make([]byte, 28)
	ip[0], ip[8], ip[9] = 0x45, 8, 17
	binary.BigEndian.PutUint16(ip[2:], 28)
	src, dst := a.IPv4.Addr().As4(), [4]byte{239, 20, 20, 20}
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	binary.BigEndian.PutUint16(ip[10:], testutil.Checksum(ip[:20]))
	frame := igmpFrame(a, ip)
	mac := snoop.MulticastMAC(g.group)
	copy(frame[0:6], mac[:])
	lost := g.attack(t, func() {
		for range 50 {
			a.SendFrame(frame)
		}
	})
	if got := g.drops("attacker")["mac-ip-mismatch"]; got != 50 {
		t.Errorf("mac-ip-mismatch drops = %d, want 50 (drops %v)", got, g.drops("attacker"))
	}
	logAttack(t, "mac-spoofing", 50, dropsSince(nil, g.drops("attacker")), lost)
}

// TestGuardGroupLimitCountsSnoopedGroupsOnly: a real host with IPv6 on
// reports its solicited-node groups (and answers the switch's MLD queries
// with them); with group-limit 2 it still joins two IPv4 groups, because
// groups the switch floods anyway hold no state and use no budget. The
// third group is refused and counted.
func TestGuardGroupLimitCountsSnoopedGroupsOnly(t *testing.T) {
	limited := guard.HostPortDefaults()
	limited.GroupLimit = 2
	g := newGuardLabWith(t, limited)
	a, port := g.hosts["attacker"], g.port("attacker")
	// Wait until the host has answered an MLD query (the switch's startup
	// queries come QI/4 = 0.5 s apart), so that its link-scope groups have
	// been reported before it joins.
	deadline := time.Now().Add(5 * time.Second)
	for {
		msgs, _ := g.sw.Engine.Snooper().Counters(port)
		if msgs["mldv2-report"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the host sent no MLDv2 report (control packets: %v)", msgs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	groups := []netip.Addr{netip.MustParseAddr("239.20.0.1"), netip.MustParseAddr("239.20.0.2"), netip.MustParseAddr("239.20.0.3")}
	for _, grp := range groups[:2] {
		if _, err := a.Join(grp); err != nil {
			t.Fatal(err)
		}
		g.waitGroup(t, grp, port)
	}
	if d := g.drops("attacker")["group-limit"]; d != 0 {
		t.Fatalf("group-limit refused %d joins of a host with IPv6 on, below its limit of 2", d)
	}
	if _, err := a.Join(groups[2]); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(3 * time.Second)
	for g.drops("attacker")["group-limit"] == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the third group was not refused")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ok := g.sw.Engine.Snooper().Groups().Get(0, groups[2], port); ok {
		t.Error("the third group was admitted past the limit of 2")
	}
	if n := g.sw.Engine.Snooper().Groups().PortEntries(port); n != 2 {
		t.Errorf("the port holds %d entries, want exactly its limit, 2", n)
	}
}
