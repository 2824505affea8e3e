package snoop_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/snoop"
)

// Ports of the snooper tests: 0 and 1 are host ports, 2 a router's.
var allPorts = func() fdb.PortSet {
	var s fdb.PortSet
	s.Add(0)
	s.Add(1)
	s.Add(2)
	return s
}()

func ports(ps ...fdb.PortID) fdb.PortSet {
	var s fdb.PortSet
	for _, p := range ps {
		s.Add(p)
	}
	return s
}

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func igmpv2Report(src, group string) []byte {
	g := wireAddr(group).As4()
	return wireIP4{src: src, dst: group, opts: wireRA4, upper: []byte{0x16, 0, 0, 0, g[0], g[1], g[2], g[3]}}.bytes()
}

func igmpQuery(t *testing.T, src string, q snoop.Query) []byte {
	t.Helper()
	b, err := snoop.AppendIGMPQuery(nil, wireAddr(src), q)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func generalQuery() snoop.Query {
	return snoop.Query{Version: 3, Group: netip.IPv4Unspecified(), MaxResp: 10 * time.Second, QRV: 2, QQI: 125 * time.Second}
}

func mldQuery(t *testing.T, src string, q snoop.Query) []byte {
	t.Helper()
	b, err := snoop.AppendMLDQuery(nil, wireAddr(src), q)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSnooperForwardsControlPacketsByRFC4541(t *testing.T) {
	s := snoop.New(snoop.Config{StaticRouterPorts: ports(2)})
	v := s.Control(0, 0, 0x0800, igmpv2Report("198.18.0.1", "239.1.1.1"), allPorts, t0)
	if v.Drop != 0 || v.Ports != ports(2) {
		t.Errorf("report: verdict %+v, want the router port only", v)
	}
	// Past the start-up window (a query response interval), in which
	// unregistered data is flooded.
	s.Tick(t0)
	s.Tick(t0.Add(12 * time.Second))
	if got, _ := s.Groups().Lookup(0, wireAddr("239.1.1.1"), wireAddr("198.18.0.9")); got != ports(0) {
		t.Errorf("after the report the group goes to %v, want port 0", got.Ports())
	}
	if got := s.DataPorts(0, wireAddr("239.1.1.1"), wireAddr("198.18.0.9"), allPorts); got != ports(0, 2) {
		t.Errorf("registered data goes to %v, want the member and the router port", got.Ports())
	}
	if got := s.DataPorts(0, wireAddr("239.9.9.9"), wireAddr("198.18.0.9"), allPorts); got != ports(2) {
		t.Errorf("unregistered data goes to %v, want the router port only", got.Ports())
	}
	v = s.Control(0, 2, 0x0800, igmpQuery(t, "198.18.0.254", generalQuery()), allPorts, t0)
	if v.Ports != allPorts {
		t.Errorf("query: verdict %+v, want every port", v)
	}
	bad := igmpv2Report("198.18.0.1", "239.1.1.1")
	bad[len(bad)-1] ^= 0xff
	if v := s.Control(0, 1, 0x0800, bad, allPorts, t0); v.Drop.String() != "bad-checksum" {
		t.Errorf("corrupt report: verdict %+v, want a bad-checksum drop", v)
	}
	msgs, errs := s.Counters(1)
	if errs["bad-checksum"] != 1 || len(msgs) != 0 {
		t.Errorf("port 1 counters: messages %v, parse errors %v", msgs, errs)
	}
	if msgs, _ := s.Counters(0); msgs["igmpv2-report"] != 1 {
		t.Errorf("port 0 counted %v", msgs)
	}
}

func TestSnooperLearnsRouterPorts(t *testing.T) {
	s := snoop.New(snoop.Config{})
	s.Control(0, 1, 0x0800, igmpQuery(t, "0.0.0.0", generalQuery()), allPorts, t0)
	if got := s.RouterPorts().Ports(0); !got.IsEmpty() {
		t.Errorf("a query from 0.0.0.0 made router ports %v", got.Ports())
	}
	if s.Querier().IsQuerier(0, 4, t0) {
		t.Error("the switch still queries although a 0.0.0.0 querier is present")
	}
	s.Control(0, 2, 0x0800, igmpQuery(t, "198.18.0.254", generalQuery()), allPorts, t0)
	if got := s.RouterPorts().Ports(0); got != ports(2) {
		t.Errorf("router ports %v after a general query on port 2", got.Ports())
	}
	if got := s.RouterPorts().Ports(7); !got.IsEmpty() {
		t.Errorf("router port learned in VLAN 0 shows in VLAN 7: %v", got.Ports())
	}
	// It ages out after the other-querier-present interval.
	s.Tick(t0.Add(256 * time.Second))
	if got := s.RouterPorts().Ports(0); !got.IsEmpty() {
		t.Errorf("router port still there after its querier fell silent: %v", got.Ports())
	}

	zero := snoop.New(snoop.Config{ZeroSourceRouterPorts: true})
	zero.Control(0, 1, 0x0800, igmpQuery(t, "0.0.0.0", generalQuery()), allPorts, t0)
	if got := zero.RouterPorts().Ports(0); got != ports(1) {
		t.Errorf("with ZeroSourceRouterPorts, router ports %v", got.Ports())
	}
}

func TestQuerierElection(t *testing.T) {
	timers := func(uint16, int) snoop.Timers { return snoop.DefaultTimers() }
	oqpi := snoop.DefaultTimers().OtherQuerierPresent()
	cases := []struct {
		own, other string
		stepsBack  bool
	}{
		{"0.0.0.0", "198.18.0.9", true},     // an unspecified source defers to any querier
		{"198.18.0.5", "198.18.0.9", false}, // the lower address keeps the role
		{"198.18.0.50", "198.18.0.9", true}, // a lower address wins
		{"198.18.0.9", "198.18.0.9", true},  // a tie goes to the other querier
		{"198.18.0.50", "0.0.0.0", false},   // 0.0.0.0 loses against every address (RFC 4541 s2.1.1)
		{"0.0.0.0", "0.0.0.0", true},        // a tie (no MAC to break it) goes to the other querier
	}
	for _, c := range cases {
		q := snoop.NewQuerier(snoop.QuerierConfig{IPv4Source: wireAddr(c.own)}, timers)
		q.Heard(0, 4, snoop.QuerierID{Addr: wireAddr(c.other)}, 10*time.Second, t0)
		if got := !q.IsQuerier(0, 4, t0.Add(time.Second)); got != c.stepsBack {
			t.Errorf("own %s, heard %s: stepped back %v, want %v", c.own, c.other, got, c.stepsBack)
		}
		if !q.IsQuerier(0, 4, t0.Add(oqpi)) {
			t.Errorf("own %s, heard %s: not querier again after the other-querier-present interval", c.own, c.other)
		}
	}
}

func TestQuerierSendsStartupThenRegularQueries(t *testing.T) {
	tm := snoop.DefaultTimers()
	q := snoop.NewQuerier(snoop.QuerierConfig{}, func(uint16, int) snoop.Timers { return tm })
	var times []time.Duration
	now := t0
	for now.Before(t0.Add(300 * time.Second)) {
		sends, next := q.Tick(now)
		for _, s := range sends {
			if s.Family == 4 {
				times = append(times, now.Sub(t0))
				if !s.AllPorts || s.Query.Version != 3 || !s.Query.IsGeneral() {
					t.Errorf("send %+v, want a general IGMPv3 query to every port", s)
				}
			}
		}
		now = next
	}
	// RFC 3376 s8.6/8.7: Robustness (2) startup queries a quarter interval
	// apart, then one every query interval.
	want := []time.Duration{0, 31250 * time.Millisecond, 156250 * time.Millisecond, 281250 * time.Millisecond}
	if len(times) < len(want) {
		t.Fatalf("queries at %v, want %v...", times, want)
	}
	for i, w := range want {
		if times[i] != w {
			t.Errorf("query %d at %v, want %v (all: %v)", i, times[i], w, times)
		}
	}
	q.PortUp(1, false, now)
	sends, _ := q.Tick(now)
	found := false
	for _, s := range sends {
		found = found || (!s.AllPorts && s.Port == 1)
	}
	if !found {
		t.Errorf("no query for the port that came up: %+v", sends)
	}
}

func TestSnooperRetransmitsGroupQueries(t *testing.T) {
	s := snoop.New(snoop.Config{})
	s.Control(0, 0, 0x0800, igmpv2Report("198.18.0.1", "239.1.1.1"), allPorts, t0)
	g := wireAddr("239.1.1.1").As4()
	leave := wireIP4{src: "198.18.0.1", dst: "224.0.0.2", opts: wireRA4, upper: []byte{0x17, 0, 0, 0, g[0], g[1], g[2], g[3]}}.bytes()
	s.Control(0, 0, 0x0800, leave, allPorts, t0)
	count := 0
	now := t0
	for range 10 {
		sends, next := s.Tick(now)
		for _, q := range sends {
			if !q.AllPorts && q.Query.Group == wireAddr("239.1.1.1") {
				count++
			}
		}
		if next.IsZero() {
			break
		}
		now = next
	}
	if want := snoop.DefaultTimers().LastMemberCount; count != want {
		t.Errorf("%d group-specific queries after the leave, want %d (LastMemberCount)", count, want)
	}
	if _, ok := s.Groups().Get(0, wireAddr("239.1.1.1"), 0); ok {
		t.Error("the port still holds the group after the last member query time")
	}
}

func TestFlooded(t *testing.T) {
	for g, want := range map[string]bool{
		"224.0.0.1": true, "224.0.0.251": true, "224.0.1.1": false, "239.1.1.1": false,
		"ff02::1": true, "ff02::fb": true, "ff02::1:ff00:1": true, "ff01::1": true, "ff05::1:3": false, "ff0e::1": false,
	} {
		if got := snoop.Flooded(wireAddr(g)); got != want {
			t.Errorf("Flooded(%s) = %v, want %v", g, got, want)
		}
	}
}

// unregisteredState returns the Unregistered state and learning time left
// that the querier reports for (vlan, family).
func unregisteredState(t *testing.T, s *snoop.Snooper, vlan uint16, family int, now time.Time) (snoop.Unregistered, time.Duration) {
	t.Helper()
	for _, st := range s.Querier().Status(now) {
		if st.VLAN == vlan && st.Family == family {
			return st.Unregistered, st.LearningLeft
		}
	}
	t.Fatalf("show querier has no row for VLAN %d family %d", vlan, family)
	return 0, 0
}

var (
	unreg4, unreg6 = wireAddr("239.9.9.9"), wireAddr("ff05::9:9")
	src4, src6     = wireAddr("198.18.0.9"), wireAddr("2001:db8::9")
)

// A querier heard 0.5 s after the switch starts, with a 1 s Max Response
// Time, ends IGMP's start-up window at 0.5 + 1 + LearningMargin = 2 s,
// although the switch's own first query (10 s) would have run to 10.5 s;
// MLD, whose querier is the switch, learns until then; a VLAN with no
// querier floods.
func TestSnooperStartupWindowEndsWhenTheHostsHaveAnswered(t *testing.T) {
	s := snoop.New(snoop.Config{})
	if got := s.DataPorts(0, unreg4, src4, allPorts); got != allPorts {
		t.Errorf("before the first tick, unregistered data goes to %v, want every port", got.Ports())
	}
	if !s.Learning(0, 4) || !s.LearningAny() {
		t.Error("not learning before the first tick")
	}
	s.Tick(t0) // the switch's general queries, Max Response Time 10 s
	q := generalQuery()
	q.MaxResp = time.Second
	heard := t0.Add(500 * time.Millisecond)
	s.Control(0, 2, 0x0800, igmpQuery(t, "198.18.0.254", q), allPorts, heard)
	end := heard.Add(time.Second + snoop.LearningMargin)
	if _, next := s.Tick(heard); next.After(end) {
		t.Errorf("Tick's next work at t0+%v, after the window's end at t0+%v", next.Sub(t0), end.Sub(t0))
	}

	s.Tick(end.Add(-time.Millisecond))
	if got := s.DataPorts(0, unreg4, src4, allPorts); got != allPorts {
		t.Errorf("1 ms before the window ends, unregistered IGMP data goes to %v, want every port", got.Ports())
	}
	if u, left := unregisteredState(t, s, 0, 4, end.Add(-time.Millisecond)); u != snoop.UnregisteredLearning || left != time.Millisecond {
		t.Errorf("IGMP 1 ms before the window ends: %v, %v left; want learning, 1ms left", u, left)
	}
	s.Tick(end)
	if got := s.DataPorts(0, unreg4, src4, allPorts); got != ports(2) {
		t.Errorf("once the hosts answered, unregistered IGMP data goes to %v, want the router port", got.Ports())
	}
	if s.Learning(0, 4) {
		t.Error("IGMP still learning after the window")
	}
	if u, _ := unregisteredState(t, s, 0, 4, end); u != snoop.UnregisteredConstrained {
		t.Errorf("IGMP after the window: %v, want constrained", u)
	}
	// MLD: the switch's own query at t0, 10 s to answer.
	if got := s.DataPorts(0, unreg6, src6, allPorts); got != allPorts {
		t.Errorf("unregistered MLD data goes to %v while MLD learns, want every port", got.Ports())
	}
	if u, left := unregisteredState(t, s, 0, 6, end); u != snoop.UnregisteredLearning || left != 10*time.Second+snoop.LearningMargin-end.Sub(t0) {
		t.Errorf("MLD at t0+%v: %v, %v left; want learning until t0+10.5s", end.Sub(t0), u, left)
	}
	if !s.Learning(0, 6) || !s.LearningAny() {
		t.Error("MLD not learning")
	}
	// A VLAN where no query was heard and the switch does not query has no
	// querier: flooded, for good.
	if got := s.DataPorts(7, unreg4, src4, allPorts); got != allPorts {
		t.Errorf("unregistered data in VLAN 7 (no querier) goes to %v, want every port", got.Ports())
	}
	if s.Learning(7, 4) {
		t.Error("VLAN 7 reported as learning; it has no querier at all")
	}

	s.Tick(t0.Add(10*time.Second + snoop.LearningMargin))
	if got := s.DataPorts(0, unreg6, src6, allPorts); got != ports(2) {
		t.Errorf("after MLD's window, unregistered MLD data goes to %v, want the router port (of the VLAN)", got.Ports())
	}
	if s.LearningAny() {
		t.Error("LearningAny true once both families have learned")
	}
}

// The switch as the only querier: its first general query plus its query
// response interval (plus the margin).
func TestSnooperStartupWindowAsTheQuerier(t *testing.T) {
	s := snoop.New(snoop.Config{Membership: snoop.MembershipConfig{Timers: snoop.Timers{QueryResponseInterval: 2 * time.Second}}})
	start := t0.Add(100 * time.Millisecond) // the control plane's first tick
	s.Tick(start)
	end := start.Add(2*time.Second + snoop.LearningMargin)
	s.Tick(end.Add(-time.Millisecond))
	if !s.Learning(0, 4) || !s.Learning(0, 6) {
		t.Error("stopped learning before the first query's response interval had passed")
	}
	s.Tick(end)
	for _, g := range []netip.Addr{unreg4, unreg6} {
		if got := s.DataPorts(0, g, src4, allPorts); !got.IsEmpty() {
			t.Errorf("after the window, unregistered data to %v goes to %v, want nowhere", g, got.Ports())
		}
	}
}

// With its querier disabled, the switch floods while no querier is
// present, learns when one is heard, constrains once the hosts answered,
// floods again when the querier falls silent and learns afresh when one
// comes back (the memberships aged out unseen meanwhile).
func TestSnooperWithoutQuerierFloods(t *testing.T) {
	s := snoop.New(snoop.Config{Querier: snoop.QuerierConfig{Disabled: true}})
	s.Tick(t0)
	s.Tick(t0.Add(time.Hour))
	if got := s.DataPorts(0, unreg4, src4, allPorts); got != allPorts {
		t.Errorf("no querier: unregistered data goes to %v, want every port", got.Ports())
	}
	if s.LearningAny() {
		t.Error("no querier: reported as learning; it floods for good")
	}
	if u, _ := unregisteredState(t, s, 0, 4, t0.Add(time.Hour)); u != snoop.UnregisteredFlooding {
		t.Errorf("no querier: show querier says %v, want flooding", u)
	}

	q := generalQuery()
	q.MaxResp = time.Second
	for round, at := range []time.Time{t0.Add(time.Hour), t0.Add(2 * time.Hour)} {
		s.Control(0, 2, 0x0800, igmpQuery(t, "198.18.0.254", q), allPorts, at)
		s.Tick(at)
		if !s.Learning(0, 4) {
			t.Errorf("round %d: a querier heard, yet not learning", round)
		}
		end := at.Add(time.Second + snoop.LearningMargin)
		_, next := s.Tick(end)
		if got := s.DataPorts(0, unreg4, src4, allPorts); got != ports(2) {
			t.Errorf("round %d: after the hosts answered, unregistered data goes to %v, want the router port", round, got.Ports())
		}
		// The querier falls silent: RV*QI + QRI/2 = 255 s later there is
		// none, and Tick says when.
		silent := at.Add(snoop.DefaultTimers().OtherQuerierPresent())
		if !next.Equal(silent) {
			t.Errorf("round %d: Tick's next work at %v after the query, want %v (the querier's end)", round, next.Sub(at), silent.Sub(at))
		}
		s.Tick(silent)
		if got := s.DataPorts(0, unreg4, src4, allPorts); got != allPorts {
			t.Errorf("round %d: querier gone, unregistered data goes to %v, want every port", round, got.Ports())
		}
		if u, _ := unregisteredState(t, s, 0, 4, silent); u != snoop.UnregisteredFlooding {
			t.Errorf("round %d: querier gone, show querier says %v, want flooding", round, u)
		}
	}
}

// With its querier enabled, the switch takes over when the elected querier
// falls silent: hosts keep reporting, so unregistered data stays
// constrained; a new querier that wins the election changes nothing either.
func TestSnooperQuerierChangeKeepsConstraining(t *testing.T) {
	s := snoop.New(snoop.Config{})
	s.Tick(t0)
	s.Control(0, 2, 0x0800, igmpQuery(t, "198.18.0.254", generalQuery()), allPorts, t0)
	s.Tick(t0.Add(11 * time.Second))
	if s.Learning(0, 4) {
		t.Fatal("still learning 11 s after a 10 s query")
	}
	s.Control(0, 1, 0x0800, igmpQuery(t, "198.18.0.3", generalQuery()), allPorts, t0.Add(20*time.Second))
	for _, at := range []time.Duration{21 * time.Second, 275 * time.Second, 300 * time.Second, time.Hour} {
		s.Tick(t0.Add(at))
		if u, _ := unregisteredState(t, s, 0, 4, t0.Add(at)); u != snoop.UnregisteredConstrained {
			t.Errorf("t0+%v: %v, want constrained", at, u)
		}
	}
	if !s.Querier().IsQuerier(0, 4, t0.Add(time.Hour)) {
		t.Error("the switch did not take over from the silent querier")
	}
}

func TestSnooperPIMAndMRDAndUnknownTypes(t *testing.T) {
	s := snoop.New(snoop.Config{})
	hello := wireIP4{src: "198.18.0.254", dst: "224.0.0.13", proto: 103,
		upper: wireHex(t, "20 00 0000  0001 0002 0069")}.bytes()
	if v := s.Control(0, 2, 0x0800, hello, allPorts, t0); v.Ports != allPorts {
		t.Errorf("PIM hello: verdict %+v, want every port (224.0.0.13 is link-local)", v)
	}
	if got := s.RouterPorts().Ports(0); got != ports(2) {
		t.Errorf("router ports %v after a PIM hello on port 2", got.Ports())
	}
	// RFC 4286 s4.1: advertisement type 0x30, interval 20 s, QQI, QRV.
	adv := wireIP4{src: "198.18.0.253", dst: "224.0.0.106", opts: wireRA4,
		upper: []byte{0x30, 20, 0, 0, 0, 125, 0, 2}}.bytes()
	s.Control(0, 1, 0x0800, adv, allPorts, t0)
	if got := s.RouterPorts().Ports(0); got != ports(1, 2) {
		t.Errorf("router ports %v after an MRD advertisement on port 1", got.Ports())
	}
	// RFC 4541 s2.1.2: unrecognised IGMP types are flooded.
	unknown := wireIP4{src: "198.18.0.1", dst: "224.0.0.1", opts: wireRA4, upper: []byte{0x42, 0, 0, 0, 0, 0, 0, 0}}.bytes()
	if v := s.Control(0, 0, 0x0800, unknown, allPorts, t0); v.Drop != 0 || v.Ports != allPorts {
		t.Errorf("unknown IGMP type: verdict %+v, want every port", v)
	}
}

func TestSnooperFloodUnregisteredPorts(t *testing.T) {
	s := snoop.New(snoop.Config{StaticRouterPorts: ports(2), FloodUnregistered: ports(1)})
	s.Tick(t0)
	s.Tick(t0.Add(12 * time.Second))
	if got := s.DataPorts(0, wireAddr("239.9.9.9"), wireAddr("198.18.0.9"), allPorts); got != ports(1, 2) {
		t.Errorf("unregistered data goes to %v, want the router port and the flood-unregistered port", got.Ports())
	}
}

// TestQuerierSolicitsForTheElectedQuerier: with another querier elected, a
// host port that comes up still gets a general query, marked Solicit (sent
// from 0.0.0.0, so it wins no election); a router port gets none.
func TestQuerierSolicitsForTheElectedQuerier(t *testing.T) {
	tm := snoop.DefaultTimers()
	q := snoop.NewQuerier(snoop.QuerierConfig{IPv4Source: wireAddr("198.18.0.200")}, func(uint16, int) snoop.Timers { return tm })
	q.Tick(t0)
	q.Heard(0, 4, snoop.QuerierID{Addr: wireAddr("198.18.0.1")}, 10*time.Second, t0)
	q.Tick(t0)
	now := t0.Add(time.Second)
	q.PortUp(2, false, now)
	q.PortUp(3, true, now)
	sends, _ := q.Tick(now)
	var host, router int
	for _, s := range sends {
		if s.Family != 4 || s.AllPorts {
			continue
		}
		switch s.Port {
		case 2:
			host++
			if !s.Solicit || !s.Query.IsGeneral() {
				t.Errorf("query for the host port: %+v, want a general Solicit query", s)
			}
		case 3:
			router++
		}
	}
	if host != 1 || router != 0 {
		t.Errorf("IGMP queries for the host port %d, the router port %d; want 1, 0 (%+v)", host, router, sends)
	}
}

func TestSnooperRevoke(t *testing.T) {
	s := snoop.New(snoop.Config{})
	s.Control(0, 1, 0x0800, igmpv2Report("198.18.0.1", "239.1.1.1"), allPorts, t0)
	s.Control(0, 2, 0x0800, igmpv2Report("198.18.0.2", "239.1.1.1"), allPorts, t0)
	s.Control(0, 1, 0x0800, igmpv2Report("198.18.0.1", "239.2.2.2"), allPorts, t0)
	denied := wireAddr("239.1.1.1")
	removed := s.Revoke(func(port fdb.PortID, group, _ netip.Addr) bool { return port != 1 || group != denied })
	if removed[1] != 1 || removed[2] != 0 {
		t.Fatalf("removed %v, want port 1: 1", removed)
	}
	if _, ok := s.Groups().Get(0, denied, 1); ok {
		t.Error("port 1 kept the revoked group")
	}
	for _, c := range []struct {
		port  fdb.PortID
		group string
	}{{2, "239.1.1.1"}, {1, "239.2.2.2"}} {
		if _, ok := s.Groups().Get(0, wireAddr(c.group), c.port); !ok {
			t.Errorf("port %d lost %s, which the policy still allows", c.port, c.group)
		}
	}
}

// TestSnooperSetPortRoles: a reload moves the static router port, the
// flood-unregistered port and fast leave; memberships stay.
func TestSnooperSetPortRoles(t *testing.T) {
	s := snoop.New(snoop.Config{StaticRouterPorts: ports(2), FloodUnregistered: ports(1)})
	s.Tick(t0)
	s.Control(0, 1, 0x0800, igmpv2Report("198.18.0.1", "239.1.1.1"), allPorts, t0)
	s.Tick(t0.Add(12 * time.Second))

	s.SetPortRoles(snoop.PortRoles{StaticRouterPorts: ports(3), FloodUnregistered: ports(0), FastLeave: ports(1)})
	if got := s.RouterPorts().Ports(0); got != ports(3) {
		t.Errorf("router ports %v, want port 3", got.Ports())
	}
	if got := s.DataPorts(0, wireAddr("239.9.9.9"), wireAddr("198.18.0.9"), allPorts); got != ports(0, 3) {
		t.Errorf("unregistered data goes to %v, want the new router and flood-unregistered ports", got.Ports())
	}
	if got := s.DataPorts(0, wireAddr("239.1.1.1"), wireAddr("198.18.0.9"), allPorts); got != ports(1, 3) {
		t.Errorf("the joined group goes to %v, want its member and the router port", got.Ports())
	}
	if v := s.Control(0, 0, 0x0800, igmpv2Report("198.18.0.5", "239.2.2.2"), allPorts, t0); v.Ports != ports(3) {
		t.Errorf("a report goes to %v, want the new router port", v.Ports.Ports())
	}
	g := wireAddr("239.1.1.1").As4()
	leave := wireIP4{src: "198.18.0.1", dst: "224.0.0.2", opts: wireRA4, upper: []byte{0x17, 0, 0, 0, g[0], g[1], g[2], g[3]}}.bytes()
	s.Control(0, 1, 0x0800, leave, allPorts, t0.Add(13*time.Second))
	if _, ok := s.Groups().Get(0, wireAddr("239.1.1.1"), 1); ok {
		t.Error("a leave on a port made fast-leave by SetPortRoles did not end its membership at once")
	}
}

// TestSnooperTimersPerVLANAndFamily: an MLDv2 querier in VLAN 10 that
// announces QRV 5 and QQI 30 s sets the MLD timers of VLAN 10 only: its
// router port and its other-querier-present timer last 5*30s+10s/2 = 155 s,
// while the IGMP querier's in the same VLAN last the default 255 s; when it
// falls silent, the switch queries MLD in VLAN 10 with its values.
func TestSnooperTimersPerVLANAndFamily(t *testing.T) {
	s := snoop.New(snoop.Config{})
	s.Tick(t0)
	mq := snoop.Query{Version: 2, Group: netip.IPv6Unspecified(), MaxResp: 10 * time.Second, QRV: 5, QQI: 30 * time.Second}
	s.Control(10, 2, 0x86dd, mldQuery(t, "fe80::1", mq), allPorts, t0)
	s.Control(10, 1, 0x0800, igmpQuery(t, "198.18.0.254", generalQuery()), allPorts, t0)

	want := map[fdb.PortID]time.Duration{2: 155 * time.Second, 1: 255 * time.Second}
	for _, r := range s.RouterPorts().List(t0) {
		if r.VLAN != 10 || r.Expires != want[r.Port] {
			t.Errorf("router port %+v, want VLAN 10 expiring in %v", r, want[r.Port])
		}
		delete(want, r.Port)
	}
	if len(want) != 0 {
		t.Errorf("router ports %v not learned", want)
	}
	for _, st := range s.Querier().Status(t0) {
		if st.VLAN != 10 {
			continue
		}
		w := 255 * time.Second
		if st.Family == 6 {
			w = 155 * time.Second
		}
		if st.OtherPresent != w {
			t.Errorf("VLAN 10 family %d: other querier present for %v, want %v", st.Family, st.OtherPresent, w)
		}
	}

	// 155 s later only the MLD querier has fallen silent (the IGMP one
	// is heard again): the switch takes over MLD in VLAN 10, with the
	// querier's robustness and interval.
	later := t0.Add(155 * time.Second)
	s.Control(10, 1, 0x0800, igmpQuery(t, "198.18.0.254", generalQuery()), allPorts, later.Add(-time.Second))
	sends, _ := s.Tick(later)
	var mld, igmp int
	for _, q := range sends {
		if q.VLAN != 10 || !q.AllPorts {
			continue
		}
		switch q.Family {
		case 6:
			mld++
			if q.Query.QRV != 5 || q.Query.QQI != 30*time.Second {
				t.Errorf("the switch's MLD query in VLAN 10 announces QRV %d QQI %v, want the adopted 5 and 30s", q.Query.QRV, q.Query.QQI)
			}
		case 4:
			igmp++
		}
	}
	if mld != 1 || igmp != 0 {
		t.Errorf("at t0+155s the switch sent %d MLD and %d IGMP general queries in VLAN 10, want 1 and 0", mld, igmp)
	}
}

// TestQuerierOutrankedAnswers: a fabric switch that hears a losing
// querier's general query on a switch port answers out of that port at
// once with its own, so that the other defers within a round trip rather
// than a query interval later; at most once a second, and never when it
// defers itself or hears its own query back.
func TestQuerierOutrankedAnswers(t *testing.T) {
	timers := func(uint16, int) snoop.Timers { return snoop.DefaultTimers() }
	low := fdb.MAC{0x02, 0x73, 0x77, 0, 0, 1}
	high := fdb.MAC{0x02, 0x73, 0x77, 0, 0, 2}
	zero := wireAddr("0.0.0.0")
	answers := func(q *snoop.Querier, now time.Time) (n int) {
		sends, _ := q.Tick(now)
		for _, s := range sends {
			if !s.AllPorts && s.Port == 3 && s.Family == 4 && s.Query.IsGeneral() {
				n++
			}
		}
		return n
	}
	q := snoop.NewQuerier(snoop.QuerierConfig{MAC: low}, timers)
	q.Tick(t0) // the startup query
	loser := snoop.QuerierID{Addr: zero, MAC: high}
	q.Heard(0, 4, loser, 10*time.Second, t0.Add(time.Second))
	q.Outranked(0, 4, loser, 3, t0.Add(time.Second))
	if n := answers(q, t0.Add(time.Second)); n != 1 {
		t.Errorf("answers to a losing querier on port 3: %d, want 1", n)
	}
	q.Outranked(0, 4, loser, 3, t0.Add(1500*time.Millisecond))
	if n := answers(q, t0.Add(1500*time.Millisecond)); n != 0 {
		t.Errorf("a second answer within a second: %d, want 0", n)
	}
	q.Outranked(0, 4, snoop.QuerierID{Addr: zero, MAC: low}, 3, t0.Add(3*time.Second))
	if n := answers(q, t0.Add(3*time.Second)); n != 0 {
		t.Errorf("answers to its own query looped back: %d, want 0", n)
	}

	// The switch with the higher MAC defers and does not answer.
	d := snoop.NewQuerier(snoop.QuerierConfig{MAC: high}, timers)
	d.Tick(t0)
	winner := snoop.QuerierID{Addr: zero, MAC: low}
	d.Heard(0, 4, winner, 10*time.Second, t0.Add(time.Second))
	d.Outranked(0, 4, winner, 3, t0.Add(time.Second))
	if n := answers(d, t0.Add(time.Second)); n != 0 {
		t.Errorf("a switch that defers answered %d times, want 0", n)
	}
	if d.IsQuerier(0, 4, t0.Add(2*time.Second)) {
		t.Error("the higher MAC is still querier after hearing the lower")
	}
}
