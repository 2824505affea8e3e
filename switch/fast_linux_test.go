package switching_test

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// The tests of the fast datapath: the kernel fast path in front of the
// rings (testenv.SwitchConfig.Datapath "fast"). The suites of the other
// files run on it too: on the default datapath, auto, which is fast where
// the fast path loads (make test; make test-fast insists on it), and again
// with SNOOPSWITCH_DATAPATH=ring (make test-ring).

// newFastLab is a lab of named hosts on a switch on datapath d (ring or
// fast) with engine configuration cfg.
func newFastLab(t *testing.T, d string, cfg switching.Config, names ...string) *snoopLab {
	t.Helper()
	l := &snoopLab{Lab: testenv.New(t), hosts: make(map[string]*testenv.Host)}
	for _, n := range names {
		h, err := l.AddHost(n, testenv.HostOptions{})
		if err != nil {
			t.Fatal(err)
		}
		l.hosts[n] = h
	}
	if cfg.Snooping != nil && cfg.Snooping.Membership.Timers == (snoop.Timers{}) {
		cfg.Snooping.Membership.Timers = shortTimers()
	}
	l.sw = testenv.StartSwitch(t, l.Lab, testenv.SwitchConfig{Engine: cfg, Datapath: d})
	return l
}

// rxFrames returns what port received: all frames, and those the kernel
// forwarded without the engine.
func (l *snoopLab) rxFrames(t *testing.T, port fdb.PortID) (all, kernel uint64) {
	t.Helper()
	s := l.sw.Engine.Stats()[port]
	if s.FlowCache == nil {
		t.Fatalf("port %d has no flow cache counters: not on the fast datapath", port)
	}
	return s.RxFrames, s.FlowCache.RxFrames
}

// TestFastPingAndTCP: hosts ping each other and run a TCP stream through
// the fast datapath, and most of the stream's frames (GSO super-frames
// whole) cross in the kernel, not through the rings.
func TestFastPingAndTCP(t *testing.T) {
	l := newFastLab(t, "fast", switching.Config{}, "a", "b")
	a, b := l.hosts["a"], l.hosts["b"]
	for _, p := range [][2]*testenv.Host{{a, b}, {b, a}} {
		r, err := p[0].Ping(p[1].IPv4.Addr(), 20, 5*time.Millisecond, time.Second)
		if err != nil || r.Received != r.Sent {
			t.Fatalf("%s ping %s: %d of %d replies (%v)", p[0].Name, p[1].Name, r.Received, r.Sent, err)
		}
		t.Logf("%s ping %s: RTT p50 %v", p[0].Name, p[1].Name, r.Percentile(50))
	}
	allA, kernA := l.rxFrames(t, l.port("a"))
	allB, kernB := l.rxFrames(t, l.port("b"))
	gbps, err := testenv.TCPThroughput(a, b, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	allA2, kernA2 := l.rxFrames(t, l.port("a"))
	allB2, kernB2 := l.rxFrames(t, l.port("b"))
	all, kern := allA2-allA+allB2-allB, kernA2-kernA+kernB2-kernB
	t.Logf("TCP through the fast datapath: %.2f Gbit/s; %d of %d frames forwarded in the kernel", gbps, kern, all)
	if gbps < 1 {
		t.Errorf("%.2f Gbit/s, want at least 1", gbps)
	}
	if kern*10 < all*9 {
		t.Errorf("the kernel forwarded %d of the stream's %d frames, want at least 90%%", kern, all)
	}
}

// TestFastMulticastToMembersOnly: multicast data crosses in the kernel to
// the members of its group only, by group and not by MAC (224.1.1.1 and
// 225.1.1.1 share 01:00:5e:01:01:01).
func TestFastMulticastToMembersOnly(t *testing.T) {
	l := newFastLab(t, "fast", switching.Config{Snooping: &snoop.Config{}}, "src", "m1", "m2", "other")
	ga, gb := netip.MustParseAddr("224.1.1.1"), netip.MustParseAddr("225.1.1.1")
	for _, j := range []struct {
		host  string
		group netip.Addr
	}{{"m1", ga}, {"m2", ga}, {"other", gb}} {
		if _, err := l.hosts[j.host].Join(j.group); err != nil {
			t.Fatal(err)
		}
		l.waitGroup(t, j.group, l.port(j.host))
	}
	caps := l.captures(t, "m1", "m2", "other")
	_, kern := l.rxFrames(t, l.port("src"))
	const n = 300
	l.stream(t, "src", ga, 6100, n, time.Millisecond)
	expectCounts(t, caps, udpTo(ga, 6100), map[string]int{"m1": n, "m2": n, "other": 0})
	l.stream(t, "src", gb, 6100, n, time.Millisecond)
	expectCounts(t, caps, udpTo(gb, 6100), map[string]int{"m1": 0, "m2": 0, "other": n})
	_, kern2 := l.rxFrames(t, l.port("src"))
	t.Logf("%d of the %d datagrams forwarded in the kernel", kern2-kern, 2*n)
	if kern2-kern < 2*n*8/10 {
		t.Errorf("the kernel forwarded %d of the %d datagrams, want most", kern2-kern, 2*n)
	}
}

// TestFastRuntimeACLRevokes: a runtime rule (Engine.UpdatePolicies, as
// `snoopswitch rule add --acl` makes) that denies a group a member is
// receiving in the kernel stops the stream at once: no datagram sent
// after the call returned reaches the member.
func TestFastRuntimeACLRevokes(t *testing.T) {
	policies := []guard.PortPolicy{guard.HostPortDefaults(), guard.HostPortDefaults()}
	l := newFastLab(t, "fast", switching.Config{Snooping: &snoop.Config{}, Guard: policies}, "src", "rx")
	group := netip.MustParseAddr("239.1.2.3")
	if _, err := l.hosts["rx"].Join(group); err != nil {
		t.Fatal(err)
	}
	l.waitGroup(t, group, l.port("rx"))
	rx, err := l.hosts["rx"].Capture()
	if err != nil {
		t.Fatal(err)
	}
	isStream := func(f []byte) bool { _, ok := timingSeq(group, f); return ok }
	stream := startTimingStream(l.hosts["src"], group)
	defer stream.end()
	if !rx.WaitFor(isStream, 200, 2*time.Second) {
		t.Fatalf("the member received %d datagrams of the stream before the rule", rx.Count(isStream))
	}
	_, kern := l.rxFrames(t, l.port("src"))
	if kern == 0 {
		t.Fatal("the kernel forwarded none of the stream: the rule would not be tested on the fast path")
	}
	_, revoked, err := l.sw.Engine.UpdatePolicies(func(ps []guard.PortPolicy) (bool, error) {
		p := &ps[l.port("rx")]
		p.ACL = append([]guard.Rule{{Permit: false, Groups: netip.PrefixFrom(group, 32)}}, p.ACL...)
		return true, nil
	})
	// The first datagram sent after the rule: count() is the number of
	// sends that returned, and the one numbered count() may have entered
	// the kernel before UpdatePolicies returned (on the fast path the
	// whole forwarding runs inside the sender's sendto).
	after := stream.count() + 1
	if err != nil || revoked != 1 {
		t.Fatalf("UpdatePolicies: %d memberships revoked (%v), want 1", revoked, err)
	}
	time.Sleep(300 * time.Millisecond)
	sent, _, _ := stream.end()
	time.Sleep(100 * time.Millisecond)
	var late int
	for _, seq := range timingSeqs(rx, group, after) {
		if seq >= after {
			late++
		}
	}
	t.Logf("rule applied after datagram %d of %d; the kernel had forwarded %d", after, len(sent), kern)
	if late > 0 {
		t.Errorf("%d datagrams sent after the rule was applied reached the member", late)
	}
}

// TestFastMACMoveRelearns: frames to an address forwarded in the kernel
// follow the address at once when it moves to another port.
func TestFastMACMoveRelearns(t *testing.T) {
	l := newFastLab(t, "fast", switching.Config{}, "a", "b", "c")
	a, b, c := l.hosts["a"], l.hosts["b"], l.hosts["c"]
	x := net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x77, 0x77}
	frame := func(dst, src net.HardwareAddr, marker byte) []byte {
		f := make([]byte, 60)
		copy(f[0:6], dst)
		copy(f[6:12], src)
		binary.BigEndian.PutUint16(f[12:14], 0x88b5)
		f[14] = marker
		return f
	}
	marked := func(m byte) func([]byte) bool {
		return func(f []byte) bool { return len(f) >= 15 && binary.BigEndian.Uint16(f[12:14]) == 0x88b5 && f[14] == m }
	}
	learnedOn := func(h *testenv.Host, port fdb.PortID) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if p, ok := l.sw.Engine.MACTable().Lookup(0, fdb.MAC(x), time.Now()); ok && p == port {
				return
			}
		}
		t.Fatalf("%s not learned on %s's port", x, h.Name)
	}
	capB, err := b.Capture()
	if err != nil {
		t.Fatal(err)
	}
	capC, err := c.Capture()
	if err != nil {
		t.Fatal(err)
	}
	send := func(from *testenv.Host, f []byte, n int) {
		t.Helper()
		for range n {
			if err := from.SendFrame(f); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond)
		}
	}
	send(b, frame(a.MAC, x, 0), 1) // x speaks from b's port
	learnedOn(b, l.port("b"))
	_, kern := l.rxFrames(t, l.port("a"))
	send(a, frame(x, a.MAC, 1), 50)
	if !capB.WaitFor(marked(1), 50, 2*time.Second) {
		t.Fatalf("b received %d of 50 frames to x", capB.Count(marked(1)))
	}
	if _, k := l.rxFrames(t, l.port("a")); k == kern {
		t.Fatal("the kernel forwarded none of the frames to x")
	}
	send(c, frame(a.MAC, x, 0), 1) // x moves to c's port
	learnedOn(c, l.port("c"))
	send(a, frame(x, a.MAC, 2), 50)
	if !capC.WaitFor(marked(2), 50, 2*time.Second) {
		t.Errorf("c received %d of the 50 frames to x after it moved there", capC.Count(marked(2)))
	}
	time.Sleep(50 * time.Millisecond)
	if n := capB.Count(marked(2)); n != 0 {
		t.Errorf("b received %d frames to x after x moved to c", n)
	}
	if n := capC.Count(marked(1)); n != 0 {
		t.Errorf("c received %d frames to x from before x moved there", n)
	}
}

// TestFastLeaveAsFastAsRing: a fast leave stops a stream the kernel
// forwards as fast as it stops one through the rings. Both are measured
// here, one after the other, as TestSnoopTimingLinux measures them: from
// the leave to the send of the last datagram the receiver got.
func TestFastLeaveAsFastAsRing(t *testing.T) {
	leave := make(map[string]time.Duration)
	for _, d := range []string{"ring", "fast"} {
		t.Run(d, func(t *testing.T) {
			var fast atomic.Bool
			fast.Store(true)
			l := newTimingLab(t, d, &fast)
			leave[d] = l.cycle(t, netip.MustParseAddr("239.1.2.5"), true)
			if d == "fast" {
				s := l.sw.Engine.Stats()[0].FlowCache
				if s == nil || s.RxFrames == 0 {
					t.Errorf("the kernel forwarded none of the stream (%+v): the leave was not measured on the fast path", s)
				} else {
					t.Logf("the kernel forwarded %d of the stream's datagrams", s.RxFrames)
				}
			}
		})
	}
	ring, fast := leave["ring"], leave["fast"]
	t.Logf("fast leave to last datagram: ring %.1f ms, fast %.1f ms", timingMS(ring), timingMS(fast))
	// The stream's spacing is a millisecond; 10 more are the jitter of
	// this shared machine's scheduling, not a stale kernel entry (which
	// would forward until the next change, seconds).
	if ring >= 0 && fast > ring+10*time.Millisecond {
		t.Errorf("a fast leave stopped the stream %.1f ms after the leave on the fast datapath, %.1f ms on the ring", timingMS(fast), timingMS(ring))
	}
}

// TestFastFlowFloodFallsBackToRing: a host sends 100 000 distinct flows
// (1000 source addresses, each to 100 addresses learned behind another
// port), more than the kernel's flow table holds (65536): the table fills,
// the decisions past it are refused, and the flows of other hosts go on
// being forwarded, through the rings.
func TestFastFlowFloodFallsBackToRing(t *testing.T) {
	l := newFastLab(t, "fast", switching.Config{MACTable: fdb.Config{PortLimit: 2000}}, "a", "b", "c", "d")
	a, b, c, d := l.hosts["a"], l.hosts["b"], l.hosts["c"], l.hosts["d"]
	mac := func(kind byte, i int) net.HardwareAddr {
		return net.HardwareAddr{0x02, kind, 0, 0, byte(i >> 8), byte(i)}
	}
	frame := func(dst, src net.HardwareAddr) []byte {
		f := make([]byte, 60)
		copy(f[0:6], dst)
		copy(f[6:12], src)
		binary.BigEndian.PutUint16(f[12:14], 0x88b5)
		return f
	}
	const srcs, dsts = 1000, 100
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	for i := range dsts {
		if err := b.SendFrame(frame(bcast, mac(0xd0, i))); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(2 * time.Second); l.sw.Engine.MACTable().PortLearned(l.port("b")) < dsts; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of the %d addresses behind b learned", l.sw.Engine.MACTable().PortLearned(l.port("b")), dsts)
		}
	}
	start := time.Now()
	var sent int
	for round := 0; round < 5 && l.sw.Fast.Installer().Full == 0; round++ {
		for s := range srcs {
			for i := range dsts {
				if err := a.SendFrame(frame(mac(0xd0, i), mac(0xa0, s))); err != nil {
					t.Fatal(err)
				}
				sent++
			}
		}
		time.Sleep(500 * time.Millisecond) // the installer catches up
	}
	st := l.sw.Fast.Installer()
	t.Logf("%d frames of %d flows sent in %v; installer: %d installed, %d refused by the full table, %d dropped from its queue, %d failed",
		sent, srcs*dsts, time.Since(start).Round(time.Millisecond), st.Applied, st.Full, st.Dropped, st.Failed)
	if st.Full == 0 {
		t.Fatal("the flow table never filled")
	}
	if st.Failed > 0 {
		t.Errorf("%d installs failed: %v", st.Failed, st.LastErr)
	}

	all, kern := l.rxFrames(t, l.port("c"))
	r, err := c.Ping(d.IPv4.Addr(), 20, 5*time.Millisecond, time.Second)
	if err != nil || r.Received != r.Sent {
		t.Fatalf("c ping d with the flow table full: %d of %d replies (%v)", r.Received, r.Sent, err)
	}
	all2, kern2 := l.rxFrames(t, l.port("c"))
	t.Logf("c ping d with the table full: %d frames from c, %d through the ring, %d in the kernel", all2-all, all2-all-(kern2-kern), kern2-kern)
	if ring := all2 - all - (kern2 - kern); ring < 20 {
		t.Errorf("%d of c's frames went through the ring, want the 20 echo requests at least (the table is full)", ring)
	}
}
