//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package fastpath_test

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/switch/fastpath"
	"github.com/snoopswitch/snoopswitch/testenv"
)

var (
	macA    = fdb.MAC{2, 0, 0, 0, 0, 1}
	macB    = fdb.MAC{2, 0, 0, 0, 0, 2}
	bcast   = fdb.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	group4  = netip.MustParseAddr("239.1.1.1")
	group6  = netip.MustParseAddr("ff3e::1:2")
	src4    = netip.MustParseAddr("198.18.0.1")
	src6    = netip.MustParseAddr("2001:db8::1")
	uni4    = netip.MustParseAddr("198.18.0.2")
	allHost = netip.MustParseAddr("224.0.0.1")
)

// eth is an Ethernet header and payload; tags are (TPID, TCI) pairs in the
// bytes, outermost first.
func eth(dst, src fdb.MAC, etherType uint16, payload []byte, tags ...[2]uint16) []byte {
	b := append(append([]byte{}, dst[:]...), src[:]...)
	for _, t := range tags {
		b = binary.BigEndian.AppendUint16(b, t[0])
		b = binary.BigEndian.AppendUint16(b, t[1])
	}
	b = binary.BigEndian.AppendUint16(b, etherType)
	return append(b, payload...)
}

// ipv4 is an IPv4 header (IHL 5, or more with options) and payload.
func ipv4(src, dst netip.Addr, proto, ttl uint8, options []byte, payload []byte) []byte {
	ihl := 5 + len(options)/4
	h := make([]byte, 20, ihl*4+len(payload))
	h[0] = 0x40 | byte(ihl)
	binary.BigEndian.PutUint16(h[2:], uint16(ihl*4+len(payload)))
	h[8], h[9] = ttl, proto
	s, d := src.As4(), dst.As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	h = append(h, options...)
	return append(h, payload...)
}

// ipv6 is an IPv6 header with next header nh and payload.
func ipv6(src, dst netip.Addr, nh, hops uint8, payload []byte) []byte {
	h := make([]byte, 40, 40+len(payload))
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	h[6], h[7] = nh, hops
	s, d := src.As16(), dst.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return append(h, payload...)
}

var udp = []byte{0x13, 0x88, 0x13, 0x88, 0, 12, 0, 0, 'd', 'a', 't', 'a'}

func groupMAC(g netip.Addr) fdb.MAC { return fdb.MAC(snoop.MulticastMAC(g)) }

// loadOnLo loads a datapath in a new lab's switch namespace and attaches
// it to lo there as port 0, the device BPF_PROG_TEST_RUN receives on, and
// to n hosts' switch ports as ports 1..n. fn runs inside the namespace.
func loadOnLo(t *testing.T, maxFlows, n int, fn func(d *fastpath.Datapath, hosts []*testenv.Host)) {
	t.Helper()
	lab := testenv.New(t)
	var hosts []*testenv.Host
	for i := range n {
		h, err := lab.AddHost(string(rune('a'+i)), testenv.HostOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	err := lab.SwitchNS().Do(func() error {
		d, err := fastpath.Load(maxFlows)
		if err != nil {
			return err
		}
		defer d.Close()
		if _, err := d.AttachPort(1, 0); err != nil {
			return err
		}
		for i, h := range hosts {
			idx, err := ifindex(h.SwitchPort)
			if err != nil {
				return err
			}
			if _, err := d.AttachPort(idx, fdb.PortID(i+1)); err != nil {
				return err
			}
		}
		fn(d, hosts)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// engineKey is the flow key the engine would use for frame received on
// port 0: switching.Frame.Decode's reading of it, so a hit proves the
// program reads frames as the engine does.
func engineKey(t *testing.T, frame []byte) fastpath.FlowKey {
	t.Helper()
	var f switching.Frame
	f.Decode(frame, switching.VLANTag{})
	switch f.Class {
	case switching.ClassUnicast:
		return switching.UnicastFlow(0, f.VLAN, f.Src, f.Dst)
	case switching.ClassIPMulticast:
		return switching.MulticastFlow(0, f.VLAN, f.Src, f.Group, f.Source)
	}
	t.Fatalf("the engine classifies the frame %v: no flow", f.Class)
	return fastpath.FlowKey{}
}

const testReason = 42

// TestProgramPuntsWhatTheEngineMustSee runs golden frames of every class
// the kernel must not judge through the tc program with an entry installed
// for the flow they would otherwise match: each must go to the ring.
func TestProgramPuntsWhatTheEngineMustSee(t *testing.T) {
	igmpQuery, err := snoop.AppendIGMPQuery(nil, src4, snoop.Query{Version: 3})
	if err != nil {
		t.Fatal(err)
	}
	mldQuery, err := snoop.AppendMLDQuery(nil, netip.MustParseAddr("fe80::1"), snoop.Query{Version: 2})
	if err != nil {
		t.Fatal(err)
	}
	allNodes := netip.MustParseAddr("ff02::1")
	pimHello := ipv4(src4, netip.MustParseAddr("224.0.0.13"), 103, 1, nil, []byte{0x20, 0, 0, 0})
	// A destination options header (RFC 8200 s4.6, 8 bytes of padding) in
	// front of UDP.
	destOpts := append([]byte{17, 0, 1, 4, 0, 0, 0, 0}, udp...)
	cases := []struct {
		name  string
		frame []byte
		key   fastpath.FlowKey // the entry that must not be used
	}{
		{"IGMP query", eth(groupMAC(allHost), macA, 0x0800, igmpQuery), switching.MulticastFlow(0, 0, macA, allHost, src4)},
		{"IGMP to a unicast MAC (the guard's stray control)", eth(macB, macA, 0x0800, ipv4(src4, uni4, 2, 1, nil, make([]byte, 8))), switching.UnicastFlow(0, 0, macA, macB)},
		{"MLD query behind hop-by-hop", eth(groupMAC(allNodes), macA, 0x86dd, mldQuery), switching.MulticastFlow(0, 0, macA, allNodes, netip.MustParseAddr("fe80::1"))},
		{"MLDv2 report without hop-by-hop", eth(groupMAC(allNodes), macA, 0x86dd, ipv6(src6, allNodes, 58, 1, []byte{143, 0, 0, 0, 0, 0, 0, 0})), switching.MulticastFlow(0, 0, macA, allNodes, src6)},
		{"MRD advertisement", eth(groupMAC(allNodes), macA, 0x86dd, ipv6(src6, allNodes, 58, 1, []byte{151, 0, 0, 0})), switching.MulticastFlow(0, 0, macA, allNodes, src6)},
		{"PIM hello", eth(groupMAC(netip.MustParseAddr("224.0.0.13")), macA, 0x0800, pimHello), switching.MulticastFlow(0, 0, macA, netip.MustParseAddr("224.0.0.13"), src4)},
		{"IPv6 with a destination options header", eth(groupMAC(group6), macA, 0x86dd, ipv6(src6, group6, 60, 64, destOpts)), switching.MulticastFlow(0, 0, macA, group6, src6)},
		{"IPv6 unicast with a destination options header", eth(macB, macA, 0x86dd, ipv6(src6, netip.MustParseAddr("2001:db8::2"), 60, 64, destOpts)), switching.UnicastFlow(0, 0, macA, macB)},
		{"broadcast", eth(bcast, macA, 0x0800, ipv4(src4, netip.MustParseAddr("198.18.255.255"), 17, 64, nil, udp)), switching.UnicastFlow(0, 0, macA, macB)},
		{"non-IP multicast", eth(fdb.MAC{0x01, 0x80, 0xc2, 0, 0, 0}, macA, 0x0027, make([]byte, 46)), switching.UnicastFlow(0, 0, macA, macB)},
		{"IPv4 group under another group's MAC", eth(fdb.MAC{0x01, 0, 0x5e, 2, 2, 2}, macA, 0x0800, ipv4(src4, group4, 17, 64, nil, udp)), switching.MulticastFlow(0, 0, macA, group4, src4)},
		{"IPv6 group under another group's MAC", eth(fdb.MAC{0x33, 0x33, 0, 0, 0, 9}, macA, 0x86dd, ipv6(src6, group6, 17, 64, udp)), switching.MulticastFlow(0, 0, macA, group6, src6)},
		{"IPv4 IHL below 5", eth(groupMAC(group4), macA, 0x0800, append([]byte{0x44}, ipv4(src4, group4, 17, 64, nil, udp)[1:]...)), switching.MulticastFlow(0, 0, macA, group4, src4)},
		{"IPv4 IHL beyond the frame", eth(groupMAC(group4), macA, 0x0800, append([]byte{0x4f}, ipv4(src4, group4, 17, 64, nil, nil)[1:]...)), switching.MulticastFlow(0, 0, macA, group4, src4)},
		{"tag cut off", eth(macB, macA, 0x8100, nil), switching.UnicastFlow(0, 0, macA, macB)},
		{"multicast source MAC", eth(macB, fdb.MAC{3, 0, 0, 0, 0, 1}, 0x0800, ipv4(src4, uni4, 17, 64, nil, udp)), switching.UnicastFlow(0, 0, macA, macB)},
		{"zero source MAC", eth(macB, fdb.MAC{}, 0x0800, ipv4(src4, uni4, 17, 64, nil, udp)), switching.UnicastFlow(0, 0, macA, macB)},
		{"four tags", eth(macB, macA, 0x0800, ipv4(src4, uni4, 17, 64, nil, udp), [2]uint16{0x88a8, 1}, [2]uint16{0x8100, 2}, [2]uint16{0x8100, 3}, [2]uint16{0x8100, 4}), switching.UnicastFlow(0, 1, macA, macB)},
	}
	loadOnLo(t, 64, 0, func(d *fastpath.Datapath, _ []*testenv.Host) {
		for _, c := range cases {
			if err := d.Install(c.key, fastpath.FlowAction{Verdict: fastpath.Drop, Reason: testReason}); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			before := counters(t, d).Ports[0]
			got, err := d.RunIngress(c.frame)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			after := counters(t, d).Ports[0]
			if got != fastpath.TCXNext {
				t.Errorf("%s: verdict %d, want %d (to the ring)", c.name, int32(got), int32(-1))
			}
			if after.Punts+after.Misses != before.Punts+before.Misses+1 || after.Frames != before.Frames {
				t.Errorf("%s: counters %+v -> %+v, want one more frame to the ring", c.name, before, after)
			}
			if err := d.Delete(c.key); err != nil {
				t.Fatal(err)
			}
		}
		if n := counters(t, d).Drops[testReason]; n != 0 {
			t.Errorf("%d frames dropped by the entries, want 0", n)
		}
	})
}

func counters(t *testing.T, d *fastpath.Datapath) *fastpath.Stats {
	t.Helper()
	s, err := d.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestProgramHits runs frames the kernel may judge, with an entry under
// the key the engine derives from the frame: each must hit, and miss
// without the entry.
func TestProgramHits(t *testing.T) {
	icmpEcho := []byte{128, 0, 0, 0, 0, 1, 0, 1}
	cases := []struct {
		name  string
		frame []byte
		vlan  uint16 // the VLAN the engine sees
	}{
		{"IPv4 UDP unicast", eth(macB, macA, 0x0800, ipv4(src4, uni4, 17, 64, nil, udp)), 0},
		{"ARP reply unicast", eth(macB, macA, 0x0806, make([]byte, 28)), 0},
		{"IPv6 ICMPv6 echo unicast", eth(macB, macA, 0x86dd, ipv6(src6, netip.MustParseAddr("2001:db8::2"), 58, 64, icmpEcho)), 0},
		{"IPv4 UDP to a group", eth(groupMAC(group4), macA, 0x0800, ipv4(src4, group4, 17, 64, nil, udp)), 0},
		{"IPv4 UDP to a group, with options", eth(groupMAC(group4), macA, 0x0800, ipv4(src4, group4, 17, 64, []byte{1, 1, 1, 0}, udp)), 0},
		{"IPv4 group with the high MAC bit cleared (RFC 1112 s6.4)", eth(groupMAC(netip.MustParseAddr("239.129.1.1")), macA, 0x0800, ipv4(src4, netip.MustParseAddr("239.129.1.1"), 17, 64, nil, udp)), 0},
		{"IPv6 UDP to a group", eth(groupMAC(group6), macA, 0x86dd, ipv6(src6, group6, 17, 64, udp)), 0},
		{"802.1Q tag in the bytes", eth(macB, macA, 0x0800, ipv4(src4, uni4, 17, 64, nil, udp), [2]uint16{0x8100, 0x2000 | 10}), 10},
		{"Q-in-Q: the outer tag counts", eth(groupMAC(group4), macA, 0x0800, ipv4(src4, group4, 17, 64, nil, udp), [2]uint16{0x88a8, 20}, [2]uint16{0x8100, 30}), 20},
		{"priority tag: VLAN 0", eth(macB, macA, 0x0800, ipv4(src4, uni4, 6, 64, nil, make([]byte, 20)), [2]uint16{0x8100, 0xa000}), 0},
	}
	loadOnLo(t, 64, 0, func(d *fastpath.Datapath, _ []*testenv.Host) {
		for i, c := range cases {
			k := engineKey(t, c.frame)
			if k.VLAN != c.vlan {
				t.Fatalf("%s: the engine sees VLAN %d, the case says %d", c.name, k.VLAN, c.vlan)
			}
			if got := run(t, d, c.frame); got != fastpath.TCXNext {
				t.Errorf("%s, no entry: verdict %d, want a miss", c.name, int32(got))
			}
			reason := uint8(100 + i)
			if err := d.Install(k, fastpath.FlowAction{Verdict: fastpath.Drop, Reason: reason}); err != nil {
				t.Fatal(err)
			}
			if got := run(t, d, c.frame); got != fastpath.TCXDrop {
				t.Errorf("%s: verdict %d, want a hit (drop)", c.name, int32(got))
			}
			if n := counters(t, d).Drops[reason]; n != 1 {
				t.Errorf("%s: %d drops counted under its reason, want 1", c.name, n)
			}
			if s, ok, err := d.FlowStats(k); err != nil || !ok || s.Hits != 1 || s.Stale {
				t.Errorf("%s: flow stats %+v %v %v, want 1 hit", c.name, s, ok, err)
			}
			// Unicast keys ignore L3: the next case may share this one.
			if err := d.Delete(k); err != nil {
				t.Fatal(err)
			}
		}
		s := counters(t, d).Ports[0]
		if s.Misses != uint64(len(cases)) || s.Frames != uint64(len(cases)) {
			t.Errorf("port counters %+v, want %d misses and %d frames in the kernel", s, len(cases), len(cases))
		}
	})
}

func run(t *testing.T, d *fastpath.Datapath, frame []byte) uint32 {
	t.Helper()
	got, err := d.RunIngress(frame)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestProgramTTLRange: the guard's TTL limit depends on the packet, so an
// entry holds the range its decision was made for and a packet outside
// goes to the engine.
func TestProgramTTLRange(t *testing.T) {
	frame := func(ttl uint8) []byte {
		return eth(groupMAC(group4), macA, 0x0800, ipv4(src4, group4, 17, ttl, nil, udp))
	}
	frame6 := func(hops uint8) []byte { return eth(groupMAC(group6), macA, 0x86dd, ipv6(src6, group6, 17, hops, udp)) }
	loadOnLo(t, 64, 0, func(d *fastpath.Datapath, _ []*testenv.Host) {
		a := fastpath.FlowAction{Verdict: fastpath.Drop, Reason: testReason, TTLMin: 2, TTLMax: 5}
		for _, k := range []fastpath.FlowKey{engineKey(t, frame(1)), engineKey(t, frame6(1))} {
			if err := d.Install(k, a); err != nil {
				t.Fatal(err)
			}
		}
		for ttl, want := range map[uint8]uint32{1: fastpath.TCXNext, 2: fastpath.TCXDrop, 5: fastpath.TCXDrop, 6: fastpath.TCXNext, 255: fastpath.TCXNext} {
			if got := run(t, d, frame(ttl)); got != want {
				t.Errorf("TTL %d: verdict %d, want %d", ttl, int32(got), int32(want))
			}
			if got := run(t, d, frame6(ttl)); got != want {
				t.Errorf("hop limit %d: verdict %d, want %d", ttl, int32(got), int32(want))
			}
		}
		if err := d.Install(engineKey(t, eth(macB, macA, 0x0800, nil)), a); err == nil {
			t.Error("a TTL range on a unicast flow was accepted")
		}
	})
}

// TestProgramGeneration: Invalidate makes every entry a miss at once;
// a decision offered with an old generation is not installed.
func TestProgramGeneration(t *testing.T) {
	f1 := eth(macB, macA, 0x0800, ipv4(src4, uni4, 17, 64, nil, udp))
	f2 := eth(groupMAC(group4), macA, 0x0800, ipv4(src4, group4, 17, 64, nil, udp))
	drop := fastpath.FlowAction{Verdict: fastpath.Drop, Reason: testReason}
	loadOnLo(t, 64, 0, func(d *fastpath.Datapath, _ []*testenv.Host) {
		old := d.Generation()
		for _, f := range [][]byte{f1, f2} {
			if err := d.Install(engineKey(t, f), drop); err != nil {
				t.Fatal(err)
			}
			if got := run(t, d, f); got != fastpath.TCXDrop {
				t.Fatalf("verdict %d before Invalidate, want a hit", int32(got))
			}
		}
		if err := d.Invalidate(); err != nil {
			t.Fatal(err)
		}
		for _, f := range [][]byte{f1, f2} {
			if got := run(t, d, f); got != fastpath.TCXNext {
				t.Errorf("verdict %d after Invalidate, want a miss", int32(got))
			}
			if s, ok, _ := d.FlowStats(engineKey(t, f)); !ok || !s.Stale {
				t.Errorf("flow stats %+v after Invalidate, want stale", s)
			}
		}
		// A decision made before the invalidation arrives after it.
		if err := d.InstallAt(old, engineKey(t, f1), drop); err != nil {
			t.Fatal(err)
		}
		if got := run(t, d, f1); got != fastpath.TCXNext {
			t.Errorf("verdict %d for a decision of the old generation, want a miss", int32(got))
		}
		if n, err := d.Sweep(0); err != nil || n != 2 {
			t.Errorf("Sweep removed %d (%v), want the 2 stale entries", n, err)
		}
		if err := d.Install(engineKey(t, f1), drop); err != nil {
			t.Fatal(err)
		}
		if got := run(t, d, f1); got != fastpath.TCXDrop {
			t.Errorf("verdict %d after a new install, want a hit", int32(got))
		}
	})
}

// TestProgramTableFull: a full table refuses new flows with ErrFull; their
// frames keep going to the ring, and the installed ones still hit.
func TestProgramTableFull(t *testing.T) {
	const size = 8
	frame := func(i int) []byte {
		return eth(fdb.MAC{2, 0, 0, 0, 1, byte(i)}, macA, 0x0800, ipv4(src4, uni4, 17, 64, nil, udp))
	}
	drop := fastpath.FlowAction{Verdict: fastpath.Drop, Reason: testReason}
	loadOnLo(t, size, 0, func(d *fastpath.Datapath, _ []*testenv.Host) {
		for i := range size {
			if err := d.Install(engineKey(t, frame(i)), drop); err != nil {
				t.Fatalf("flow %d of %d: %v", i, size, err)
			}
		}
		err := d.Install(engineKey(t, frame(size)), drop)
		if !errors.Is(err, fastpath.ErrFull) {
			t.Fatalf("install into a full table: %v, want ErrFull", err)
		}
		if got := run(t, d, frame(size)); got != fastpath.TCXNext {
			t.Errorf("the flow that did not fit: verdict %d, want the ring", int32(got))
		}
		if got := run(t, d, frame(0)); got != fastpath.TCXDrop {
			t.Errorf("an installed flow: verdict %d, want a hit", int32(got))
		}
		// Overwriting an installed flow needs no room.
		if err := d.Install(engineKey(t, frame(0)), fastpath.FlowAction{Verdict: fastpath.Punt}); err != nil {
			t.Errorf("rewrite in a full table: %v", err)
		}
		if got := run(t, d, frame(0)); got != fastpath.TCXNext {
			t.Errorf("a punt entry: verdict %d, want the ring", int32(got))
		}
		if p := counters(t, d).Ports[0]; p.Punts != 1 || p.Misses != 1 {
			t.Errorf("port counters %+v, want 1 punt and 1 miss", p)
		}
	})
}

// TestProgramForward: one output is a redirect; a fan-out clones to all
// but the last output, and counts every port it sent to.
func TestProgramForward(t *testing.T) {
	f := eth(groupMAC(group4), macA, 0x0800, ipv4(src4, group4, 17, 64, nil, udp))
	loadOnLo(t, 64, 3, func(d *fastpath.Datapath, hosts []*testenv.Host) {
		k := engineKey(t, f)
		var one, three fdb.PortSet
		one.Add(2)
		three.Add(0) // the ingress port: skipped
		three.Add(1)
		three.Add(2)
		three.Add(3)
		if err := d.Install(k, fastpath.FlowAction{Verdict: fastpath.Forward, Out: one}); err != nil {
			t.Fatal(err)
		}
		if got := run(t, d, f); got != fastpath.TCXRedirect {
			t.Errorf("one output: verdict %d, want redirect", int32(got))
		}
		if err := d.Install(k, fastpath.FlowAction{Verdict: fastpath.Forward, Out: three}); err != nil {
			t.Fatal(err)
		}
		if got := run(t, d, f); got != fastpath.TCXRedirect {
			t.Errorf("three outputs: verdict %d, want redirect (of the last)", int32(got))
		}
		s := counters(t, d)
		for port, want := range []uint64{0, 1, 2, 1} {
			if got := s.Ports[port].TxFrames; got != want || s.Ports[port].TxErrors != 0 {
				t.Errorf("port %d: %d frames sent (%d errors), want %d", port, got, s.Ports[port].TxErrors, want)
			}
		}
		if s.Ports[0].Frames != 2 || s.Ports[0].Bytes != 2*uint64(len(f)) {
			t.Errorf("ingress counters %+v, want 2 frames of %d bytes", s.Ports[0], len(f))
		}
		// The clones really left: hosts a and b (ports 1, 2) got one each.
		// The redirect of a test run is not carried out.
		if err := waitRx(hosts[0], 1); err != nil {
			t.Error(err)
		}
	})
}

// TestProgramPuntsForAnOutputNotAttached: an entry with an output port the
// fast path is not attached to (a port the engine added but the fast path
// was not, or lost on a re-attach) sends the frame to the ring, where the
// engine forwards it to every output, instead of forwarding it to fewer
// ports than the engine decided.
func TestProgramPuntsForAnOutputNotAttached(t *testing.T) {
	f := eth(groupMAC(group4), macA, 0x0800, ipv4(src4, group4, 17, 64, nil, udp))
	loadOnLo(t, 64, 1, func(d *fastpath.Datapath, hosts []*testenv.Host) {
		k := engineKey(t, f)
		var out fdb.PortSet
		out.Add(1) // host a's port, attached
		out.Add(5) // attached to nothing
		if err := d.Install(k, fastpath.FlowAction{Verdict: fastpath.Forward, Out: out}); err != nil {
			t.Fatal(err)
		}
		if got := run(t, d, f); got != fastpath.TCXNext {
			t.Errorf("an output not attached: verdict %d, want the ring", int32(got))
		}
		s := counters(t, d)
		if p := s.Ports[0]; p.Punts != 1 || p.Frames != 0 || s.Ports[1].TxFrames != 0 {
			t.Errorf("ingress counters %+v, port 1 sent %d: want 1 punt, nothing forwarded", p, s.Ports[1].TxFrames)
		}
		if st, ok, err := d.FlowStats(k); err != nil || !ok || st.Hits != 0 {
			t.Errorf("flow stats %+v %v %v, want no hit", st, ok, err)
		}
		out.Remove(5)
		if err := d.Install(k, fastpath.FlowAction{Verdict: fastpath.Forward, Out: out}); err != nil {
			t.Fatal(err)
		}
		if got := run(t, d, f); got != fastpath.TCXRedirect {
			t.Errorf("every output attached: verdict %d, want redirect", int32(got))
		}
	})
}

// TestProgramFollowsTheFilter: with the ring's socket filter attached, the
// filter looks a frame up and tc ingress, which runs next on the same CPU,
// carries its decision out without a lookup of its own: the frame is
// counted once, and the decision stands for that frame even if the entry
// goes in between (it arrived before the change); the next frame is
// looked up again.
func TestProgramFollowsTheFilter(t *testing.T) {
	f := eth(macB, macA, 0x0800, ipv4(src4, uni4, 17, 64, nil, udp))
	f6 := eth(groupMAC(group6), macA, 0x86dd, ipv6(src6, group6, 17, 64, udp))
	loadOnLo(t, 64, 2, func(d *fastpath.Datapath, hosts []*testenv.Host) {
		_, filter := d.Programs()
		var out fdb.PortSet
		out.Add(1)
		out.Add(2)
		pin(t, func() {
			for _, frame := range [][]byte{f, f6} {
				k := engineKey(t, frame)
				if err := d.Install(k, fastpath.FlowAction{Verdict: fastpath.Forward, Out: out}); err != nil {
					t.Fatal(err)
				}
				before := counters(t, d)
				if got, err := filter.Run(&ebpf.RunOptions{Data: asTapSees(frame)}); err != nil || got != 0 {
					t.Fatalf("filter on a hit: %d %v, want 0 (kept from the ring)", got, err)
				}
				if err := d.Delete(k); err != nil {
					t.Fatal(err)
				}
				if got := run(t, d, frame); got != fastpath.TCXRedirect {
					t.Errorf("tc after the filter's hit, entry deleted since: verdict %d, want the filter's decision (redirect)", int32(got))
				}
				if got := run(t, d, frame); got != fastpath.TCXNext {
					t.Errorf("tc on the next frame, no filter run: verdict %d, want a miss", int32(got))
				}
				after := counters(t, d)
				if n := after.Ports[0].Frames - before.Ports[0].Frames; n != 1 {
					t.Errorf("%d frames counted in the kernel, want 1 (the filter's, not again by tc)", n)
				}
				for p := 1; p <= 2; p++ {
					if n := after.Ports[p].TxFrames - before.Ports[p].TxFrames; n != 1 {
						t.Errorf("port %d: %d frames sent, want 1", p, n)
					}
				}
				if n := after.Ports[0].Misses - before.Ports[0].Misses; n != 1 {
					t.Errorf("%d misses, want 1", n)
				}
			}
			// A miss in the filter: tc leaves the frame to the ring even if
			// an entry appears in between.
			k := engineKey(t, f)
			if got, err := filter.Run(&ebpf.RunOptions{Data: asTapSees(f)}); err != nil || got != uint32(len(f)) {
				t.Fatalf("filter on a miss: %d %v, want %d (to the ring)", got, err, len(f))
			}
			if err := d.Install(k, fastpath.FlowAction{Verdict: fastpath.Drop, Reason: testReason}); err != nil {
				t.Fatal(err)
			}
			if got := run(t, d, f); got != fastpath.TCXNext {
				t.Errorf("tc after the filter's miss: verdict %d, want the ring", int32(got))
			}
			if got := run(t, d, f); got != fastpath.TCXDrop {
				t.Errorf("tc on the next frame: verdict %d, want the new entry's drop", int32(got))
			}
		})
		if err := waitRx(hosts[0], 1); err != nil {
			t.Error(err) // the clone to port 1 left at once
		}
	})
}

// TestFlowsAndSweepCoverBothTables: unicast and IPv4 flows live in one
// map, IPv6 flows in another; Flows lists the keys of both as installed,
// and Sweep and idle stamps work on both.
func TestFlowsAndSweepCoverBothTables(t *testing.T) {
	f6 := eth(groupMAC(group6), macA, 0x86dd, ipv6(src6, group6, 17, 64, udp))
	keys := []fastpath.FlowKey{
		switching.UnicastFlow(0, 10, macA, macB),
		switching.MulticastFlow(0, 20, macA, group4, src4),
		engineKey(t, f6),
	}
	loadOnLo(t, 64, 0, func(d *fastpath.Datapath, _ []*testenv.Host) {
		for _, k := range keys {
			if err := d.Install(k, fastpath.FlowAction{Verdict: fastpath.Drop, Reason: testReason}); err != nil {
				t.Fatal(err)
			}
		}
		if got := run(t, d, f6); got != fastpath.TCXDrop {
			t.Fatalf("IPv6 flow: verdict %d, want a hit", int32(got))
		}
		seen := make(map[fastpath.FlowKey]fastpath.FlowStats)
		if err := d.Flows(func(k fastpath.FlowKey, s fastpath.FlowStats) bool { seen[k] = s; return true }); err != nil {
			t.Fatal(err)
		}
		if len(seen) != len(keys) {
			t.Errorf("Flows listed %d entries, want %d: %v", len(seen), len(keys), seen)
		}
		for _, k := range keys {
			if _, ok := seen[k]; !ok {
				t.Errorf("Flows did not list %s", k)
			}
		}
		if s := seen[keys[2]]; s.Hits != 1 || s.Idle > time.Minute {
			t.Errorf("IPv6 flow stats %+v, want 1 hit a moment ago", s)
		}
		if err := d.Invalidate(); err != nil {
			t.Fatal(err)
		}
		if n, err := d.Sweep(0); err != nil || n != len(keys) {
			t.Errorf("Sweep removed %d (%v), want all %d stale entries", n, err, len(keys))
		}
		n := 0
		if err := d.Flows(func(fastpath.FlowKey, fastpath.FlowStats) bool { n++; return true }); err != nil || n != 0 {
			t.Errorf("Flows lists %d entries after the sweep (%v), want none", n, err)
		}
	})
}
