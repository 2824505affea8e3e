package switching_test

import (
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

// fakeCache is a switching.FlowCache in memory that applies offers as
// fastpath's Installer does: a decision of an older generation than the
// current one is skipped, and an entry of an older generation is stale (a
// miss).
type fakeCache struct {
	mu       sync.Mutex
	gen      uint32
	flows    map[switching.FlowKey]fakeFlow
	offers   int // decisions offered, taken or not
	refused  int // offered with an old generation
	hits     map[switching.FlowKey]time.Duration
	counters []switching.FlowCounters
	full     bool // Offer refuses everything
}

// refuseAll makes Offer refuse, as an Installer with a full queue does.
func (c *fakeCache) refuseAll(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.full = on
}

type fakeFlow struct {
	a   switching.FlowAction
	gen uint32
}

func newFakeCache() *fakeCache {
	return &fakeCache{gen: 1, flows: make(map[switching.FlowKey]fakeFlow), hits: make(map[switching.FlowKey]time.Duration)}
}

func (c *fakeCache) Generation() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *fakeCache) Offer(gen uint32, k switching.FlowKey, a switching.FlowAction) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offers++
	if c.full {
		return false
	}
	if gen != c.gen {
		c.refused++
		return true // taken, and skipped when applied, as the Installer does
	}
	c.flows[k] = fakeFlow{a: a, gen: gen}
	return true
}

func (c *fakeCache) Invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
}

func (c *fakeCache) Hits(fn func(switching.FlowKey, time.Duration)) {
	c.mu.Lock()
	hits := make(map[switching.FlowKey]time.Duration)
	for k, idle := range c.hits {
		if f, ok := c.flows[k]; ok && f.gen == c.gen {
			hits[k] = idle
		}
	}
	c.mu.Unlock()
	for k, idle := range hits {
		fn(k, idle)
	}
}

func (c *fakeCache) Counters() []switching.FlowCounters {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.counters)
}

// valid returns k's decision if the cache holds one of the current
// generation.
func (c *fakeCache) valid(k switching.FlowKey) (switching.FlowAction, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.flows[k]
	return f.a, ok && f.gen == c.gen
}

func (c *fakeCache) offered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offers
}

func ports(ids ...fdb.PortID) fdb.PortSet {
	var s fdb.PortSet
	for _, id := range ids {
		s.Add(id)
	}
	return s
}

// cachedSwitch is a testSwitch of n ports with a fake flow cache and
// snooping (fast leave everywhere, so that a leave removes a membership
// at once), and a guard if policies is not nil.
func cachedSwitch(t *testing.T, n int, mc fdb.Config, policies []guard.PortPolicy) (*testSwitch, *fakeCache) {
	t.Helper()
	c := newFakeCache()
	sc := &snoop.Config{Membership: snoop.MembershipConfig{FastLeave: func(fdb.PortID) bool { return true }}}
	return newTestSwitchWith(t, n, switching.Config{MACTable: mc, FlowCache: c, Snooping: sc, Guard: policies}), c
}

// learnHosts has host i+1 (mac(i+1)) send a broadcast on port i, for every
// port.
func (ts *testSwitch) learnHosts() {
	for i := range ts.ports {
		ts.send(i, pkt(frame(bcast, mac(byte(i+1)), 0x0806)))
	}
}

// reportFrame is an IGMPv3 report from the host behind port p with one
// record of type typ for group (RFC 3376 s4.2).
func reportFrame(p int, typ snoop.RecordType, group netip.Addr) []byte {
	return mcBenchIPv4Frame(mac(byte(p+1)), mcBenchHostIP(p), netip.MustParseAddr("224.0.0.22"), 1, 2, 0xc0,
		[]byte{0x94, 4, 0, 0}, igmpV3Report(1, typ, group))
}

// join has the host behind port p join group and applies the report.
func (ts *testSwitch) join(p int, group netip.Addr) {
	ts.send(p, pkt(reportFrame(p, snoop.ModeIsExclude, group)))
	ts.e.ApplyControl()
}

var unicastKey = switching.UnicastFlow(0, 0, mac(1), mac(2)) // host 1 on port 0 to host 2 on port 1

// installUnicast sends a frame from host 1 to host 2 and checks that the
// cache now forwards it to port 1.
func (ts *testSwitch) installUnicast(c *fakeCache) {
	ts.t.Helper()
	ts.send(0, pkt(frame(mac(2), mac(1), 0x0800)))
	if a, ok := c.valid(unicastKey); !ok || a.Out != ports(1) {
		ts.t.Fatalf("after a frame from host 1 to host 2: cache holds %v (valid %v), want forward to port 1", a, ok)
	}
}

var (
	testGroup = netip.MustParseAddr("239.1.2.3")
	// mcKey is mcBenchUDPFrame(testGroup) from host 1 on port 0.
	mcKey = switching.MulticastFlow(0, 0, mac(1), testGroup, mcBenchHostIP(0))
)

// installMulticast has the host behind port 2 join testGroup, sends data
// from port 0, and checks that the cache forwards it to port 2.
func (ts *testSwitch) installMulticast(c *fakeCache) {
	ts.t.Helper()
	ts.join(2, testGroup)
	ts.send(0, pkt(mcBenchUDPFrame(testGroup)))
	if a, ok := c.valid(mcKey); !ok || a.Out != ports(2) {
		ts.t.Fatalf("after data to a group port 2 joined: cache holds %+v (valid %v), want forward to port 2", a, ok)
	}
}

// expectInvalidated runs change and checks that the cache's generation
// moved, that the decision for k it held is stale, and that k's decision
// offered with the generation from before the change is refused.
func expectInvalidated(t *testing.T, c *fakeCache, k switching.FlowKey, name string, change func()) {
	t.Helper()
	before := c.Generation()
	old, _ := c.valid(k)
	change()
	if c.Generation() == before {
		t.Fatalf("%s: the cache's generation did not move", name)
	}
	if _, ok := c.valid(k); ok {
		t.Errorf("%s: the decision for %v is still valid", name, k)
	}
	c.Offer(before, k, old)
	if _, ok := c.valid(k); ok {
		t.Errorf("%s: a decision for %v offered with the generation from before the change was installed", name, k)
	}
}

// TestFlowCacheOffersUnicastToLearnedPorts: a unicast frame to a learned
// port is offered once per generation, keyed by ingress, VLAN and both
// MACs; a flood, a frame back to its own port and a frame whose source hit
// the port limit are not.
func TestFlowCacheOffersUnicastToLearnedPorts(t *testing.T) {
	ts, c := cachedSwitch(t, 3, fdb.Config{PortLimit: 1}, nil)
	ts.send(0, pkt(frame(mac(2), mac(1), 0x0800))) // mac(2) unknown: flooded
	if n := c.offered(); n != 0 {
		t.Fatalf("a flood was offered (%d offers)", n)
	}
	ts.learnHosts()
	ts.installUnicast(c)
	for range 10 {
		ts.send(0, pkt(frame(mac(2), mac(1), 0x0800)))
	}
	if n := c.offered(); n != 1 {
		t.Errorf("11 frames of one flow: %d offers, want 1 (the worker remembers its offers)", n)
	}
	ts.now = ts.now.Add(2 * time.Second)
	ts.send(0, pkt(frame(mac(2), mac(1), 0x0800)))
	if n := c.offered(); n != 2 {
		t.Errorf("a frame of the flow still on the ring after a while: %d offers in all, want 2", n)
	}
	c.Invalidate()
	ts.send(0, pkt(frame(mac(2), mac(1), 0x0800)))
	if _, ok := c.valid(unicastKey); !ok {
		t.Error("after an invalidation, the next frame of the flow did not offer it again")
	}

	n := c.offered()
	ts.send(0, pkt(frame(mac(1), mac(9), 0x0800))) // port 0 holds its one MAC: mac(9) not learned
	ts.send(1, pkt(frame(mac(1), mac(2), 0x0800))) // to port 0, fine
	ts.send(1, pkt(frame(mac(2), mac(2), 0x0800))) // back to its own port: same-port
	if got := c.offered() - n; got != 1 {
		t.Errorf("port-limit source, a reply and a same-port frame: %d offers, want 1 (the reply)", got)
	}
	if _, ok := c.valid(switching.UnicastFlow(1, 0, mac(2), mac(1))); !ok {
		t.Error("the reply from host 2 to host 1 is not in the cache")
	}
}

// TestFlowCacheOffersAgainWhenRefused: an offer the cache did not take
// (its queue was full) is not remembered: the flow's next frame offers it
// again.
func TestFlowCacheOffersAgainWhenRefused(t *testing.T) {
	ts, c := cachedSwitch(t, 3, fdb.Config{}, nil)
	ts.learnHosts()
	c.refuseAll(true)
	ts.send(0, pkt(frame(mac(2), mac(1), 0x0800)))
	c.refuseAll(false)
	ts.send(0, pkt(frame(mac(2), mac(1), 0x0800)))
	if n := c.offered(); n != 2 {
		t.Errorf("%d offers, want 2: the refused one, and the next frame's", n)
	}
	if _, ok := c.valid(unicastKey); !ok {
		t.Error("the flow is not in the cache after the second offer")
	}
}

// TestFlowCacheOffersNoDownOrForeignVLANPort: a forward to a port that is
// down (a port-down drop per frame) or does not carry the VLAN is not
// offered.
func TestFlowCacheOffersNoDownOrForeignVLANPort(t *testing.T) {
	ts, c := cachedSwitch(t, 3, fdb.Config{}, nil)
	ts.learnHosts()
	ts.e.SetPortVLANs(1, []uint16{7})
	ts.send(0, pkt(frame(mac(2), mac(1), 0x0800)))
	ts.send(0, pkt(frame(mac(3), mac(1), 0x0800)))
	if n := c.offered(); n != 1 {
		t.Errorf("frames to a port without the VLAN and to one with it: %d offers, want 1", n)
	}
}

// TestFlowCacheOffersMulticastAfterEgressChecks: IP multicast data is
// offered with the ports the engine sent it to, bounded by the port's
// MaxTTL; a flow some port's egress ACL refused (and counted) is not.
func TestFlowCacheOffersMulticastAfterEgressChecks(t *testing.T) {
	policies := []guard.PortPolicy{guard.HostPortDefaults(), guard.HostPortDefaults(), guard.HostPortDefaults(), guard.HostPortDefaults()}
	policies[0].MaxTTL = 16
	ts, c := cachedSwitch(t, 4, fdb.Config{}, policies)
	ts.installMulticast(c)
	if a, _ := c.valid(mcKey); a.TTLMax != 16 {
		t.Errorf("TTLMax %d, want the sender port's MaxTTL 16", a.TTLMax)
	}

	// While nobody joined it and no query was answered, data to a group
	// floods (the start-up window): port 3's ACL refuses this one.
	other := netip.MustParseAddr("239.9.9.9")
	policies[3].ACL = []guard.Rule{{Permit: false, Groups: netip.PrefixFrom(other, 32)}}
	if _, err := ts.e.SetPolicies(policies); err != nil {
		t.Fatal(err)
	}
	ts.expect("data flooded past an egress ACL", ts.send(0, pkt(mcBenchUDPFrame(other))), []int{0, 1, 1, 0})
	if _, ok := c.valid(switching.MulticastFlow(0, 0, mac(1), other, mcBenchHostIP(0))); ok {
		t.Error("a flow an egress ACL refused on some port was offered: the cache would not count the refusals")
	}
	third := netip.MustParseAddr("239.8.8.8")
	ts.expect("data flooded", ts.send(0, pkt(mcBenchUDPFrame(third))), []int{0, 1, 1, 1})
	if a, ok := c.valid(switching.MulticastFlow(0, 0, mac(1), third, mcBenchHostIP(0))); !ok || a.Out != ports(1, 2, 3) {
		t.Errorf("flooded data in the start-up window: cache holds %+v (valid %v), want ports 1, 2, 3", a, ok)
	}
}

// Invalidation: one test per kind of change a decision depends on. Each
// shows that the generation moved, the decision held is stale, and one
// offered with the generation from before the change is refused.

func TestFlowCacheInvalidatedByMACMove(t *testing.T) {
	ts, c := cachedSwitch(t, 3, fdb.Config{}, nil)
	ts.learnHosts()
	ts.installUnicast(c)
	expectInvalidated(t, c, unicastKey, "host 2 moves to port 2", func() {
		ts.send(2, pkt(frame(bcast, mac(2), 0x0806)))
	})
	ts.send(0, pkt(frame(mac(2), mac(1), 0x0800)))
	if a, ok := c.valid(unicastKey); !ok || a.Out != ports(2) {
		t.Errorf("after the move, the next frame installs %+v (valid %v), want port 2", a, ok)
	}
}

func TestFlowCacheInvalidatedByPortLimitEviction(t *testing.T) {
	ts, c := cachedSwitch(t, 3, fdb.Config{PortLimit: 1}, nil)
	ts.learnHosts()
	ts.installUnicast(c)
	// Port 2 holds its one MAC: host 2 appearing there cannot be learned,
	// and its entry on port 1 goes, so that frames to it flood.
	expectInvalidated(t, c, unicastKey, "host 2 seen on a full port", func() {
		ts.send(2, pkt(frame(bcast, mac(2), 0x0806)))
	})
}

func TestFlowCacheInvalidatedByAging(t *testing.T) {
	ts, c := cachedSwitch(t, 3, fdb.Config{AgingTime: 10 * time.Second}, nil)
	ts.learnHosts()
	ts.installUnicast(c)
	ts.now = ts.now.Add(11 * time.Second)
	expectInvalidated(t, c, unicastKey, "host 2 ages out (the control plane's Expire)", func() {
		if n := ts.e.MACTable().Expire(ts.now); n == 0 {
			t.Fatal("nothing expired")
		}
	})
}

func TestFlowCacheInvalidatedByStaticEntries(t *testing.T) {
	ts, c := cachedSwitch(t, 3, fdb.Config{}, nil)
	ts.learnHosts()
	ts.installUnicast(c)
	expectInvalidated(t, c, unicastKey, "a static entry for host 2", func() {
		if err := ts.e.MACTable().AddStatic(0, mac(2), 2); err != nil {
			t.Fatal(err)
		}
	})
	ts.send(0, pkt(frame(mac(2), mac(1), 0x0800)))
	expectInvalidated(t, c, unicastKey, "the static entry removed", func() {
		if !ts.e.MACTable().RemoveStatic(0, mac(2)) {
			t.Fatal("no static entry removed")
		}
	})
}

func TestFlowCacheInvalidatedByPortDownAndUp(t *testing.T) {
	ts, c := cachedSwitch(t, 3, fdb.Config{}, nil)
	ts.learnHosts()
	ts.installUnicast(c)
	expectInvalidated(t, c, unicastKey, "port 1 down", func() { ts.e.SetPortUp(1, false) })
	ts.learnHosts()
	ts.send(0, pkt(frame(mac(2), mac(1), 0x0800)))
	if _, ok := c.valid(unicastKey); ok {
		t.Error("a forward to a port that is down was offered")
	}
	expectInvalidated(t, c, unicastKey, "port 1 up", func() { ts.e.SetPortUp(1, true) })
}

func TestFlowCacheInvalidatedByPortVLANs(t *testing.T) {
	ts, c := cachedSwitch(t, 3, fdb.Config{}, nil)
	ts.learnHosts()
	ts.installUnicast(c)
	expectInvalidated(t, c, unicastKey, "port 1 limited to VLAN 7", func() {
		if err := ts.e.SetPortVLANs(1, []uint16{7}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFlowCacheInvalidatedByPortsAddedRemovedReplaced(t *testing.T) {
	ts, c := cachedSwitch(t, 3, fdb.Config{}, nil)
	ts.learnHosts()
	ts.installUnicast(c)
	expectInvalidated(t, c, unicastKey, "a port added", func() {
		if _, err := ts.e.AddPort(&memPort{name: "x"}); err != nil {
			t.Fatal(err)
		}
	})
	ts.installUnicast(c)
	expectInvalidated(t, c, unicastKey, "port 1's backend replaced", func() {
		if err := ts.e.ReplaceBackend(1, &memPort{name: "b"}); err != nil {
			t.Fatal(err)
		}
	})
	ts.installUnicast(c)
	expectInvalidated(t, c, unicastKey, "a port removed", func() {
		if err := ts.e.RemovePort(3); err != nil {
			t.Fatal(err)
		}
	})
	ts.installUnicast(c)
	expectInvalidated(t, c, unicastKey, "a new worker", func() { ts.e.NewWorker(0) })
}

func TestFlowCacheInvalidatedByJoinAndLeave(t *testing.T) {
	ts, c := cachedSwitch(t, 4, fdb.Config{}, nil)
	ts.installMulticast(c)
	expectInvalidated(t, c, mcKey, "port 3 joins", func() { ts.join(3, testGroup) })
	ts.send(0, pkt(mcBenchUDPFrame(testGroup)))
	if a, ok := c.valid(mcKey); !ok || a.Out != ports(2, 3) {
		t.Errorf("after port 3 joined: cache holds %+v (valid %v), want ports 2, 3", a, ok)
	}
	expectInvalidated(t, c, mcKey, "port 3 leaves (fast leave)", func() {
		ts.send(3, pkt(reportFrame(3, snoop.ChangeToInclude, testGroup)))
		ts.e.ApplyControl()
	})
	expectInvalidated(t, c, mcKey, "port 2 leaves: the group goes", func() {
		ts.send(2, pkt(reportFrame(2, snoop.ChangeToInclude, testGroup)))
		ts.e.ApplyControl()
	})
	if ts.e.Snooper().Groups().Len() != 0 {
		t.Fatal("the group is still there")
	}
}

func TestFlowCacheInvalidatedByRouterPorts(t *testing.T) {
	ts, c := cachedSwitch(t, 4, fdb.Config{}, nil)
	ts.installMulticast(c)
	r := ts.e.Snooper().RouterPorts()
	expectInvalidated(t, c, mcKey, "a router learned on port 3", func() {
		r.Learn(0, 3, snoop.RouterQuery, netip.MustParseAddr("198.18.0.4"), time.Minute, ts.now)
	})
	expectInvalidated(t, c, mcKey, "the router ages out", func() { r.Expire(ts.now.Add(2 * time.Minute)) })
	expectInvalidated(t, c, mcKey, "port 1 made a static router port", func() {
		ts.e.Snooper().SetPortRoles(snoop.PortRoles{StaticRouterPorts: ports(1)})
	})
}

func TestFlowCacheInvalidatedByStartupWindow(t *testing.T) {
	ts, c := cachedSwitch(t, 4, fdb.Config{}, nil)
	unregistered := netip.MustParseAddr("239.5.5.5")
	k := switching.MulticastFlow(0, 0, mac(1), unregistered, mcBenchHostIP(0))
	ts.send(0, pkt(mcBenchUDPFrame(unregistered)))
	if a, ok := c.valid(k); !ok || a.Out != ports(1, 2, 3) {
		t.Fatalf("data to a group nobody joined, before the first tick: cache holds %+v (valid %v), want a flood", a, ok)
	}
	s := ts.e.Snooper()
	s.Tick(ts.now) // the switch queries: its start-up window begins (flooding still)
	ts.send(0, pkt(mcBenchUDPFrame(unregistered)))
	if !s.Learning(0, 4) {
		t.Fatal("not learning after the first query")
	}
	expectInvalidated(t, c, k, "the start-up window ends", func() {
		for i := 0; i < 100 && s.Learning(0, 4); i++ {
			ts.now = ts.now.Add(time.Second)
			s.Tick(ts.now)
		}
		if s.Learning(0, 4) {
			t.Fatal("the start-up window never ended")
		}
	})
	ts.expect("data to a group nobody joined, after the window", ts.send(0, pkt(mcBenchUDPFrame(unregistered))), []int{0, 0, 0, 0})
}

func TestFlowCacheInvalidatedByPolicies(t *testing.T) {
	policies := []guard.PortPolicy{guard.HostPortDefaults(), guard.HostPortDefaults(), guard.HostPortDefaults(), guard.HostPortDefaults()}
	ts, c := cachedSwitch(t, 4, fdb.Config{}, policies)
	ts.installMulticast(c)
	policies[0].Senders = []guard.SenderRule{{Permit: false, Groups: netip.PrefixFrom(testGroup, 32)}}
	expectInvalidated(t, c, mcKey, "a sender rule on port 0 (SetPolicies, a reload)", func() {
		if _, err := ts.e.SetPolicies(policies); err != nil {
			t.Fatal(err)
		}
	})
	ts.send(0, pkt(mcBenchUDPFrame(testGroup)))
	if _, ok := c.valid(mcKey); ok {
		t.Error("a sender the policy denies was offered")
	}
	expectInvalidated(t, c, mcKey, "a runtime rule (UpdatePolicies)", func() {
		if _, _, err := ts.e.UpdatePolicies(func(p []guard.PortPolicy) (bool, error) {
			p[0].Senders = nil
			return true, nil
		}); err != nil {
			t.Fatal(err)
		}
	})
	ts.send(0, pkt(mcBenchUDPFrame(testGroup)))
	expectInvalidated(t, c, mcKey, "an ACL on port 2 that refuses the group (membership revoked)", func() {
		if _, _, err := ts.e.UpdatePolicies(func(p []guard.PortPolicy) (bool, error) {
			p[2].ACL = []guard.Rule{{Permit: false, Groups: netip.PrefixFrom(testGroup, 32)}}
			return true, nil
		}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestFlowCacheRefreshesSourceAging: a source whose frames only the cache
// sees does not age out while the cache forwards them; one the cache has
// not forwarded for an ageing time does.
func TestFlowCacheRefreshesSourceAging(t *testing.T) {
	ts, c := cachedSwitch(t, 3, fdb.Config{AgingTime: 10 * time.Second}, nil)
	ts.learnHosts()
	ts.installUnicast(c)
	for range 4 {
		ts.now = ts.now.Add(4 * time.Second)
		c.mu.Lock()
		c.hits[unicastKey] = time.Second // the kernel forwarded a frame a second ago
		c.mu.Unlock()
		if n := ts.e.RefreshFlows(); n != 1 {
			t.Fatalf("RefreshFlows refreshed %d sources, want 1", n)
		}
	}
	if _, ok := ts.e.MACTable().Lookup(0, mac(1), ts.now); !ok {
		t.Error("host 1, whose frames the cache forwarded, aged out")
	}
	if _, ok := ts.e.MACTable().Lookup(0, mac(3), ts.now); ok {
		t.Error("host 3, silent for 16 s, did not age out")
	}
	c.mu.Lock()
	c.hits[unicastKey] = 12 * time.Second
	c.mu.Unlock()
	ts.now = ts.now.Add(12 * time.Second)
	ts.e.RefreshFlows()
	if _, ok := ts.e.MACTable().Lookup(0, mac(1), ts.now); ok {
		t.Error("host 1, whose last frame the cache forwarded 12 s ago, did not age out")
	}
}

// TestFlowCacheCountersInStats: what the cache forwarded is in the ports'
// Rx and Tx counters.
func TestFlowCacheCountersInStats(t *testing.T) {
	ts, c := cachedSwitch(t, 3, fdb.Config{}, nil)
	ts.learnHosts()
	ts.installUnicast(c)
	before := ts.e.Stats()
	c.mu.Lock()
	c.counters = []switching.FlowCounters{{RxFrames: 100, RxBytes: 6000}, {TxFrames: 100, TxBytes: 6000, TxErrors: 2}}
	c.mu.Unlock()
	after := ts.e.Stats()
	if d := after[0].RxFrames - before[0].RxFrames; d != 100 {
		t.Errorf("port 0 rx frames grew by %d, want the cache's 100", d)
	}
	if d := after[1].TxBytes - before[1].TxBytes; d != 6000 {
		t.Errorf("port 1 tx bytes grew by %d, want the cache's 6000", d)
	}
	if d := after[1].TxErrors - before[1].TxErrors; d != 2 || after[1].FlowCache == nil || after[1].FlowCache.TxFrames != 100 {
		t.Errorf("port 1: tx errors grew by %d, flow cache %+v; want 2 and the cache's 100 frames", d, after[1].FlowCache)
	}
}

// TestPerFramePathAllocatesNothingWithFlowCache: offering decisions costs
// no allocation either.
func TestPerFramePathAllocatesNothingWithFlowCache(t *testing.T) {
	c := newFakeCache()
	e, err := switching.New(switching.Config{FlowCache: c, Snooping: &snoop.Config{}, Guard: []guard.PortPolicy{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c", "d"} {
		e.AddPort(&nullPort{name: n})
	}
	ws := make([]*switching.Worker, 4)
	for i := range ws {
		ws[i] = e.NewWorker(fdb.PortID(i))
		ws[i].Handle([]switching.Packet{{Data: frame(bcast, mac(byte(i+1)), 0x0806), Len: 60}})
	}
	ws[2].Handle([]switching.Packet{{Data: mcBenchIGMPv3Report(2, []netip.Addr{testGroup}), Len: 60}})
	e.ApplyControl()
	batch := make([]switching.Packet, 64)
	for i := range batch {
		b := frame(mac(byte(2+i%3)), mac(1), 0x0800)
		if i%2 == 1 {
			b = mcBenchUDPFrame(testGroup)
		}
		batch[i] = switching.Packet{Data: b, Len: len(b)}
	}
	allocs := testing.AllocsPerRun(100, func() {
		c.Invalidate() // every batch offers again
		ws[0].Handle(batch)
	})
	if allocs != 0 {
		t.Errorf("Worker.Handle with a flow cache allocated %.1f times per batch; want 0", allocs)
	}
	if _, ok := c.valid(mcKey); !ok {
		t.Error("the multicast flow was not offered")
	}
}
