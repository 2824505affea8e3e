package switching_test

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

// offlineSwitch is an Offline engine with snooping (its own querier on,
// timers zero for the defaults) and three memory ports: a is a static
// router port, b and c host ports.
func offlineSwitch(t *testing.T, start time.Time, timers snoop.Timers) (*switching.Offline, []*memPort) {
	t.Helper()
	var routers fdb.PortSet
	routers.Add(0)
	sc := &snoop.Config{StaticRouterPorts: routers, Membership: snoop.MembershipConfig{Timers: timers}}
	o, err := switching.NewOffline(switching.Config{MAC: mac(0xee), Snooping: sc}, start)
	if err != nil {
		t.Fatal(err)
	}
	ports := []*memPort{{name: "a"}, {name: "b"}, {name: "c"}}
	for _, p := range ports {
		if _, err := o.AddPort(p); err != nil {
			t.Fatal(err)
		}
	}
	return o, ports
}

func handle(t *testing.T, o *switching.Offline, in fdb.PortID, at time.Time, b []byte) {
	t.Helper()
	if err := o.Handle(in, at, []switching.Packet{{Data: b, Len: len(b)}}); err != nil {
		t.Fatal(err)
	}
}

func TestOfflineTimersRunOnTheFramesClock(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	o, ports := offlineSwitch(t, t0, snoop.Timers{})
	group := netip.MustParseAddr("239.1.1.1")
	hostB := netip.MustParseAddr("198.18.0.2")
	ra := []byte{0x94, 4, 0, 0}
	report := mcBenchIPv4Frame(mac(2), hostB, group, 1, 2, 0xc0, ra, igmpV12(0x16, group))
	leave := mcBenchIPv4Frame(mac(2), hostB, netip.MustParseAddr("224.0.0.2"), 1, 2, 0xc0, ra, igmpV12(0x17, group))
	data := mcBenchUDPFrame(group)
	members := func() int {
		ps, _ := o.Engine().Snooper().Groups().Lookup(0, group, netip.Addr{})
		return ps.Len()
	}

	// The switch's first tick, 100 ms after it starts, sends its startup
	// general queries (IGMP and MLD) out of every port.
	o.Advance(t0.Add(99 * time.Millisecond))
	if got := o.QueriesSent(1); got != 0 {
		t.Errorf("queries out of b before the first tick = %d, want 0", got)
	}
	o.Advance(t0.Add(100 * time.Millisecond))
	if got := o.QueriesSent(1); got != 2 {
		t.Errorf("queries out of b after the first tick = %d, want 2", got)
	}

	handle(t, o, 1, t0.Add(time.Second), report)
	if members() != 1 {
		t.Fatalf("after b's report, %d ports are members of %v, want 1", members(), group)
	}
	before := len(ports[1].sent)
	handle(t, o, 2, t0.Add(20*time.Second), data) // past learning: snooped
	if got := len(ports[1].sent) - before; got != 1 {
		t.Errorf("data to %v reached b %d times, want 1", group, got)
	}

	// A leave: the switch, the querier, sends last member queries out of b
	// (2, 1 s apart), and the membership ends after the last member query
	// time (2 s), on the frames' clock.
	leaveAt := t0.Add(40 * time.Second) // clear of the second startup query, at 31.35 s
	handle(t, o, 1, leaveAt, leave)
	q := o.QueriesSent(1)
	o.Advance(leaveAt.Add(1900 * time.Millisecond))
	if members() != 1 {
		t.Errorf("membership ended %v after the leave, before the last member query time", 1900*time.Millisecond)
	}
	if got := o.QueriesSent(1) - q; got != 2 {
		t.Errorf("last member queries out of b = %d, want 2", got)
	}
	o.Advance(leaveAt.Add(2200 * time.Millisecond))
	if members() != 0 {
		t.Errorf("membership still there 2.2 s after the leave")
	}
	if o.Now() != leaveAt.Add(2200*time.Millisecond) {
		t.Errorf("Now = %v after Advance, want the last tick's time %v", o.Now(), leaveAt.Add(2200*time.Millisecond))
	}
}

// Skipping idle ticks must change nothing: the same queries go out as when
// every 100 ms tick runs.
func TestOfflineSkipsIdleTicksWithoutChangingTheOutcome(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	group := netip.MustParseAddr("239.1.1.1")
	report := mcBenchIPv4Frame(mac(2), netip.MustParseAddr("198.18.0.2"), group, 1, 2, 0xc0, []byte{0x94, 4, 0, 0}, igmpV12(0x16, group))
	// Short timers keep the run with every tick short: a 10 s query
	// interval, a 22 s group membership interval.
	timers := snoop.Timers{QueryInterval: 10 * time.Second, QueryResponseInterval: 2 * time.Second}
	end := t0.Add(time.Minute)

	run := func(step time.Duration) ([]*memPort, *switching.Offline) {
		o, ports := offlineSwitch(t, t0, timers)
		handle(t, o, 1, t0.Add(5*time.Second), report)
		for at := t0; at.Before(end); at = at.Add(step) {
			o.Advance(at)
		}
		o.Advance(end)
		return ports, o
	}
	every, oe := run(100 * time.Millisecond)
	skipping, sk := run(time.Minute)
	for i := range every {
		if oe.QueriesSent(fdb.PortID(i)) != sk.QueriesSent(fdb.PortID(i)) || len(every[i].sent) != len(skipping[i].sent) {
			t.Errorf("port %s: %d queries, %d frames with every tick; %d and %d skipping idle ticks", every[i].name,
				oe.QueriesSent(fdb.PortID(i)), len(every[i].sent), sk.QueriesSent(fdb.PortID(i)), len(skipping[i].sent))
			continue
		}
		for j := range every[i].sent {
			if !bytes.Equal(every[i].sent[j].Data, skipping[i].sent[j].Data) {
				t.Errorf("port %s: frame %d differs between every tick and skipping", every[i].name, j)
			}
		}
	}
	if sk.Ticks() > oe.Ticks()/10 {
		t.Errorf("the control plane ran %d times skipping idle ticks, %d without: skipping saved little", sk.Ticks(), oe.Ticks())
	}
	// Startup queries at 0.1 s and 2.6 s, then one every 10 s (at 12.6,
	// ..., 52.6 s): 7 in a minute, for IGMP and for MLD.
	if got := oe.QueriesSent(1); got != 14 {
		t.Errorf("queries out of b in a minute = %d, want 14", got)
	}
	if n := oe.Engine().Snooper().Groups().Len(); n != 0 {
		t.Errorf("groups a minute after the only report = %d, want 0 (membership timed out)", n)
	}
}

func TestOfflineRefusesRunAndUnknownPorts(t *testing.T) {
	o, _ := offlineSwitch(t, time.Unix(0, 0), snoop.Timers{})
	if err := o.Engine().Run(t.Context()); err == nil {
		t.Error("Run on an Offline engine succeeded")
	}
	if err := o.Handle(7, time.Unix(1, 0), []switching.Packet{pkt(frame(bcast, mac(1), 0x0806))}); err == nil {
		t.Error("Handle for a port never added succeeded")
	}
}

// The first tick runs 100 ms after the start, as the live loop's does,
// even when no frame before it changed anything: it sends the querier's
// startup queries, and its learning window starts with them.
func TestOfflineRunsTheFirstTick(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	o, _ := offlineSwitch(t, t0, snoop.Timers{})
	o.Advance(t0.Add(5 * time.Second))
	if got := o.QueriesSent(1); got != 2 {
		t.Errorf("queries out of b in the first 5 s = %d, want the 2 startup queries", got)
	}
	for _, st := range o.Engine().Snooper().Querier().Status(o.Now()) {
		// The second startup query comes a quarter of the query interval
		// (125 s) after the first, at 0.1 s.
		if want := 31350*time.Millisecond - 5*time.Second; st.NextQueryIn != want {
			t.Errorf("family %d: next query in %v, want %v (the first went out at 0.1 s)", st.Family, st.NextQueryIn, want)
		}
		if st.Unregistered != snoop.UnregisteredLearning || st.LearningLeft != 10600*time.Millisecond-5*time.Second {
			t.Errorf("family %d: %v, %v left; want learning until 10.6 s", st.Family, st.Unregistered, st.LearningLeft)
		}
	}
}
