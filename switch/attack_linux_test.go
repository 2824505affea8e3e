package switching_test

import (
	"encoding/binary"
	"maps"
	"net/netip"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/snoop"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// The guard under attack (issue 4): each test has the host "attacker" of a
// guardLab craft hostile frames while src streams to the victims v1 and v2,
// and checks that the frames were dropped for the right reason, that they
// changed no snooping state, and that the victims lost nothing. Each attack
// logs one line, "attack=NAME sent=N dropped=map[REASON:N] victim_lost=N";
// BENCHMARKS.md ("Guard under attack") has the table of one run.

// The attacks' frames are mcBenchIPv4Frame's and ipv6Frame's (and the
// messages guard_test.go builds), from a lab host's addresses.

// ipv4Frame is the frame of an IPv4 packet of protocol proto carrying upper,
// from host h to dst (at the MAC dst maps to), with TTL ttl and, when ra,
// the Router Alert option.
func ipv4Frame(h *testenv.Host, dst netip.Addr, ttl uint8, ra bool, proto uint8, upper []byte) []byte {
	var opts []byte
	if ra {
		opts = []byte{0x94, 4, 0, 0} // RFC 2113
	}
	var tos uint8
	if proto == 2 {
		tos = 0xc0 // RFC 3376 s4: IGMP goes as Internetwork Control
	}
	return mcBenchIPv4Frame(fdb.MAC(h.MAC), h.IPv4.Addr(), dst, ttl, proto, tos, opts, upper)
}

// igmpFrame4 is an IGMP message from h to dst as hosts send it: TTL 1,
// Router Alert.
func igmpFrame4(h *testenv.Host, dst netip.Addr, igmp []byte) []byte {
	return ipv4Frame(h, dst, 1, true, 2, igmp)
}

// join3 is the frame of a well-formed IGMPv3 IS_EX({}) report from h for
// groups: an any-source join.
func join3(h *testenv.Host, groups ...netip.Addr) []byte {
	return igmpFrame4(h, netip.MustParseAddr("224.0.0.22"), igmpV3Report(len(groups), snoop.ModeIsExclude, groups...))
}

// hostIPv6Frame is ipv6Frame from h's link-local address.
func hostIPv6Frame(h *testenv.Host, dst netip.Addr, nh uint8, msg []byte) []byte {
	return ipv6Frame(fdb.MAC(h.MAC), h.LinkLocal, dst, nh, msg)
}

// isControlFrom matches control packets of the given types sent from mac.
func isControlFrom(mac []byte, types ...snoop.MessageType) func([]byte) bool {
	return func(f []byte) bool {
		if len(f) < 14 || string(f[6:12]) != string(mac) {
			return false
		}
		var m snoop.Message
		if snoop.Parse(binary.BigEndian.Uint16(f[12:14]), f[14:], &m) != nil {
			return false
		}
		for _, t := range types {
			if m.Type == t {
				return true
			}
		}
		return false
	}
}

// isIGMPFrom matches any IPv4 IGMP packet (well-formed or not) from mac.
func isIGMPFrom(mac []byte) func([]byte) bool {
	return func(f []byte) bool {
		return len(f) >= 34 && string(f[6:12]) == string(mac) && binary.BigEndian.Uint16(f[12:14]) == 0x0800 && f[14+9] == 2
	}
}

// waitDrops waits until host n's port has counted exactly want since
// before, and returns what it counted: the switch counts a frame when its
// receive loop reaches it, a moment after it was sent.
func (g *guardLab) waitDrops(t *testing.T, n string, before, want map[string]uint64) map[string]uint64 {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		got := dropsSince(before, g.drops(n))
		if maps.Equal(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			t.Errorf("drops on %s's port = %v, want %v", n, got, want)
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sendFrames has host h send frames, all of them rounds times, a pause
// apart, and returns how many it sent. It runs beside the test goroutine, so
// it reports a failure in its result instead of through t.
func sendFrames(h *testenv.Host, frames [][]byte, rounds int, pause time.Duration) (int, error) {
	sent := 0
	for range rounds {
		for _, f := range frames {
			if err := h.SendFrame(f); err != nil {
				return sent, err
			}
			sent++
		}
		time.Sleep(pause)
	}
	return sent, nil
}

// attackFrom runs one attack: host from sends frames rounds times (5 ms
// apart) during the victims' stream; the drops on its port must then be
// exactly want. It logs the attack's line.
func (g *guardLab) attackFrom(t *testing.T, name, from string, frames [][]byte, rounds int, want map[string]uint64) {
	t.Helper()
	before := g.drops(from)
	var sent int
	var err error
	lost := g.attack(t, func() { sent, err = sendFrames(g.hosts[from], frames, rounds, 5*time.Millisecond) })
	if err != nil {
		t.Fatal(err)
	}
	logAttack(t, name, sent, g.waitDrops(t, from, before, want), lost)
}

func logAttack(t *testing.T, name string, sent int, dropped map[string]uint64, lost int) {
	t.Helper()
	t.Logf("attack=%s sent=%d dropped=%v victim_lost=%d", name, sent, dropped, lost)
}

// settle has the attacker join sentinel with a well-formed IGMPv3 report
// (or MLDv2, for an IPv6 sentinel) and waits for the switch to register it.
// The control plane applies one port's packets in order, so whatever the
// attacker sent before has then been applied, or dropped.
func (g *guardLab) settle(t *testing.T, sentinel netip.Addr) {
	t.Helper()
	a := g.hosts["attacker"]
	var f []byte
	if sentinel.Is6() {
		f = hostIPv6Frame(a, netip.MustParseAddr("ff02::16"), 58, mldV2Join(sentinel))
	} else {
		f = join3(a, sentinel)
	}
	if err := a.SendFrame(f); err != nil {
		t.Fatal(err)
	}
	g.waitGroup(t, sentinel, g.port("attacker"))
}

// noState fails for each group host n's port has snooping state for.
func (g *guardLab) noState(t *testing.T, n string, groups ...netip.Addr) {
	t.Helper()
	for _, group := range groups {
		if m, ok := g.sw.Engine.Snooper().Groups().Get(0, group, g.port(n)); ok {
			t.Errorf("%s's port holds %s: %+v", n, group, m)
		}
	}
}

// TestAttackRouterMessages: PIM hellos and MRD advertisements from a host
// port are router-guard drops: they reach no other port and never make the
// port a router port.
func TestAttackRouterMessages(t *testing.T) {
	g := newGuardLab(t)
	a := g.hosts["attacker"]
	router := g.captures(t, "router")["router"]
	g.attackFrom(t, "pim-hello-ipv4+ipv6", "attacker", [][]byte{
		ipv4Frame(a, netip.MustParseAddr("224.0.0.13"), 1, false, 103, withChecksum(pimHello())),
		hostIPv6Frame(a, netip.MustParseAddr("ff02::d"), 103, pimHello()),
	}, 10, map[string]uint64{"router-guard": 20})
	g.attackFrom(t, "mrd-advertisement-igmp+mld", "attacker", [][]byte{
		igmpFrame4(a, netip.MustParseAddr("224.0.0.106"), withChecksum(mrdAdvertisement(0x30))),
		hostIPv6Frame(a, netip.MustParseAddr("ff02::6a"), 58, mrdAdvertisement(151)),
	}, 10, map[string]uint64{"router-guard": 20})

	attacker := g.port("attacker")
	if g.sw.Engine.Snooper().RouterPorts().Ports(0).Has(attacker) {
		t.Error("the attacker's port became a router port")
	}
	for _, r := range g.sw.Engine.Snooper().RouterPorts().List(time.Now()) {
		if r.Port == attacker {
			t.Errorf("router ports list the attacker's port: %+v", r)
		}
	}
	if n := router.Count(isControlFrom(a.MAC, snoop.MsgPIMHello, snoop.MsgMRDAdvertisement)); n != 0 {
		t.Errorf("the router port received %d of the attacker's hellos and advertisements", n)
	}
}

// TestAttackOldVersions: on a port whose minimum versions are IGMPv3 and
// MLDv2, IGMPv1/v2 and MLDv1 reports are min-version drops and create no
// membership, while v3 and MLDv2 reports from the same port do.
func TestAttackOldVersions(t *testing.T) {
	p := guard.HostPortDefaults()
	p.MinIGMPVersion, p.MinMLDVersion = 3, 2
	g := newGuardLabWith(t, p)
	a := g.hosts["attacker"]
	v1g, v2g, mldg := netip.MustParseAddr("239.3.0.1"), netip.MustParseAddr("239.3.0.2"), netip.MustParseAddr("ff0e::3:1")
	// IGMPv1 predates Router Alert.
	g.attackFrom(t, "igmpv1-report-min-v3", "attacker", [][]byte{ipv4Frame(a, v1g, 1, false, 2, igmpV12(0x12, v1g))}, 10,
		map[string]uint64{"min-version": 10})
	g.attackFrom(t, "igmpv2-report-min-v3", "attacker", [][]byte{igmpFrame4(a, v2g, igmpV12(0x16, v2g))}, 10,
		map[string]uint64{"min-version": 10})
	g.attackFrom(t, "mldv1-report-min-v2", "attacker", [][]byte{hostIPv6Frame(a, mldg, 58, mldV1Message(131, mldg))}, 10,
		map[string]uint64{"min-version": 10})
	g.settle(t, netip.MustParseAddr("239.3.0.3"))
	g.settle(t, netip.MustParseAddr("ff0e::3:3"))
	g.noState(t, "attacker", v1g, v2g, mldg)
}

// TestAttackACL: the attacker's port may not join 239.99.0.0/16. An IGMPv2
// join of a denied group is dropped whole (acl-deny); from an IGMPv3 report
// the denied record is removed (counted as acl-removed, not as a drop: the
// report with its permitted record goes on) and the permitted one applies.
func TestAttackACL(t *testing.T) {
	p := guard.HostPortDefaults()
	p.ACL = []guard.Rule{
		{Permit: false, Groups: netip.MustParsePrefix("239.99.0.0/16")},
		{Permit: true},
	}
	g := newGuardLabWith(t, p)
	a := g.hosts["attacker"]
	denied, permitted := netip.MustParseAddr("239.99.1.1"), netip.MustParseAddr("239.1.2.3")

	t.Run("IGMPv2", func(t *testing.T) {
		g.attackFrom(t, "acl-denied-igmpv2-join", "attacker", [][]byte{igmpFrame4(a, denied, igmpV12(0x16, denied))}, 10,
			map[string]uint64{"acl-deny": 10})
		g.settle(t, netip.MustParseAddr("239.1.0.1"))
		g.noState(t, "attacker", denied)
	})
	t.Run("IGMPv3", func(t *testing.T) {
		router, err := g.hosts["router"].Capture()
		if err != nil {
			t.Fatal(err)
		}
		mixed := join3(a, permitted, denied)
		g.attackFrom(t, "acl-mixed-igmpv3-report", "attacker", [][]byte{mixed}, 1, map[string]uint64{"acl-removed": 1})
		g.waitGroup(t, permitted, g.port("attacker"))
		g.noState(t, "attacker", denied)
		// The router port gets the report without the denied record.
		fromAttacker := func(f []byte) bool {
			var m snoop.Message
			return len(f) > 14 && snoop.Parse(binary.BigEndian.Uint16(f[12:14]), f[14:], &m) == nil &&
				m.Type == snoop.MsgIGMPv3Report && m.Src == a.IPv4.Addr() && len(m.Records) > 0 && m.Records[0].Group == permitted
		}
		if !router.WaitFor(fromAttacker, 1, time.Second) {
			t.Fatal("the router port never got the attacker's report")
		}
		for _, f := range router.Frames() {
			var m snoop.Message
			if fromAttacker(f) && snoop.Parse(0x0800, f[14:], &m) == nil && len(m.Records) != 1 {
				t.Errorf("the router port got the report with %d records %v, want only %s's", len(m.Records), m.Records, permitted)
			}
		}
	})
}

// isGroupQuery matches IGMP group-specific queries for group.
func isGroupQuery(group netip.Addr) func([]byte) bool {
	return func(f []byte) bool {
		if len(f) < 14 {
			return false
		}
		var m snoop.Message
		return snoop.Parse(binary.BigEndian.Uint16(f[12:14]), f[14:], &m) == nil && m.Type == snoop.MsgIGMPQuery && m.Query.Group == group
	}
}

// TestAttackForgedLeaves: a leave for the victims' group does not cut them
// off. From another port it touches nothing (a leave never reaches beyond
// its own port). Forged on a victim's own port, while the victim's kernel
// is still a member, the switch (the querier here: nobody else queries, and
// router guard keeps forged queriers out) asks that port with group-specific
// queries, the kernel answers, and the stream goes on. The victims' stream
// runs 2 s, past the 600 ms last member query time after each leave.
func TestAttackForgedLeaves(t *testing.T) {
	g := newGuardLab(t)
	if !g.sw.Engine.Snooper().Querier().IsQuerier(0, 4, time.Now()) {
		t.Fatal("the switch is not the querier: the leaves would not be queried")
	}
	leave := func(h *testenv.Host) []byte {
		return igmpFrame4(h, netip.MustParseAddr("224.0.0.2"), igmpV12(0x17, g.group))
	}
	const gap = 10 * time.Millisecond

	t.Run("OtherPort", func(t *testing.T) {
		a := g.hosts["attacker"]
		before := g.drops("attacker")
		var sent int
		var err error
		lost := g.attackPaced(t, gap, func() { sent, err = sendFrames(a, [][]byte{leave(a)}, 5, 300*time.Millisecond) })
		if err != nil {
			t.Fatal(err)
		}
		logAttack(t, "forged-leave-other-port", sent, g.waitDrops(t, "attacker", before, map[string]uint64{}), lost)
		g.noState(t, "attacker", g.group)
	})
	t.Run("OwnPort", func(t *testing.T) {
		v1 := g.hosts["v1"]
		queries := g.captures(t, "v1")["v1"]
		before := g.drops("v1")
		var sent int
		var err error
		lost := g.attackPaced(t, gap, func() { sent, err = sendFrames(v1, [][]byte{leave(v1)}, 3, 700*time.Millisecond) })
		if err != nil {
			t.Fatal(err)
		}
		logAttack(t, "forged-leave-own-port", sent, g.waitDrops(t, "v1", before, map[string]uint64{}), lost)
		if n := queries.Count(isGroupQuery(g.group)); n < sent {
			t.Errorf("v1 saw %d group-specific queries for %s after %d leaves, want at least one per leave", n, g.group, sent)
		}
	})
	for _, v := range []string{"v1", "v2"} {
		if _, ok := g.sw.Engine.Snooper().Groups().Get(0, g.group, g.port(v)); !ok {
			t.Errorf("%s's port lost its membership of %s", v, g.group)
		}
	}
}

// TestAttackMalformedReports: reports the switch must not believe, each
// dropped for its own reason, none changing state or reaching a host.
func TestAttackMalformedReports(t *testing.T) {
	g := newGuardLab(t)
	a, v1 := g.hosts["attacker"], g.hosts["v1"]
	group := func(i byte) netip.Addr { return netip.AddrFrom4([4]byte{239, 7, 0, i}) }
	report := func(i byte) []byte { return igmpFrame4(a, group(i), igmpV12(0x16, group(i))) }
	toUnicast := func(i byte, dstMAC []byte) []byte {
		f := ipv4Frame(a, v1.IPv4.Addr(), 1, true, 2, igmpV12(0x16, group(i)))
		copy(f[0:6], dstMAC)
		return f
	}
	// A report to v1's address under a group MAC reaches every host's kernel,
	// which takes it for another member's report (and may suppress its own);
	// under v1's MAC it bypasses snooping. The guard must see both.
	groupMAC := snoop.MulticastMAC(group(7))
	cases := []struct {
		name   string
		frame  []byte
		group  netip.Addr
		reason string
	}{
		{"bad-igmp-checksum", func() []byte { f := report(1); f[14+24+2] ^= 0xff; return f }(), group(1), "bad-checksum"},
		{"bad-ip-checksum", func() []byte { f := report(2); f[14+10] ^= 0xff; return f }(), group(2), "bad-checksum"},
		{"ttl-2", ipv4Frame(a, group(3), 2, true, 2, igmpV12(0x16, group(3))), group(3), "bad-ttl"},
		{"igmpv2-no-router-alert", ipv4Frame(a, group(4), 1, false, 2, igmpV12(0x16, group(4))), group(4), "no-router-alert"},
		{"igmpv3-no-router-alert", ipv4Frame(a, netip.MustParseAddr("224.0.0.22"), 1, false, 2, igmpV3Report(1, snoop.ModeIsExclude, group(5))), group(5), "no-router-alert"},
		{"igmpv3-truncated-record", igmpFrame4(a, netip.MustParseAddr("224.0.0.22"), igmpV3Report(2, snoop.ModeIsExclude, group(6))), group(6), "bad-length"},
		{"report-to-unicast-ip", toUnicast(7, groupMAC[:]), group(7), "bad-dst"},
		{"report-to-unicast-ip-and-mac", toUnicast(8, v1.MAC), group(8), "bad-dst"},
	}
	hosts := g.captures(t, "src", "v1", "v2")
	var groups []netip.Addr
	for _, c := range cases {
		groups = append(groups, c.group)
		t.Run(c.name, func(t *testing.T) {
			g.attackFrom(t, c.name, "attacker", [][]byte{c.frame}, 10, map[string]uint64{c.reason: 10})
		})
	}
	g.settle(t, group(100))
	g.noState(t, "attacker", groups...)
	for n, c := range hosts {
		if k := c.Count(isIGMPFrom(a.MAC)); k != 0 {
			t.Errorf("host %s received %d of the attacker's IGMP packets", n, k)
		}
	}
}

// TestAttackForbiddenData: multicast data the attacker's sender policy
// denies (sender-deny), and data with a TTL above its port's MaxTTL
// (ttl-exceeded), reach nobody, members and router port included. Data
// within the policy does, and so does link-local traffic, whose TTL no
// router ever reads: neighbour discovery and mDNS send with 255 (RFC 4861
// s7.1, RFC 6762 s11).
func TestAttackForbiddenData(t *testing.T) {
	p := guard.HostPortDefaults()
	p.Senders = []guard.SenderRule{{Permit: false, Groups: netip.MustParsePrefix("239.66.0.0/16")}}
	p.MaxTTL = 4
	g := newGuardLabWith(t, p)
	a := g.hosts["attacker"]
	deniedG, farG, okG := netip.MustParseAddr("239.66.1.1"), netip.MustParseAddr("239.67.1.1"), netip.MustParseAddr("239.68.1.1")
	for _, j := range []struct {
		host  string
		group netip.Addr
	}{{"v1", deniedG}, {"v2", farG}, {"v1", okG}} {
		if _, err := g.hosts[j.host].Join(j.group); err != nil {
			t.Fatal(err)
		}
		g.waitGroup(t, j.group, g.port(j.host))
	}
	caps := g.captures(t, "v1", "v2", "router")
	datagram := func(group netip.Addr, ttl uint8) [][]byte {
		return [][]byte{ipv4Frame(a, group, ttl, false, 17, udpDatagram(4100, "attack"))}
	}

	g.attackFrom(t, "data-sender-denied", "attacker", datagram(deniedG, 1), 100, map[string]uint64{"sender-deny": 100})
	g.attackFrom(t, "data-ttl-above-max", "attacker", datagram(farG, 8), 100, map[string]uint64{"ttl-exceeded": 100})
	expectCounts(t, caps, udpTo(deniedG, 4100), map[string]int{"v1": 0, "router": 0})
	expectCounts(t, caps, udpTo(farG, 4100), map[string]int{"v2": 0, "router": 0})

	before := g.drops("attacker")
	if _, err := sendFrames(a, datagram(okG, 4), 20, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if !caps["v1"].WaitFor(udpTo(okG, 4100), 20, 2*time.Second) {
		t.Errorf("v1 received %d of 20 datagrams within the attacker's policy", caps["v1"].Count(udpTo(okG, 4100)))
	}
	mdns := netip.MustParseAddr("224.0.0.251")
	if _, err := sendFrames(a, [][]byte{ipv4Frame(a, mdns, 255, false, 17, udpDatagram(5353, "mdns"))}, 5, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if !caps["v1"].WaitFor(udpTo(mdns, 5353), 5, 2*time.Second) {
		t.Errorf("v1 received %d of 5 mDNS datagrams (TTL 255) from the attacker", caps["v1"].Count(udpTo(mdns, 5353)))
	}
	// A fresh neighbour: the attacker's kernel solicits v1 at its
	// solicited-node group with hop limit 255.
	if r, err := a.Ping(g.hosts["v1"].IPv6.Addr(), 3, 10*time.Millisecond, time.Second); err != nil || r.Received == 0 {
		t.Errorf("the attacker cannot ping v1 over IPv6 (%+v, %v): neighbour discovery dropped", r, err)
	}
	g.waitDrops(t, "attacker", before, map[string]uint64{})
}

// TestAttackReportFlood: the attacker sends IGMPv2 joins (to 256 groups,
// round robin) as fast as it can for a second. The port's token bucket
// (guard.DefaultHostRate per second, guard.DefaultHostBurst deep) lets
// through what it allows and drops the rest as rate-limit; the victims
// lose nothing.
func TestAttackReportFlood(t *testing.T) {
	g := newGuardLab(t)
	a := g.hosts["attacker"]
	frames := make([][]byte, 256)
	for i := range frames {
		group := netip.AddrFrom4([4]byte{239, 200, 0, byte(i)})
		frames[i] = igmpFrame4(a, group, igmpV12(0x16, group))
	}
	port := g.port("attacker")
	accepted := func() uint64 {
		msgs, _ := g.sw.Engine.Snooper().Counters(port)
		return msgs["igmpv2-report"]
	}
	before, acceptedBefore := g.drops("attacker"), accepted()
	var sent int
	var err error
	var start time.Time
	var elapsed time.Duration
	lost := g.attackPaced(t, 5*time.Millisecond, func() {
		start = time.Now()
		for time.Since(start) < time.Second && err == nil {
			err = a.SendFrame(frames[sent%len(frames)])
			if err == nil {
				sent++
			}
		}
		elapsed = time.Since(start)
	})
	if err != nil {
		t.Fatal(err)
	}
	// The ring may still hold some of the flood: wait until every frame the
	// switch received is accounted for.
	var ok, limited uint64
	deadline := time.Now().Add(2 * time.Second)
	for {
		st := g.sw.Engine.Stats()[port]
		ok, limited = accepted()-acceptedBefore, st.Drops["rate-limit"]-before["rate-limit"]
		if ok+limited+st.Kernel.Drops >= uint64(sent) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Everything was received by now: a bound on the time the bucket had
	// to refill in.
	window := time.Since(start).Seconds()
	dropped := dropsSince(before, g.drops("attacker"))
	logAttack(t, "igmpv2-report-flood", sent, dropped, lost)
	secs := elapsed.Seconds()
	t.Logf("report flood: sent %d in %.2fs (%.0f/s); accepted %d (%.0f/s), rate-limited %d, kernel drops %d",
		sent, secs, float64(sent)/secs, ok, float64(ok)/secs, limited, g.sw.Engine.Stats()[port].Kernel.Drops)
	// The bucket holds DefaultHostBurst tokens and refills DefaultHostRate a
	// second; the attacker's kernel may have spent a few on its own MLD.
	least, most := min(uint64(sent), guard.DefaultHostBurst/2), guard.DefaultHostBurst+uint64(guard.DefaultHostRate*window)+1
	if ok < least || ok > most {
		t.Errorf("the switch accepted %d of %d reports, want between %d and %d", ok, sent, least, most)
	}
	if limited == 0 || dropped["rate-limit"] != limited {
		t.Errorf("rate-limit drops = %d (drops %v), want the reports beyond the bucket", limited, dropped)
	}
	if len(dropped) != 1 {
		t.Errorf("drops other than rate-limit: %v", dropped)
	}
}
