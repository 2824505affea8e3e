package switching_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/snoop"
	"github.com/snoopswitch/snoopswitch/switch/afpacket"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// waitUp waits until the switch reports port n up (or not).
func (l *snoopLab) waitUp(t *testing.T, n string, up bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for l.sw.Engine.Stats()[l.port(n)].Up != up {
		if time.Now().After(deadline) {
			t.Fatalf("port of %s not up=%v after 5s", n, up)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLinkRecreatedIsReattached: a port's interface is deleted and created
// again under the same name (a VM's tap after a restart). The switch
// forgets the port's memberships, re-attaches the new interface under the
// same port, queries its hosts, and forwards to it again.
func TestLinkRecreatedIsReattached(t *testing.T) {
	l := newSnoopLab(t, snoop.Config{}, "src", "member", "other")
	group := netip.MustParseAddr("239.5.5.5")
	m := l.hosts["member"]
	if _, err := m.Join(group); err != nil {
		t.Fatal(err)
	}
	l.waitGroup(t, group, l.port("member"))

	if err := l.Replug(m); err != nil {
		t.Fatal(err)
	}
	l.waitUp(t, "member", true)
	// The old interface's membership went with it; the host joins again on
	// the new one and must be heard through the re-attached port.
	if _, err := m.Join(group); err != nil {
		t.Fatal(err)
	}
	l.waitGroup(t, group, l.port("member"))
	caps := l.captures(t, "member", "other")
	l.stream(t, "src", group, 4000, 50, time.Millisecond)
	expectCounts(t, caps, udpTo(group, 4000), map[string]int{"member": 50, "other": 0})
	if r, err := m.Ping(l.hosts["src"].IPv4.Addr(), 3, 10*time.Millisecond, time.Second); err != nil || r.Received != 3 {
		t.Errorf("ping through the re-attached port: %+v, %v", r, err)
	}
}

// TestLinkDownFlushesAndUpRequeries: a port whose link goes down loses its
// memberships (counted); when it comes back, the switch queries it at once,
// its host re-reports, and the group's traffic reaches it again. The query
// interval is long, so only the query for the port coming up can bring the
// report within the test.
func TestLinkDownFlushesAndUpRequeries(t *testing.T) {
	timers := snoop.Timers{Robustness: 2, QueryInterval: 125 * time.Second, QueryResponseInterval: time.Second,
		LastMemberInterval: 300 * time.Millisecond, LastMemberCount: 2}
	l := newSnoopLab(t, snoop.Config{Membership: snoop.MembershipConfig{Timers: timers}}, "src", "member", "other")
	group := netip.MustParseAddr("239.5.5.6")
	m, port := l.hosts["member"], l.port("member")
	if _, err := m.Join(group); err != nil {
		t.Fatal(err)
	}
	l.waitGroup(t, group, port)
	// Let the kernel's second unsolicited report (within 1s of the join,
	// igmpv3_unsolicited_report_interval) go out, so it cannot be what
	// re-registers the group after the link comes back.
	time.Sleep(1100 * time.Millisecond)
	held := 0 // the group, and the solicited-node group of the host's IPv6 address
	for _, g := range l.sw.Engine.Snooper().Groups().Groups() {
		if _, ok := g.Ports[port]; ok {
			held++
		}
	}

	if err := l.SwitchNS().SetLinkUp(m.SwitchPort, false); err != nil {
		t.Fatal(err)
	}
	l.waitUp(t, "member", false)
	if _, ok := l.sw.Engine.Snooper().Groups().Get(0, group, port); ok {
		t.Error("the membership of a port whose link went down was kept")
	}
	ev := l.sw.Engine.Stats()[port].Events
	if ev["link-down-memberships"] != uint64(held) || ev["link-down-macs"] == 0 {
		t.Errorf("link down counted %d memberships and %d MACs flushed, want %d and at least 1", ev["link-down-memberships"], ev["link-down-macs"], held)
	}

	start := time.Now()
	if err := l.SwitchNS().SetLinkUp(m.SwitchPort, true); err != nil {
		t.Fatal(err)
	}
	l.waitUp(t, "member", true)
	l.waitGroup(t, group, port)
	t.Logf("the host re-reported %v after its link came up", time.Since(start).Round(time.Millisecond))
	caps := l.captures(t, "member", "other")
	l.stream(t, "src", group, 4000, 50, time.Millisecond)
	expectCounts(t, caps, udpTo(group, 4000), map[string]int{"member": 50, "other": 0})
}

// TestPortsAddedAndRemovedWhileRunning: a port added to a running switch
// forwards; a removed one gets nothing, forgets what it learned, and
// others do not lose a datagram while it happens.
func TestPortsAddedAndRemovedWhileRunning(t *testing.T) {
	l := newSnoopLab(t, snoop.Config{}, "src", "member")
	late, err := l.AddHost("late", testenv.HostOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l.hosts["late"] = late
	var p *afpacket.Port
	err = l.SwitchNS().Do(func() error {
		var err error
		p, err = afpacket.Open(late.SwitchPort, afpacket.Config{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	id, err := l.sw.Engine.AddPort(p)
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	if id != l.port("late") {
		t.Fatalf("the new port got ID %d, want %d", id, l.port("late"))
	}
	group := netip.MustParseAddr("239.6.6.6")
	for _, n := range []string{"member", "late"} {
		if _, err := l.hosts[n].Join(group); err != nil {
			t.Fatal(err)
		}
		l.waitGroup(t, group, l.port(n))
	}
	caps := l.captures(t, "member", "late")
	l.stream(t, "src", group, 4000, 50, time.Millisecond)
	expectCounts(t, caps, udpTo(group, 4000), map[string]int{"member": 50, "late": 50})

	// Remove it while a stream runs to the other member.
	caps = l.captures(t, "member", "late")
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(20 * time.Millisecond)
		if err := l.sw.Engine.RemovePort(id); err != nil {
			t.Error(err)
		}
	}()
	l.stream(t, "src", group, 4001, 200, time.Millisecond)
	<-done
	expectCounts(t, caps, udpTo(group, 4001), map[string]int{"member": 200})
	if n := caps["late"].Count(udpTo(group, 4001)); n >= 200 {
		t.Errorf("the removed port received %d of 200 datagrams", n)
	}
	if _, ok := l.sw.Engine.Snooper().Groups().Get(0, group, id); ok {
		t.Error("the removed port kept its membership")
	}
	st := l.sw.Engine.Stats()[id]
	if !st.Removed || st.Up {
		t.Errorf("removed port's stats: removed %v up %v", st.Removed, st.Up)
	}
	caps = l.captures(t, "late")
	l.stream(t, "src", group, 4002, 20, time.Millisecond)
	expectCounts(t, caps, udpTo(group, 4002), map[string]int{"late": 0})
	// The removed port's sockets are closed: the interface leaves
	// promiscuous mode.
	deadline := time.Now().Add(2 * time.Second)
	for {
		link, err := l.SwitchNS().Handle().LinkByName(late.SwitchPort)
		if err != nil {
			t.Fatal(err)
		}
		if link.Attrs().Promisc == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is still promiscuous (%d) 2s after its port was removed", late.SwitchPort, link.Attrs().Promisc)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
