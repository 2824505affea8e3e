package switching_test

import (
	"encoding/binary"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"testing"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/internal/testutil"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

// Messages for the guard's tests. IPv4 frames are mcBenchIPv4Frame's; IPv6
// frames ipv6Frame's.

// withChecksum sets the Internet checksum of msg at msg[2:4] (IGMP, PIM
// over IPv4) and returns msg.
func withChecksum(msg []byte) []byte {
	msg[2], msg[3] = 0, 0
	binary.BigEndian.PutUint16(msg[2:4], testutil.Checksum(msg))
	return msg
}

// igmpV12 is an IGMPv1 (0x12) or v2 (0x16 report, 0x17 leave) message for
// group (RFC 2236 s2).
func igmpV12(typ byte, group netip.Addr) []byte {
	b := make([]byte, 8)
	b[0] = typ
	g := group.As4()
	copy(b[4:], g[:])
	return withChecksum(b)
}

// igmpV3Report is an IGMPv3 report (RFC 3376 s4.2) with one sourceless
// record of type typ per group, claiming count records.
func igmpV3Report(count int, typ snoop.RecordType, groups ...netip.Addr) []byte {
	b := make([]byte, 8, 8+8*len(groups))
	b[0] = 0x22
	binary.BigEndian.PutUint16(b[6:], uint16(count))
	for _, g := range groups {
		a := g.As4()
		b = append(b, byte(typ), 0, 0, 0, a[0], a[1], a[2], a[3])
	}
	return withChecksum(b)
}

// mldV1Message is an MLDv1 report (131) or done (132) for group (RFC 2710
// s3), its checksum left to ipv6Frame.
func mldV1Message(typ byte, group netip.Addr) []byte {
	msg := make([]byte, 24)
	msg[0] = typ
	g := group.As16()
	copy(msg[8:], g[:])
	return msg
}

// mldV2Join is an MLDv2 report (RFC 3810 s5.2) with an IS_EX({}) record per
// group, its checksum left to ipv6Frame.
func mldV2Join(groups ...netip.Addr) []byte {
	msg := make([]byte, 8, 8+20*len(groups))
	msg[0] = 143
	binary.BigEndian.PutUint16(msg[6:], uint16(len(groups)))
	for _, g := range groups {
		a := g.As16()
		msg = append(msg, byte(snoop.ModeIsExclude), 0, 0, 0)
		msg = append(msg, a[:]...)
	}
	return msg
}

// mrdAdvertisement is a Multicast Router Discovery advertisement (RFC 4286
// s4.1, s5.1): interval 20 s, query interval 125 s, robustness 2. Its type
// is 0x30 in IGMP, 151 in ICMPv6.
func mrdAdvertisement(typ byte) []byte {
	return []byte{typ, 20, 0, 0, 0, 125, 0, 2}
}

// pimHello is a PIMv2 hello (RFC 7761 s4.9.2) with a 105 s hold time.
func pimHello() []byte {
	return []byte{0x20, 0, 0, 0, 0, 1, 0, 2, 0, 105}
}

// udpDatagram is a UDP header and payload to port (checksum 0: none, which
// IPv4 allows).
func udpDatagram(port int, payload string) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:], 40000)
	binary.BigEndian.PutUint16(b[2:], uint16(port))
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(payload)))
	return append(b, payload...)
}

// ipv6Frame is the frame of an IPv6 packet from src to dst (at the MAC dst
// maps to) with hop limit 1 and a hop-by-hop Router Alert (RFC 2711, value
// 0: MLD), carrying msg of protocol nh (ICMPv6 or PIM), whose checksum at
// msg[2:4] it sets over the pseudo-header (RFC 8200 s8.1).
func ipv6Frame(srcMAC fdb.MAC, src, dst netip.Addr, nh uint8, msg []byte) []byte {
	hbh := []byte{nh, 0, 5, 2, 0, 0, 1, 0} // Router Alert, PadN
	s, d := src.As16(), dst.As16()
	pseudo := make([]byte, 0, 40+len(msg))
	pseudo = append(pseudo, s[:]...)
	pseudo = append(pseudo, d[:]...)
	pseudo = binary.BigEndian.AppendUint32(pseudo, uint32(len(msg)))
	pseudo = append(pseudo, 0, 0, 0, nh)
	msg[2], msg[3] = 0, 0
	binary.BigEndian.PutUint16(msg[2:4], testutil.Checksum(append(pseudo, msg...)))

	f := make([]byte, 14+40, 14+40+len(hbh)+len(msg))
	mac := snoop.MulticastMAC(dst)
	copy(f[0:6], mac[:])
	copy(f[6:12], srcMAC[:])
	binary.BigEndian.PutUint16(f[12:], 0x86dd)
	ip := f[14:]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(hbh)+len(msg)))
	ip[6], ip[7] = 0, 1 // hop-by-hop next; hop limit 1
	copy(ip[8:24], s[:])
	copy(ip[24:40], d[:])
	f = append(f, hbh...)
	return append(f, msg...)
}

// dropsSince returns the drops by reason that grew from before to after.
func dropsSince(before, after map[string]uint64) map[string]uint64 {
	d := make(map[string]uint64)
	for r, n := range after {
		if n > before[r] {
			d[r] = n - before[r]
		}
	}
	return d
}

// newGuardedSwitch is a testSwitch with snooping and the guard on, every
// port a host port.
func newGuardedSwitch(t *testing.T, n int) *testSwitch {
	t.Helper()
	policies := make([]guard.PortPolicy, n)
	for i := range policies {
		policies[i] = guard.HostPortDefaults()
	}
	return newTestSwitchWith(t, n, switching.Config{Snooping: &snoop.Config{}, Guard: policies})
}

// TestGuardControlToUnicast: IGMP and MLD not sent to a group (a unicast or
// broadcast IP destination, under any MAC) never reach snooping, so the
// data plane hands them to the guard: reports and queries there are
// dropped (bad-dst, bad-query-dst), so are packets that do not parse, and
// other control traffic to a unicast address (mtrace, PIM registers) is
// forwarded as before. Without a guard nothing changes.
func TestGuardControlToUnicast(t *testing.T) {
	src, host := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	group := netip.MustParseAddr("239.7.0.7")
	groupMAC := fdb.MAC(snoop.MulticastMAC(group))
	ra := []byte{0x94, 4, 0, 0}
	to := func(dstMAC fdb.MAC, f []byte) []byte {
		copy(f[0:6], dstMAC[:])
		return f
	}
	report := func(dstMAC fdb.MAC) []byte {
		return to(dstMAC, mcBenchIPv4Frame(mac(1), src, host, 1, 2, 0xc0, ra, igmpV12(0x16, group)))
	}
	badChecksum := report(mac(2))
	badChecksum[14+24+2] ^= 0xff
	generalQuery := []byte{0x11, 100, 0, 0, 0, 0, 0, 0}
	mtrace := []byte{0x1f, 10, 0, 0, 239, 7, 0, 7}
	pimRegister := []byte{0x21, 0, 0, 0, 0, 0, 0, 0}
	cases := []struct {
		name  string
		frame []byte
		sent  []int
		drops map[string]uint64
	}{
		{"report under the group's MAC", report(groupMAC), []int{0, 0, 0}, map[string]uint64{"bad-dst": 1}},
		{"report under the host's MAC", report(mac(2)), []int{0, 0, 0}, map[string]uint64{"bad-dst": 1}},
		{"report under the broadcast MAC", report(bcast), []int{0, 0, 0}, map[string]uint64{"bad-dst": 1}},
		{"MLDv1 report to a unicast address", to(fdb.MAC{0x33, 0x33, 0, 0, 0, 2},
			ipv6Frame(mac(1), netip.MustParseAddr("fe80::1"), netip.MustParseAddr("2001:db8::2"), 58, mldV1Message(131, netip.MustParseAddr("ff0e::7")))),
			[]int{0, 0, 0}, map[string]uint64{"bad-dst": 1}},
		{"general query to a unicast address", to(mac(2), mcBenchIPv4Frame(mac(1), src, host, 1, 2, 0xc0, ra, withChecksum(generalQuery))),
			[]int{0, 0, 0}, map[string]uint64{"bad-query-dst": 1}},
		{"bad IGMP checksum", badChecksum, []int{0, 0, 0}, map[string]uint64{"bad-checksum": 1}},
		{"mtrace query to a unicast address", to(mac(2), mcBenchIPv4Frame(mac(1), src, host, 64, 2, 0, nil, withChecksum(mtrace))),
			[]int{0, 1, 1}, map[string]uint64{}},
		{"PIM register to a unicast address", to(mac(2), mcBenchIPv4Frame(mac(1), src, host, 64, 103, 0, nil, pimRegister)),
			[]int{0, 1, 1}, map[string]uint64{}},
		{"UDP to a unicast address", to(mac(2), mcBenchIPv4Frame(mac(1), src, host, 64, 17, 0, nil, udpDatagram(9, "x"))),
			[]int{0, 1, 1}, map[string]uint64{}},
		{"IPv4 EtherType, no IPv4 header", frame(mac(2), mac(1), 0x0800), []int{0, 1, 1}, map[string]uint64{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := newGuardedSwitch(t, 3)
			ts.t = t
			before := ts.stats(0).Drops
			ts.expect("guarded", ts.send(0, pkt(c.frame)), c.sent)
			if got := dropsSince(before, ts.stats(0).Drops); !maps.Equal(got, c.drops) {
				t.Errorf("drops = %v, want %v", got, c.drops)
			}
			if groups := ts.e.Snooper().Groups().Len(); groups != 0 {
				t.Errorf("the group table holds %d groups", groups)
			}
			unguarded := newTestSwitch(t, 3, fdb.Config{})
			unguarded.expect("without a guard", unguarded.send(0, pkt(c.frame)), []int{0, 1, 1})
		})
	}
}

// TestGuardedUnicastAllocatesNothing: the guard's look at unicast frames
// (IGMP or MLD in there?) costs a forwarded frame no allocation.
func TestGuardedUnicastAllocatesNothing(t *testing.T) {
	e, err := switching.New(switching.Config{Snooping: &snoop.Config{}, Guard: []guard.PortPolicy{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		e.AddPort(&nullPort{name: n})
	}
	e.NewWorker(1).Handle([]switching.Packet{{Data: frame(bcast, mac(2), 0x0806), Len: 60}}) // learn mac(2)
	dst := mac(2)
	udp4 := mcBenchIPv4Frame(mac(1), netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2"), 64, 17, 0, nil, udpDatagram(9, "x"))
	copy(udp4[0:6], dst[:])
	echo6 := ipv6Frame(mac(1), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), 58, []byte{128, 0, 0, 0, 0, 1, 0, 1})
	copy(echo6[0:6], dst[:])
	batch := []switching.Packet{{Data: udp4, Len: len(udp4)}, {Data: echo6, Len: len(echo6)}}
	w := e.NewWorker(0)
	if allocs := testing.AllocsPerRun(100, func() { w.Handle(batch) }); allocs != 0 {
		t.Errorf("guarded unicast frames allocated %.1f times per batch; want 0", allocs)
	}
	if st := e.Stats()[1]; st.TxFrames != 202 {
		t.Errorf("port b sent %d frames, want 202 (drops on a: %v)", st.TxFrames, e.Stats()[0].Drops)
	}
}

// TestUpdatePolicies: the edit sees every port's policy as it stands, what
// it leaves is applied, and an edit that fails or changes nothing leaves
// the policies alone.
func TestUpdatePolicies(t *testing.T) {
	e, err := switching.New(switching.Config{Snooping: &snoop.Config{}, Guard: []guard.PortPolicy{guard.HostPortDefaults(), guard.RouterPortDefaults()}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		e.AddPort(&nullPort{name: n})
	}
	changed, _, err := e.UpdatePolicies(func(ps []guard.PortPolicy) (bool, error) {
		if len(ps) != 2 || !ps[0].RouterGuard || ps[1].RouterGuard {
			t.Errorf("the edit sees %+v, want a host port's and a router port's policy", ps)
		}
		ps[0].GroupLimit = 7
		return true, nil
	})
	if err != nil || !changed || e.Guard().Policy(0).GroupLimit != 7 {
		t.Fatalf("UpdatePolicies = %v, %v; a's group limit %d, want 7", changed, err, e.Guard().Policy(0).GroupLimit)
	}
	for name, edit := range map[string]func([]guard.PortPolicy) (bool, error){
		"unchanged": func(ps []guard.PortPolicy) (bool, error) { ps[0].GroupLimit = 9; return false, nil },
		"failed":    func(ps []guard.PortPolicy) (bool, error) { ps[0].GroupLimit = 9; return true, errors.New("no") },
		"invalid": func(ps []guard.PortPolicy) (bool, error) {
			ps[0].GroupLimit, ps[1].MinIGMPVersion = 9, 9
			return true, nil
		},
	} {
		changed, _, err := e.UpdatePolicies(edit)
		if changed || (name != "unchanged") != (err != nil) {
			t.Errorf("%s: UpdatePolicies = %v, %v", name, changed, err)
		}
		if got := e.Guard().Policy(0).GroupLimit; got != 7 {
			t.Errorf("%s: a's group limit %d after the edit, want 7 still", name, got)
		}
	}
}

// TestFloodedDataHonoursEgressACL: while the switch floods data to a group
// nobody joined (its start-up window, or no querier), a port whose access
// list denies the group still never gets it; the refusal is counted there.
func TestFloodedDataHonoursEgressACL(t *testing.T) {
	policies := []guard.PortPolicy{guard.HostPortDefaults(), guard.HostPortDefaults(), guard.HostPortDefaults()}
	policies[2].ACL = []guard.Rule{{Permit: false, Groups: netip.MustParsePrefix("239.9.0.0/16")}}
	ts := newTestSwitchWith(t, 3, switching.Config{Snooping: &snoop.Config{Querier: snoop.QuerierConfig{Disabled: true}}, Guard: policies})
	ts.e.Snooper().Tick(ts.now)
	if ts.e.Snooper().Learning(0, 4) {
		t.Fatal("learning with no querier at all; want flooding for good")
	}
	for _, g := range []string{"239.9.9.9", "239.8.8.8"} {
		got := ts.send(0, pkt(mcBenchUDPFrame(netip.MustParseAddr(g))))
		want := []int{0, 1, 1}
		if g == "239.9.9.9" {
			want[2] = 0
		}
		if !slices.Equal(got, want) {
			t.Errorf("unregistered data to %s, flooded for want of a querier, sent out of ports %v, want %v", g, got, want)
		}
	}
	if n := ts.e.Guard().Counters(2)["acl-egress"]; n != 1 {
		t.Errorf("acl-egress on the denying port = %d, want 1", n)
	}
}

// TestGuardHostLimit: explicit host tracking stops at the port's HostLimit:
// the refused host is counted as host-limit on its port and left untracked,
// its report still joins the port, and another port's hosts are not touched.
// Without a guard, guard.DefaultHostLimit applies.
func TestGuardHostLimit(t *testing.T) {
	group := netip.MustParseAddr("239.7.0.8")
	ra := []byte{0x94, 4, 0, 0}
	report := func(host byte, g netip.Addr) []byte {
		src := netip.AddrFrom4([4]byte{198, 18, 0, host})
		f := mcBenchIPv4Frame(mac(host), src, netip.MustParseAddr("224.0.0.22"), 1, 2, 0xc0, ra, igmpV3Report(1, snoop.ModeIsExclude, g))
		return f
	}
	policies := []guard.PortPolicy{guard.HostPortDefaults(), guard.HostPortDefaults(), guard.HostPortDefaults()}
	policies[0].HostLimit = 1
	ts := newTestSwitchWith(t, 3, switching.Config{Snooping: &snoop.Config{}, Guard: policies})
	for _, port := range []int{0, 1} {
		ts.send(port, pkt(report(1+byte(port)*10, group)), pkt(report(2+byte(port)*10, group)))
	}
	ts.e.ApplyControl()
	groups := ts.e.Snooper().Groups()
	for port, want := range []struct {
		hosts     int
		untracked bool
		drops     uint64
	}{{1, true, 1}, {2, false, 0}} {
		m, ok := groups.Get(0, group, fdb.PortID(port))
		if !ok || m.Mode != fdb.ModeExclude {
			t.Fatalf("port %d: membership %+v, %v; want the hosts' EXCLUDE {}", port, m, ok)
		}
		if len(m.Hosts) != want.hosts || m.UntrackedUntil.IsZero() != !want.untracked {
			t.Errorf("port %d: %d hosts tracked, untracked until %v; want %d hosts, untracked %v", port, len(m.Hosts), m.UntrackedUntil, want.hosts, want.untracked)
		}
		if got := ts.stats(port).Drops["host-limit"]; got != want.drops {
			t.Errorf("port %d: host-limit drops %d, want %d", port, got, want.drops)
		}
	}

	// Without a guard: the switch-wide bound, twice GroupEntryLimit,
	// counted by the engine. Three hosts of one port in 4 groups want 12
	// host entries; 8 fit.
	free := newTestSwitchWith(t, 1, switching.Config{Snooping: &snoop.Config{}, GroupEntryLimit: 4})
	for host := byte(1); host <= 3; host++ {
		for i := range byte(4) {
			free.send(0, pkt(report(host, netip.AddrFrom4([4]byte{239, 8, 0, i}))))
			free.e.ApplyControl()
		}
	}
	if got := free.stats(0).Drops["host-limit"]; got != 4 {
		t.Errorf("without a guard: host-limit drops %d, want 4", got)
	}
	if got := free.e.Snooper().Groups().HostEntries(); got != 8 {
		t.Errorf("without a guard: %d host entries, want 8", got)
	}
}
