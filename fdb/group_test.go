package fdb_test

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
)

var (
	src1 = netip.MustParseAddr("10.0.0.1")
	src2 = netip.MustParseAddr("10.0.0.2")
	src3 = netip.MustParseAddr("10.0.0.3")

	grp4 = netip.MustParseAddr("239.1.1.1")
	grp6 = netip.MustParseAddr("ff3e::8000:1")

	src6a = netip.MustParseAddr("2001:db8::1")
	src6b = netip.MustParseAddr("2001:db8::2")
)

// include returns an Update function that sets INCLUDE (sources), each with
// a running source timer.
func include(sources ...netip.Addr) func(*fdb.PortMembership) {
	return func(m *fdb.PortMembership) {
		m.Mode = fdb.ModeInclude
		m.GroupTimer = time.Time{}
		m.Requested = make(map[netip.Addr]time.Time)
		for _, s := range sources {
			m.Requested[s] = t0.Add(260 * time.Second)
		}
		m.Excluded = nil
		m.LastReport = t0
	}
}

// exclude returns an Update function that sets EXCLUDE (X = none, Y =
// excluded): exclude() is a (*,G) join, as an IGMPv2 report makes.
func exclude(excluded ...netip.Addr) func(*fdb.PortMembership) {
	return func(m *fdb.PortMembership) {
		m.Mode = fdb.ModeExclude
		m.GroupTimer = t0.Add(260 * time.Second)
		m.Requested = nil
		m.Excluded = make(map[netip.Addr]struct{})
		for _, s := range excluded {
			m.Excluded[s] = struct{}{}
		}
		m.LastReport = t0
	}
}

// leave empties the membership, which the table then deletes.
func leave(m *fdb.PortMembership) {
	m.Mode = fdb.ModeInclude
	m.Requested = nil
	m.Excluded = nil
}

// wantLookupPorts checks Lookup(vlan, group, source) against the port list
// and registration.
func wantLookupPorts(t *testing.T, tab *fdb.GroupTable, vlan uint16, group, source netip.Addr, wantOK bool, want ...fdb.PortID) {
	t.Helper()
	got, ok := tab.Lookup(vlan, group, source)
	if ok != wantOK || !slices.Equal(got.Ports(), want) {
		t.Errorf("Lookup(vlan %d, %v, from %v) = %v, %v; want %v, %v", vlan, group, source, got.Ports(), ok, want, wantOK)
	}
}

func TestFilterModeString(t *testing.T) {
	for m, want := range map[fdb.FilterMode]string{
		fdb.ModeInclude: "INCLUDE",
		fdb.ModeExclude: "EXCLUDE",
		7:               "FilterMode(7)",
	} {
		if got := m.String(); got != want {
			t.Errorf("FilterMode(%d).String() = %q, want %q", uint8(m), got, want)
		}
	}
}

func TestPortMembershipEmptyForwards(t *testing.T) {
	mapped1 := netip.AddrFrom16(src1.As16())
	tests := []struct {
		name      string
		m         fdb.PortMembership
		empty     bool
		forwards  []netip.Addr
		blocks    []netip.Addr
		forwards4 bool // mapped1 (::ffff:10.0.0.1) forwarded
	}{
		{"zero value", fdb.PortMembership{}, true, nil, []netip.Addr{src1, src2}, false},
		{"INCLUDE {S1}", fdb.PortMembership{Mode: fdb.ModeInclude, Requested: map[netip.Addr]time.Time{src1: t0}},
			false, []netip.Addr{src1}, []netip.Addr{src2}, true},
		{"INCLUDE {} with a stray Excluded source is still empty",
			fdb.PortMembership{Mode: fdb.ModeInclude, Excluded: map[netip.Addr]struct{}{src1: {}}},
			true, nil, []netip.Addr{src1, src2}, false},
		{"EXCLUDE {} forwards everything", fdb.PortMembership{Mode: fdb.ModeExclude},
			false, []netip.Addr{src1, src2, src6a}, nil, true},
		{"EXCLUDE (X {S1}, Y {S2})", fdb.PortMembership{Mode: fdb.ModeExclude,
			Requested: map[netip.Addr]time.Time{src1: t0}, Excluded: map[netip.Addr]struct{}{src2: {}}},
			false, []netip.Addr{src1, src3}, []netip.Addr{src2}, true},
		{"EXCLUDE: Y wins over X", fdb.PortMembership{Mode: fdb.ModeExclude,
			Requested: map[netip.Addr]time.Time{src1: t0}, Excluded: map[netip.Addr]struct{}{src1: {}}},
			false, []netip.Addr{src2}, []netip.Addr{src1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.Empty(); got != tt.empty {
				t.Errorf("Empty() = %v, want %v", got, tt.empty)
			}
			for _, s := range tt.forwards {
				if !tt.m.Forwards(s) {
					t.Errorf("Forwards(%v) = false", s)
				}
			}
			for _, s := range tt.blocks {
				if tt.m.Forwards(s) {
					t.Errorf("Forwards(%v) = true", s)
				}
			}
			if got := tt.m.Forwards(mapped1); got != tt.forwards4 {
				t.Errorf("Forwards(%v) = %v, want %v (as %v)", mapped1, got, tt.forwards4, src1)
			}
		})
	}
}

// The forwarding rules of RFC 3376 s6.3, per port: a port in EXCLUDE gets
// every source but its Excluded list, a port in INCLUDE only its Requested
// list. Every result is also checked against PortMembership.Forwards of each
// port's stored membership, the definition the view must agree with.
func TestGroupLookupSemantics(t *testing.T) {
	type join struct {
		port fdb.PortID
		fn   func(*fdb.PortMembership)
	}
	type lookup struct {
		source netip.Addr
		want   []fdb.PortID
	}
	tests := []struct {
		name       string
		group      netip.Addr
		joins      []join
		registered bool
		lookups    []lookup
	}{
		{"INCLUDE {S1} and EXCLUDE {S2}: S1 to both, S2 to neither, S3 to the EXCLUDE port", grp4,
			[]join{{1, include(src1)}, {2, exclude(src2)}}, true,
			[]lookup{{src1, []fdb.PortID{1, 2}}, {src2, nil}, {src3, []fdb.PortID{2}}}},
		{"(*,G) join forwards every source", grp4,
			[]join{{4, exclude()}}, true,
			[]lookup{{src1, []fdb.PortID{4}}, {src6a, []fdb.PortID{4}}, {netip.Addr{}, []fdb.PortID{4}}}},
		{"INCLUDE ports get only their sources; the group stays registered for others", grp4,
			[]join{{1, include(src1, src2)}, {3, include(src2)}}, true,
			[]lookup{{src1, []fdb.PortID{1}}, {src2, []fdb.PortID{1, 3}}, {src3, nil}}},
		{"EXCLUDE (X, Y): X forwarded, Y not, the rest forwarded", grp4,
			[]join{{2, func(m *fdb.PortMembership) {
				exclude(src2)(m)
				m.Requested = map[netip.Addr]time.Time{src1: t0}
			}}}, true,
			[]lookup{{src1, []fdb.PortID{2}}, {src2, nil}, {src3, []fdb.PortID{2}}}},
		{"two EXCLUDE ports blocking different sources", grp4,
			[]join{{1, exclude(src1)}, {2, exclude(src2)}}, true,
			[]lookup{{src1, []fdb.PortID{2}}, {src2, []fdb.PortID{1}}, {src3, []fdb.PortID{1, 2}}}},
		{"a source in both X and Y is not forwarded", grp4,
			[]join{{2, func(m *fdb.PortMembership) {
				exclude(src1)(m)
				m.Requested = map[netip.Addr]time.Time{src1: t0}
			}}}, true,
			[]lookup{{src1, nil}, {src2, []fdb.PortID{2}}}},
		{"an INCLUDE port's stray Excluded list is ignored", grp4,
			[]join{{5, func(m *fdb.PortMembership) {
				include(src1)(m)
				m.Excluded = map[netip.Addr]struct{}{src2: {}}
			}}}, true,
			[]lookup{{src1, []fdb.PortID{5}}, {src2, nil}}},
		{"one port includes S1, another excludes it", grp4,
			[]join{{1, include(src1)}, {2, exclude(src1)}}, true,
			[]lookup{{src1, []fdb.PortID{1}}, {src2, []fdb.PortID{2}}}},
		{"IPv6 group and sources", grp6,
			[]join{{0, include(src6a)}, {9, exclude(src6b)}}, true,
			[]lookup{{src6a, []fdb.PortID{0, 9}}, {src6b, nil}, {src1, []fdb.PortID{9}}}},
		{"ports on the bitset's word boundaries", grp4,
			[]join{{63, include(src1)}, {64, exclude(src1)}, {255, exclude()}, {0, include(src2)}}, true,
			[]lookup{{src1, []fdb.PortID{63, 255}}, {src2, []fdb.PortID{0, 64, 255}}, {src3, []fdb.PortID{64, 255}}}},
		{"only empty memberships: not registered", grp4,
			[]join{{1, include()}, {2, leave}}, false,
			[]lookup{{src1, nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := fdb.NewGroupTable()
			for _, j := range tt.joins {
				tab.Update(10, tt.group, j.port, j.fn)
			}
			for _, l := range tt.lookups {
				wantLookupPorts(t, tab, 10, tt.group, l.source, tt.registered, l.want...)
				got, _ := tab.Lookup(10, tt.group, l.source)
				for _, j := range tt.joins {
					m, ok := tab.Get(10, tt.group, j.port)
					if want := ok && m.Forwards(l.source); got.Has(j.port) != want {
						t.Errorf("source %v: port %d in Lookup = %v, but Get = %v and Forwards = %v",
							l.source, j.port, got.Has(j.port), ok, want)
					}
				}
			}
			// Another VLAN knows nothing of the group.
			wantLookupPorts(t, tab, 11, tt.group, src1, false)
		})
	}
}

// Groups that share an Ethernet address are separate entries: the table is
// keyed by IP group, so members of one never receive another.
func TestGroupSharedMAC(t *testing.T) {
	tab := fdb.NewGroupTable()
	// Each set maps to one MAC: 01:00:5e:01:01:01, 33:33:ff:00:00:01.
	groups := []netip.Addr{
		netip.MustParseAddr("224.1.1.1"),
		netip.MustParseAddr("225.1.1.1"),
		netip.MustParseAddr("239.1.1.1"),
		netip.MustParseAddr("239.129.1.1"),
		netip.MustParseAddr("ff0e::1:ff00:1"),
		netip.MustParseAddr("ff05::1:ff00:1"),
	}
	for i, g := range groups {
		tab.Update(1, g, fdb.PortID(i), exclude())
	}
	if tab.Len() != len(groups) {
		t.Fatalf("Len() = %d, want %d", tab.Len(), len(groups))
	}
	for i, g := range groups {
		wantLookupPorts(t, tab, 1, g, src1, true, fdb.PortID(i))
	}
	// Same MAC, never joined.
	wantLookupPorts(t, tab, 1, netip.MustParseAddr("226.1.1.1"), src1, false)
	wantLookupPorts(t, tab, 1, netip.MustParseAddr("ff02::1:ff00:1"), src1, false)

	// Leaving one leaves the others alone.
	tab.Update(1, groups[0], 0, leave)
	wantLookupPorts(t, tab, 1, groups[0], src1, false)
	for i, g := range groups[1:] {
		wantLookupPorts(t, tab, 1, g, src1, true, fdb.PortID(i+1))
	}
}

// The same group in two VLANs is two entries.
func TestGroupPerVLAN(t *testing.T) {
	tab := fdb.NewGroupTable()
	tab.Update(1, grp4, 1, exclude())
	tab.Update(2, grp4, 2, include(src1))
	wantLookupPorts(t, tab, 1, grp4, src2, true, 1)
	wantLookupPorts(t, tab, 2, grp4, src2, true)
	wantLookupPorts(t, tab, 2, grp4, src1, true, 2)
	wantLookupPorts(t, tab, 3, grp4, src1, false)
	if tab.Len() != 2 {
		t.Errorf("Len() = %d, want 2", tab.Len())
	}
}

// One group, one key: an IPv4 group given IPv4-mapped, or an IPv6 group
// given with a zone, is the same entry; IPv4-mapped sources are stored and
// matched as IPv4.
func TestGroupKeyNormalization(t *testing.T) {
	tab := fdb.NewGroupTable()
	mappedGrp := netip.AddrFrom16(grp4.As16())
	mappedSrc := netip.AddrFrom16(src1.As16())

	tab.Update(1, mappedGrp, 1, include(mappedSrc))
	wantLookupPorts(t, tab, 1, grp4, src1, true, 1)
	wantLookupPorts(t, tab, 1, mappedGrp, mappedSrc, true, 1)
	wantLookupPorts(t, tab, 1, grp4, src2, true)
	tab.Update(1, grp4, 2, exclude(mappedSrc))
	wantLookupPorts(t, tab, 1, grp4, src1, true, 1)
	wantLookupPorts(t, tab, 1, grp4, src2, true, 2)
	if tab.Len() != 1 {
		t.Fatalf("Len() = %d, want 1", tab.Len())
	}

	m, ok := tab.Get(1, grp4, 1)
	if !ok || !slices.Equal(slices.Collect(maps.Keys(m.Requested)), []netip.Addr{src1}) {
		t.Errorf("Get(port 1).Requested = %v, %v; want the source stored as %v", m.Requested, ok, src1)
	}
	m, ok = tab.Get(1, mappedGrp, 2)
	if !ok || !slices.Equal(slices.Collect(maps.Keys(m.Excluded)), []netip.Addr{src1}) {
		t.Errorf("Get(port 2).Excluded = %v, %v; want the source stored as %v", m.Excluded, ok, src1)
	}
	gs := tab.Groups()
	if len(gs) != 1 || gs[0].Group != grp4 {
		t.Errorf("Groups() = %+v, want one entry for %v", gs, grp4)
	}

	// Both forms of one source in one list: one entry, the later expiry.
	tab.Update(1, grp4, 3, func(m *fdb.PortMembership) {
		m.Requested = map[netip.Addr]time.Time{src1: t0.Add(time.Second), mappedSrc: t0.Add(time.Minute)}
	})
	m, _ = tab.Get(1, grp4, 3)
	if len(m.Requested) != 1 || !m.Requested[src1].Equal(t0.Add(time.Minute)) {
		t.Errorf("Requested = %v, want {%v: t0+1m}", m.Requested, src1)
	}

	zoned := netip.MustParseAddr("ff02::1:3").WithZone("eth0")
	tab.Update(1, zoned, 4, exclude())
	wantLookupPorts(t, tab, 1, netip.MustParseAddr("ff02::1:3"), src6a, true, 4)
	wantLookupPorts(t, tab, 1, zoned, src6a, true, 4)
}

// Update does nothing, and does not call fn, for a group that is not
// multicast or a port beyond MaxPorts: snoop validates them before.
func TestGroupUpdateRejects(t *testing.T) {
	tab := fdb.NewGroupTable()
	for _, tt := range []struct {
		group netip.Addr
		port  fdb.PortID
	}{
		{netip.MustParseAddr("10.1.1.1"), 1},
		{netip.MustParseAddr("2001:db8::1"), 1},
		{netip.MustParseAddr("255.255.255.255"), 1},
		{netip.Addr{}, 1},
		{grp4, fdb.MaxPorts},
		{grp4, 0xffff},
	} {
		tab.Update(1, tt.group, tt.port, func(*fdb.PortMembership) {
			t.Errorf("Update(%v, port %d) called fn", tt.group, tt.port)
		})
		wantLookupPorts(t, tab, 1, tt.group, src1, false)
		if _, ok := tab.Get(1, tt.group, tt.port); ok {
			t.Errorf("Get(%v, port %d) found a membership", tt.group, tt.port)
		}
	}
	if tab.Len() != 0 || len(tab.Groups()) != 0 {
		t.Errorf("Len() = %d, Groups() = %v; want an empty table", tab.Len(), tab.Groups())
	}
}

// Every Update republishes the view, and an Update that leaves the port
// empty removes it, then the group.
func TestGroupViewAfterUpdate(t *testing.T) {
	tab := fdb.NewGroupTable()

	// An Update that leaves nothing never registers the group.
	called := false
	tab.Update(1, grp4, 1, func(m *fdb.PortMembership) {
		called = true
		if !m.Empty() || m.Mode != fdb.ModeInclude || m.Requested != nil {
			t.Errorf("new membership = %+v, want empty INCLUDE", *m)
		}
	})
	if !called || tab.Len() != 0 {
		t.Fatalf("no-op Update: fn called %v, Len %d; want true, 0", called, tab.Len())
	}
	wantLookupPorts(t, tab, 1, grp4, src1, false)

	tab.Update(1, grp4, 1, include(src1))
	wantLookupPorts(t, tab, 1, grp4, src1, true, 1)
	wantLookupPorts(t, tab, 1, grp4, src2, true)

	// INCLUDE -> EXCLUDE (a TO_EX).
	tab.Update(1, grp4, 1, exclude(src1))
	wantLookupPorts(t, tab, 1, grp4, src1, true)
	wantLookupPorts(t, tab, 1, grp4, src2, true, 1)

	// A refresh that changes only timers keeps forwarding as it was.
	tab.Update(1, grp4, 1, func(m *fdb.PortMembership) { m.GroupTimer = m.GroupTimer.Add(time.Minute) })
	wantLookupPorts(t, tab, 1, grp4, src1, true)
	wantLookupPorts(t, tab, 1, grp4, src2, true, 1)
	if m, _ := tab.Get(1, grp4, 1); !m.GroupTimer.Equal(t0.Add(260*time.Second + time.Minute)) {
		t.Errorf("GroupTimer = %v, want the refreshed one", m.GroupTimer)
	}

	// A no-op Update of another port does not add it.
	tab.Update(1, grp4, 2, func(*fdb.PortMembership) {})
	if _, ok := tab.Get(1, grp4, 2); ok {
		t.Errorf("a no-op Update stored an empty membership for port 2")
	}

	// EXCLUDE -> INCLUDE {S2} (group timer ran out with S2 running).
	tab.Update(1, grp4, 1, include(src2))
	wantLookupPorts(t, tab, 1, grp4, src1, true)
	wantLookupPorts(t, tab, 1, grp4, src2, true, 1)

	// Sources added and removed in place.
	tab.Update(1, grp4, 1, func(m *fdb.PortMembership) { m.Requested[src3] = t0 })
	wantLookupPorts(t, tab, 1, grp4, src3, true, 1)
	tab.Update(1, grp4, 1, func(m *fdb.PortMembership) { delete(m.Requested, src2) })
	wantLookupPorts(t, tab, 1, grp4, src2, true)
	wantLookupPorts(t, tab, 1, grp4, src3, true, 1)

	// One source swapped for another: the same number of sources, the
	// same mode, a different view.
	tab.Update(1, grp4, 1, func(m *fdb.PortMembership) {
		delete(m.Requested, src3)
		m.Requested[src1] = t0
	})
	wantLookupPorts(t, tab, 1, grp4, src1, true, 1)
	wantLookupPorts(t, tab, 1, grp4, src3, true)
	tab.Update(1, grp4, 1, exclude(src1))
	tab.Update(1, grp4, 1, func(m *fdb.PortMembership) { m.Excluded = map[netip.Addr]struct{}{src2: {}} })
	wantLookupPorts(t, tab, 1, grp4, src1, true, 1)
	wantLookupPorts(t, tab, 1, grp4, src2, true)

	tab.Update(1, grp4, 1, leave)
	wantLookupPorts(t, tab, 1, grp4, src3, false)
	if tab.Len() != 0 {
		t.Errorf("Len() = %d after the last port left", tab.Len())
	}
}

// ForEach, as snoop's timer tick uses it: fn changes memberships in place,
// and afterwards Empty ones are gone, empty groups are gone, and Lookup
// sees the new state.
func TestGroupViewAfterForEach(t *testing.T) {
	tab := fdb.NewGroupTable()
	g2 := netip.MustParseAddr("239.2.2.2")
	g3 := netip.MustParseAddr("239.3.3.3")
	tab.Update(1, grp4, 1, include(src1, src2))
	tab.Update(1, grp4, 2, func(m *fdb.PortMembership) {
		exclude()(m)
		m.Requested = map[netip.Addr]time.Time{src1: t0}
	})
	tab.Update(1, g2, 3, include(src1))
	tab.Update(2, g3, 4, exclude())

	// Source S1's timers run out everywhere: INCLUDE ports drop it, EXCLUDE
	// ports move it from X to Y (RFC 3376 s6.3).
	type visit struct {
		vlan  uint16
		group netip.Addr
		port  fdb.PortID
	}
	var visits []visit
	tab.ForEach(func(vlan uint16, group netip.Addr, port fdb.PortID, m *fdb.PortMembership) bool {
		visits = append(visits, visit{vlan, group, port})
		if _, ok := m.Requested[src1]; ok {
			delete(m.Requested, src1)
			if m.Mode == fdb.ModeExclude {
				if m.Excluded == nil {
					m.Excluded = make(map[netip.Addr]struct{})
				}
				m.Excluded[src1] = struct{}{}
			}
		}
		return true
	})
	slices.SortFunc(visits, func(a, b visit) int { return int(a.port) - int(b.port) })
	wantVisits := []visit{{1, grp4, 1}, {1, grp4, 2}, {1, g2, 3}, {2, g3, 4}}
	if !slices.Equal(visits, wantVisits) {
		t.Errorf("ForEach visited %v, want %v", visits, wantVisits)
	}
	wantLookupPorts(t, tab, 1, grp4, src1, true)
	wantLookupPorts(t, tab, 1, grp4, src2, true, 1, 2)
	wantLookupPorts(t, tab, 1, grp4, src3, true, 2)
	wantLookupPorts(t, tab, 1, g2, src1, false) // its only port became INCLUDE {}
	wantLookupPorts(t, tab, 2, g3, src1, true, 4)
	if tab.Len() != 2 {
		t.Errorf("Len() = %d, want 2", tab.Len())
	}

	// A walk that changes nothing changes no forwarding.
	n := 0
	tab.ForEach(func(uint16, netip.Addr, fdb.PortID, *fdb.PortMembership) bool { n++; return true })
	if n != 3 {
		t.Errorf("ForEach visited %d memberships, want 3", n)
	}
	wantLookupPorts(t, tab, 1, grp4, src2, true, 1, 2)
	wantLookupPorts(t, tab, 2, g3, src1, true, 4)
}

// fn returning false stops the walk after that call, and the group it was
// in is still cleaned up.
func TestGroupForEachStop(t *testing.T) {
	tab := fdb.NewGroupTable()
	for i := range 10 {
		tab.Update(1, netip.AddrFrom4([4]byte{239, 0, 0, byte(i)}), fdb.PortID(i), exclude())
	}
	var stopped netip.Addr
	calls := 0
	tab.ForEach(func(_ uint16, group netip.Addr, _ fdb.PortID, m *fdb.PortMembership) bool {
		calls++
		stopped = group
		leave(m)
		return false
	})
	if calls != 1 {
		t.Fatalf("ForEach made %d calls after fn returned false, want 1", calls)
	}
	if tab.Len() != 9 {
		t.Errorf("Len() = %d, want 9", tab.Len())
	}
	wantLookupPorts(t, tab, 1, stopped, src1, false)
}

// A timer tick that changes nothing publishes nothing and allocates
// nothing, however many groups there are.
func TestGroupForEachNoChangeAllocs(t *testing.T) {
	tab := fdb.NewGroupTable()
	for i := range 100 {
		g := netip.AddrFrom4([4]byte{239, 0, 0, byte(i)})
		tab.Update(1, g, 1, include(src1, src2))
		tab.Update(1, g, 2, exclude(src3))
	}
	tick := func(_ uint16, _ netip.Addr, _ fdb.PortID, m *fdb.PortMembership) bool {
		m.LastReport = t0 // not forwarding state
		return true
	}
	if n := testing.AllocsPerRun(10, func() { tab.ForEach(tick) }); n != 0 {
		t.Errorf("ForEach changing no forwarding: %v allocs per run, want 0", n)
	}
}

func TestGroupRemovePort(t *testing.T) {
	tab := fdb.NewGroupTable()
	g2 := netip.MustParseAddr("239.2.2.2")
	tab.Update(1, grp4, 1, exclude())
	tab.Update(1, grp4, 2, include(src1))
	tab.Update(1, g2, 1, include(src1))
	tab.Update(2, grp4, 1, exclude(src2))
	tab.Update(2, grp6, 3, exclude())

	if n := tab.RemovePort(1); n != 3 {
		t.Errorf("RemovePort(1) = %d, want 3", n)
	}
	wantLookupPorts(t, tab, 1, grp4, src1, true, 2)
	wantLookupPorts(t, tab, 1, grp4, src2, true)
	wantLookupPorts(t, tab, 1, g2, src1, false)
	wantLookupPorts(t, tab, 2, grp4, src1, false)
	wantLookupPorts(t, tab, 2, grp6, src1, true, 3)
	if tab.Len() != 2 {
		t.Errorf("Len() = %d, want 2", tab.Len())
	}
	if n := tab.RemovePort(1); n != 0 {
		t.Errorf("RemovePort(1) again = %d, want 0", n)
	}
	if n := tab.RemovePort(fdb.MaxPorts + 1); n != 0 {
		t.Errorf("RemovePort(%d) = %d, want 0", fdb.MaxPorts+1, n)
	}
}

// Get and Groups return copies that share nothing with the table.
func TestGroupCopiesAreDeep(t *testing.T) {
	tab := fdb.NewGroupTable()
	tab.Update(1, grp4, 1, func(m *fdb.PortMembership) {
		exclude(src2)(m)
		m.Requested = map[netip.Addr]time.Time{src1: t0}
	})
	tab.Update(1, grp4, 2, include(src3))

	m, ok := tab.Get(1, grp4, 1)
	if !ok || m.Mode != fdb.ModeExclude || len(m.Requested) != 1 || len(m.Excluded) != 1 {
		t.Fatalf("Get = %+v, %v", m, ok)
	}
	m.Mode = fdb.ModeInclude
	m.Requested[src3] = t0
	delete(m.Excluded, src2)

	gs := tab.Groups()
	if len(gs) != 1 || len(gs[0].Ports) != 2 {
		t.Fatalf("Groups() = %+v", gs)
	}
	p2 := gs[0].Ports[2]
	p2.Requested[src1] = t0
	delete(p2.Requested, src3)
	delete(gs[0].Ports, 1)

	wantLookupPorts(t, tab, 1, grp4, src1, true, 1)
	wantLookupPorts(t, tab, 1, grp4, src2, true)
	wantLookupPorts(t, tab, 1, grp4, src3, true, 1, 2)
	again, _ := tab.Get(1, grp4, 1)
	if again.Mode != fdb.ModeExclude || len(again.Requested) != 1 || len(again.Excluded) != 1 {
		t.Errorf("Get after changing a copy = %+v", again)
	}
	gs = tab.Groups()
	if len(gs[0].Ports) != 2 || len(gs[0].Ports[2].Requested) != 1 {
		t.Errorf("Groups() after changing a copy = %+v", gs)
	}
	if _, ok := tab.Get(1, grp4, 9); ok {
		t.Errorf("Get(port 9) found a membership")
	}
}

func TestGroupsSorted(t *testing.T) {
	tab := fdb.NewGroupTable()
	keys := []struct {
		vlan  uint16
		group string
	}{
		{1, "239.1.1.1"}, {1, "224.0.1.1"}, {1, "ff0e::1"}, {0, "ff02::1:3"},
		{2, "224.0.0.251"}, {0, "239.255.255.250"}, {1, "ff05::2"},
	}
	for i, k := range keys {
		tab.Update(k.vlan, netip.MustParseAddr(k.group), fdb.PortID(i), exclude())
	}
	var got []string
	for _, e := range tab.Groups() {
		got = append(got, fmt.Sprintf("%d %v", e.VLAN, e.Group))
	}
	want := []string{
		"0 239.255.255.250", "0 ff02::1:3",
		"1 224.0.1.1", "1 239.1.1.1", "1 ff05::2", "1 ff0e::1",
		"2 224.0.0.251",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Groups() order = %q, want %q", got, want)
	}
	if tab.Len() != len(keys) {
		t.Errorf("Len() = %d, want %d", tab.Len(), len(keys))
	}
}

// Lookup is the per-frame path: no allocation for a registered group with a
// listed source, a registered group with an unlisted source, or an
// unregistered group.
func TestGroupLookupAllocs(t *testing.T) {
	tab := fdb.NewGroupTable()
	tab.Update(1, grp4, 1, include(src1))
	tab.Update(1, grp4, 2, exclude(src2))
	tab.Update(1, grp6, 3, include(src6a))
	unregistered := netip.MustParseAddr("239.9.9.9")
	tests := []struct {
		name          string
		group, source netip.Addr
		want          []fdb.PortID
		wantOK        bool
	}{
		{"registered, source listed", grp4, src1, []fdb.PortID{1, 2}, true},
		{"registered, source not listed", grp4, src3, []fdb.PortID{2}, true},
		{"registered IPv6, source listed", grp6, src6a, []fdb.PortID{3}, true},
		{"unregistered", unregistered, src1, nil, false},
	}
	for _, tt := range tests {
		var got fdb.PortSet
		var ok bool
		n := testing.AllocsPerRun(1000, func() { got, ok = tab.Lookup(1, tt.group, tt.source) })
		if n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", tt.name, n)
		}
		if ok != tt.wantOK || !slices.Equal(got.Ports(), tt.want) {
			t.Errorf("%s: Lookup = %v, %v; want %v, %v", tt.name, got.Ports(), ok, tt.want, tt.wantOK)
		}
	}
}

// One goroutine looks up in a loop while another changes the table with
// Update, ForEach and RemovePort. Every state the writer publishes is one of
// a few known ones, so every Lookup result must be one of those: a torn or
// half-built view would show up as a result outside the set. Run with -race.
func TestGroupConcurrentLookup(t *testing.T) {
	const rounds = 2000
	tab := fdb.NewGroupTable()
	churn := netip.MustParseAddr("239.7.7.7")
	tab.Update(1, grp4, 3, exclude()) // stays throughout

	var done atomic.Bool
	var wg sync.WaitGroup
	var lookups atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		only3, both := portSetOf(3), portSetOf(3, 5)
		for !done.Load() {
			// Port 5 is INCLUDE {S1} (S1 yes, S2 no), EXCLUDE {S1}
			// (S1 no, S2 yes), or absent.
			p1, ok1 := tab.Lookup(1, grp4, src1)
			p2, ok2 := tab.Lookup(1, grp4, src2)
			if !ok1 || !ok2 || (p1 != only3 && p1 != both) || (p2 != only3 && p2 != both) {
				t.Errorf("Lookup(%v) = %v, %v / %v, %v; want [3] or [3 5], registered", grp4, p1.Ports(), ok1, p2.Ports(), ok2)
				return
			}
			// The churned group is either absent or port 7's (*,G).
			if p, ok := tab.Lookup(1, churn, src1); ok != (p == portSetOf(7)) {
				t.Errorf("Lookup(%v) = %v, %v; want [7], true or [], false", churn, p.Ports(), ok)
				return
			}
			lookups.Add(1)
		}
	}()

	for i := range rounds {
		switch i % 4 {
		case 0:
			tab.Update(1, grp4, 5, include(src1))
		case 1:
			tab.Update(1, grp4, 5, exclude(src1))
		case 2:
			// The tick: EXCLUDE's group timer runs out, S1 stays blocked
			// no more; INCLUDE ports flip the other way.
			tab.ForEach(func(_ uint16, g netip.Addr, p fdb.PortID, m *fdb.PortMembership) bool {
				if g == grp4 && p == 5 {
					if m.Mode == fdb.ModeExclude {
						include(src1)(m)
					} else {
						exclude(src1)(m)
					}
				}
				return true
			})
		case 3:
			tab.RemovePort(5)
		}
		// Insert and delete groups, so that the index map grows and
		// shrinks under the readers.
		if i%2 == 0 {
			tab.Update(1, churn, 7, exclude())
			for j := range 8 {
				tab.Update(2, netip.AddrFrom4([4]byte{239, 8, byte(i >> 8), byte(j)}), 1, exclude())
			}
		} else {
			tab.Update(1, churn, 7, leave)
			tab.RemovePort(1)
		}
		_ = tab.Groups()
		_ = tab.Len()
	}
	done.Store(true)
	wg.Wait()
	if lookups.Load() == 0 {
		t.Errorf("the reader made no lookups")
	}
}

// benchGroups installs n IPv4 groups in VLAN 1, each with an INCLUDE port
// for two sources and an EXCLUDE port blocking a third, and returns the
// group addresses.
func benchGroups(b *testing.B, n int) (*fdb.GroupTable, []netip.Addr) {
	tab := fdb.NewGroupTable()
	groups := make([]netip.Addr, n)
	for i := range groups {
		groups[i] = netip.AddrFrom4([4]byte{239, byte(i >> 16), byte(i >> 8), byte(i)})
		tab.Update(1, groups[i], fdb.PortID(i%8), include(src1, src2))
		tab.Update(1, groups[i], fdb.PortID(8+i%8), exclude(src3))
	}
	if tab.Len() != n {
		b.Fatalf("Len() = %d, want %d", tab.Len(), n)
	}
	return tab, groups
}

// BenchmarkGroupLookup is the data plane's per-frame group lookup, cycling
// over every installed group with a listed source.
func BenchmarkGroupLookup(b *testing.B) {
	for _, n := range []int{1, 1000, 100000} {
		b.Run(fmt.Sprintf("groups=%d", n), func(b *testing.B) {
			tab, groups := benchGroups(b, n)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, ok := tab.Lookup(1, groups[i], src1); !ok {
					b.Fatal("Lookup missed")
				}
				if i++; i == len(groups) {
					i = 0
				}
			}
		})
	}
}

// BenchmarkGroupLookupParallel is BenchmarkGroupLookup from GOMAXPROCS
// goroutines, as RX workers call it; it shows what the shared read lock on
// the index costs.
func BenchmarkGroupLookupParallel(b *testing.B) {
	for _, n := range []int{1, 1000, 100000} {
		b.Run(fmt.Sprintf("groups=%d", n), func(b *testing.B) {
			tab, groups := benchGroups(b, n)
			var worker atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(worker.Add(1)*7919) % len(groups)
				for pb.Next() {
					tab.Lookup(1, groups[i], src1)
					if i++; i == len(groups) {
						i = 0
					}
				}
			})
		})
	}
}

// BenchmarkGroupUpdateRefresh is the commonest report: a member refreshes
// its group timer, which changes no forwarding.
func BenchmarkGroupUpdateRefresh(b *testing.B) {
	tab, groups := benchGroups(b, 1000)
	refresh := func(m *fdb.PortMembership) { m.GroupTimer = t0.Add(time.Hour) }
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tab.Update(1, groups[i], fdb.PortID(8+i%8), refresh)
		if i++; i == len(groups) {
			i = 0
		}
	}
}

// BenchmarkGroupForEachTick walks 100000 groups changing no forwarding, as
// a timer tick with nothing to expire does.
func BenchmarkGroupForEachTick(b *testing.B) {
	tab, _ := benchGroups(b, 100000)
	tick := func(uint16, netip.Addr, fdb.PortID, *fdb.PortMembership) bool { return true }
	b.ReportAllocs()
	for b.Loop() {
		tab.ForEach(tick)
	}
}

// The signatures of the contract that snoop and switching build against
// (issue 3): changing one breaks this file before it breaks them.
var (
	_ func(*fdb.PortSet, fdb.PortID)                                                                        = (*fdb.PortSet).Add
	_ func(*fdb.PortSet, fdb.PortID)                                                                        = (*fdb.PortSet).Remove
	_ func(fdb.PortSet, fdb.PortID) bool                                                                    = fdb.PortSet.Has
	_ func(fdb.PortSet) bool                                                                                = fdb.PortSet.IsEmpty
	_ func(fdb.PortSet) int                                                                                 = fdb.PortSet.Len
	_ func(fdb.PortSet, fdb.PortSet) fdb.PortSet                                                            = fdb.PortSet.Union
	_ func(fdb.PortSet, fdb.PortSet) fdb.PortSet                                                            = fdb.PortSet.Minus
	_ func(fdb.PortSet, fdb.PortID) (fdb.PortID, bool)                                                      = fdb.PortSet.Next
	_ func(fdb.PortSet) []fdb.PortID                                                                        = fdb.PortSet.Ports
	_ func(fdb.FilterMode) string                                                                           = fdb.FilterMode.String
	_ func(*fdb.PortMembership) bool                                                                        = (*fdb.PortMembership).Empty
	_ func(*fdb.PortMembership, netip.Addr) bool                                                            = (*fdb.PortMembership).Forwards
	_ func() *fdb.GroupTable                                                                                = fdb.NewGroupTable
	_ func(*fdb.GroupTable, uint16, netip.Addr, netip.Addr) (fdb.PortSet, bool)                             = (*fdb.GroupTable).Lookup
	_ func(*fdb.GroupTable, uint16, netip.Addr, fdb.PortID, func(*fdb.PortMembership))                      = (*fdb.GroupTable).Update
	_ func(*fdb.GroupTable, uint16, netip.Addr, fdb.PortID) (fdb.PortMembership, bool)                      = (*fdb.GroupTable).Get
	_ func(*fdb.GroupTable, func(uint16, netip.Addr, fdb.PortID, *fdb.PortMembership) bool)                 = (*fdb.GroupTable).ForEach
	_ func(*fdb.GroupTable, fdb.PortID) int                                                                 = (*fdb.GroupTable).RemovePort
	_ func(*fdb.GroupTable, uint16, netip.Addr, func(fdb.PortID, *fdb.PortMembership))                      = (*fdb.GroupTable).UpdateGroup
	_ func(*fdb.GroupTable, func(*fdb.PortMembership) time.Time)                                            = (*fdb.GroupTable).ScheduleBy
	_ func(*fdb.GroupTable, time.Time, func(uint16, netip.Addr, fdb.PortID, *fdb.PortMembership)) time.Time = (*fdb.GroupTable).ExpireDue
	_ func(*fdb.GroupTable) []fdb.GroupEntry                                                                = (*fdb.GroupTable).Groups
	_ func(*fdb.GroupTable) int                                                                             = (*fdb.GroupTable).Len
	_                                                                                                       = fdb.GroupEntry{VLAN: 0, Group: netip.Addr{}, Ports: map[fdb.PortID]fdb.PortMembership{}}
)

func TestGroupTableEntries(t *testing.T) {
	tab := fdb.NewGroupTable()
	g1, g2, g3 := netip.MustParseAddr("239.1.1.1"), netip.MustParseAddr("239.1.1.2"), netip.MustParseAddr("ff3e::1")
	s1, s2 := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	at := func(sec int) time.Time { return time.Unix(int64(sec), 0) }
	// Port 1: (*,G1) excluding s1 = 2 entries, reported at 10.
	tab.Update(0, g1, 1, func(m *fdb.PortMembership) {
		m.Mode, m.GroupTimer, m.LastReport = fdb.ModeExclude, at(100), at(10)
		m.Excluded = map[netip.Addr]struct{}{s1: {}}
	})
	// Port 1: INCLUDE {s1, s2} for G2 = 2 entries, reported at 5 (older).
	tab.Update(0, g2, 1, func(m *fdb.PortMembership) {
		m.Requested, m.LastReport = map[netip.Addr]time.Time{s1: at(100), s2: at(100)}, at(5)
	})
	// Port 2: (*,G3) = 1 entry.
	tab.Update(0, g3, 2, func(m *fdb.PortMembership) { m.Mode, m.GroupTimer = fdb.ModeExclude, at(100) })
	if got := [3]int{tab.Entries(), tab.PortEntries(1), tab.PortEntries(2)}; got != [3]int{5, 4, 1} {
		t.Fatalf("Entries, PortEntries(1), PortEntries(2) = %v; want [5 4 1]", got)
	}
	// Callbacks see the counters as they were before the call.
	tab.Update(0, g2, 1, func(m *fdb.PortMembership) {
		if n := tab.PortEntries(1); n != 4 {
			t.Errorf("PortEntries(1) inside Update = %d, want 4", n)
		}
		delete(m.Requested, s2)
	})
	if tab.PortEntries(1) != 3 || tab.Entries() != 4 {
		t.Fatalf("after dropping a source: port 1 %d, all %d; want 3, 4", tab.PortEntries(1), tab.Entries())
	}
	// A timer walk that empties a membership uncounts it.
	tab.ForEach(func(_ uint16, g netip.Addr, _ fdb.PortID, m *fdb.PortMembership) bool {
		if g == g2 {
			clear(m.Requested)
		}
		return true
	})
	if tab.PortEntries(1) != 2 || tab.Entries() != 3 {
		t.Fatalf("after ForEach: port 1 %d, all %d; want 2, 3", tab.PortEntries(1), tab.Entries())
	}
	tab.RemovePort(2)
	if tab.PortEntries(2) != 0 || tab.Entries() != 2 {
		t.Fatalf("after RemovePort(2): port 2 %d, all %d; want 0, 2", tab.PortEntries(2), tab.Entries())
	}
}

func TestGroupTableEvictOldest(t *testing.T) {
	tab := fdb.NewGroupTable()
	at := func(sec int) time.Time { return time.Unix(int64(sec), 0) }
	join := func(g string, port fdb.PortID, last int) {
		tab.Update(0, netip.MustParseAddr(g), port, func(m *fdb.PortMembership) {
			m.Mode, m.GroupTimer, m.LastReport = fdb.ModeExclude, at(1000), at(last)
		})
	}
	join("239.0.0.1", 1, 30)
	join("239.0.0.2", 1, 10) // oldest
	join("239.0.0.3", 1, 20)
	join("239.0.0.2", 2, 1) // another port's: never evicted for port 1
	keep := netip.MustParseAddr("239.0.0.4")
	join(keep.String(), 1, 0) // older still, but the one being changed
	if got := tab.EvictOldest(1, 0, keep, 2); got != 2 {
		t.Fatalf("EvictOldest freed %d entries, want 2", got)
	}
	for g, want := range map[string]bool{"239.0.0.1": true, "239.0.0.2": false, "239.0.0.3": false, "239.0.0.4": true} {
		if _, ok := tab.Get(0, netip.MustParseAddr(g), 1); ok != want {
			t.Errorf("port 1 member of %s: %v, want %v", g, ok, want)
		}
	}
	if _, ok := tab.Get(0, netip.MustParseAddr("239.0.0.2"), 2); !ok {
		t.Error("port 2 lost its membership of 239.0.0.2")
	}
	if tab.PortEntries(1) != 2 || tab.Entries() != 3 {
		t.Fatalf("after eviction: port 1 %d, all %d; want 2, 3", tab.PortEntries(1), tab.Entries())
	}
	// Nothing left to evict but the kept group.
	tab.EvictOldest(1, 0, keep, 5)
	if got := tab.EvictOldest(1, 0, keep, 1); got != 0 {
		t.Fatalf("EvictOldest with only the kept group freed %d", got)
	}
}

// Tracked hosts are an overlay: they change no forwarding, are deep-copied
// by Get and Groups, counted per port (one per host, one per source it
// lists), and uncounted with their membership.
func TestGroupTableHosts(t *testing.T) {
	tab := fdb.NewGroupTable()
	h1, h2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	tab.Update(0, grp4, 1, func(m *fdb.PortMembership) {
		include(src1, src2)(m)
		m.Hosts = map[netip.Addr]fdb.HostMembership{
			h1: {Mode: fdb.ModeInclude, Sources: map[netip.Addr]struct{}{src1: {}}, Expires: t0},
			h2: {Mode: fdb.ModeExclude, Sources: map[netip.Addr]struct{}{src1: {}, src2: {}}, Expires: t0},
		}
	})
	tab.Update(0, grp6, 2, func(m *fdb.PortMembership) {
		m.Mode, m.GroupTimer = fdb.ModeExclude, t0
		m.Hosts = map[netip.Addr]fdb.HostMembership{netip.MustParseAddr("fe80::1"): {Mode: fdb.ModeExclude}}
	})
	if got := [2]int{tab.PortHostEntries(1), tab.PortHostEntries(2)}; got != [2]int{5, 1} {
		t.Fatalf("PortHostEntries(1), PortHostEntries(2) = %v; want [5 1]", got)
	}
	wantLookupPorts(t, tab, 0, grp4, src1, true, 1)
	wantLookupPorts(t, tab, 0, grp4, src3, true)

	m, _ := tab.Get(0, grp4, 1)
	delete(m.Hosts[h1].Sources, src1)
	delete(m.Hosts, h2)
	again, _ := tab.Get(0, grp4, 1)
	if len(again.Hosts) != 2 || len(again.Hosts[h1].Sources) != 1 {
		t.Fatalf("Get after changing a copy's hosts = %+v", again.Hosts)
	}
	h := again.Hosts[h2]
	if h.Wants(src1) || !h.Wants(src3) || !again.Hosts[h1].Wants(src1) || again.Hosts[h1].Wants(src2) {
		t.Errorf("Wants: EXCLUDE {src1, src2} and INCLUDE {src1} answer wrongly")
	}

	// The membership ends (INCLUDE {}): its hosts go with it.
	tab.Update(0, grp4, 1, func(m *fdb.PortMembership) { clear(m.Requested) })
	if tab.PortHostEntries(1) != 0 {
		t.Errorf("PortHostEntries(1) after the membership ended = %d, want 0", tab.PortHostEntries(1))
	}
	tab.RemovePort(2)
	if tab.PortHostEntries(2) != 0 {
		t.Errorf("PortHostEntries(2) after RemovePort = %d, want 0", tab.PortHostEntries(2))
	}
}

// TestGroupTableChanged: the SetChanged hook is called after a group is
// added, its forwarding view republished, and the group removed, and not
// for an update that leaves forwarding as it was.
func TestGroupTableChanged(t *testing.T) {
	tab := fdb.NewGroupTable()
	calls := 0
	tab.SetChanged(func() { calls++ })
	g := netip.MustParseAddr("239.1.1.1")
	step := func(name string, want int, do func()) {
		t.Helper()
		before := calls
		do()
		if got := calls - before; got != want {
			t.Errorf("%s: hook called %d times, want %d", name, got, want)
		}
	}
	step("join", 1, func() { tab.Update(0, g, 1, func(m *fdb.PortMembership) { m.Mode = fdb.ModeExclude }) })
	step("refresh", 0, func() { tab.Update(0, g, 1, func(m *fdb.PortMembership) { m.Mode = fdb.ModeExclude }) })
	step("second port", 1, func() { tab.Update(0, g, 2, func(m *fdb.PortMembership) { m.Mode = fdb.ModeExclude }) })
	step("port removed", 1, func() { tab.RemovePort(2) })
	step("group gone", 1, func() { tab.Update(0, g, 1, func(m *fdb.PortMembership) { *m = fdb.PortMembership{} }) })
}
