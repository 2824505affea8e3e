package snoop_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/snoop"
)

// limitHarness is a Membership whose Admit is a real guard's AllowNewEntry
// with a switch-wide limit.
type limitHarness struct {
	*memHarness
	g *guard.Guard
}

func newLimitHarness(t *testing.T, switchLimit int, policies ...guard.PortPolicy) *limitHarness {
	t.Helper()
	g, err := guard.New(policies)
	if err != nil {
		t.Fatal(err)
	}
	h := &limitHarness{g: g}
	h.memHarness = newMemHarness(t, func(c *snoop.MembershipConfig) {
		c.Admit = func(port fdb.PortID, portEntries, evictable, switchEntries int) (bool, bool) {
			return g.AllowNewEntry(port, portEntries, evictable, switchEntries, switchLimit)
		}
	})
	return h
}

// join sends an IGMPv2 report for group n (239.0.x.y) on port at second sec.
func (h *limitHarness) join(port fdb.PortID, n int, sec int) {
	g := netip.AddrFrom4([4]byte{239, 0, byte(n >> 8), byte(n)})
	h.m.Report(memVLAN, port, &snoop.Message{Type: snoop.MsgIGMPv2Report, Family: 4, Src: memIGMP.host, Group: g}, memT0.Add(time.Duration(sec)*time.Second))
}

func (h *limitHarness) member(port fdb.PortID, n int) bool {
	_, ok := h.tab.Get(memVLAN, netip.AddrFrom4([4]byte{239, 0, byte(n >> 8), byte(n)}), port)
	return ok
}

func limited(limit int, action guard.LimitAction) guard.PortPolicy {
	p := guard.HostPortDefaults()
	p.GroupLimit, p.LimitAction = limit, action
	return p
}

func TestGroupLimitDeny(t *testing.T) {
	h := newLimitHarness(t, 0, limited(3, guard.LimitDeny), limited(3, guard.LimitDeny))
	for n := range 10 {
		h.join(1, n, 0)
	}
	h.join(0, 100, 0) // another port is not affected by port 1's flood
	for n := range 10 {
		if got, want := h.member(1, n), n < 3; got != want {
			t.Errorf("port 1 member of group %d: %v, want %v", n, got, want)
		}
	}
	if !h.member(0, 100) {
		t.Error("port 0's join was refused because of port 1's")
	}
	if c := h.g.Counters(1)["group-limit"]; c != 7 {
		t.Errorf("port 1 group-limit = %d, want 7", c)
	}
	if h.tab.PortEntries(1) != 3 {
		t.Errorf("port 1 holds %d entries, want 3", h.tab.PortEntries(1))
	}
	// A refresh of a group it has is not a new entry.
	h.join(1, 0, 1)
	if c := h.g.Counters(1)["group-limit"]; c != 7 {
		t.Errorf("refreshing a held group counted as refused (%d)", c)
	}
}

func TestGroupLimitReplace(t *testing.T) {
	h := newLimitHarness(t, 0, limited(3, guard.LimitDeny), limited(3, guard.LimitReplace))
	h.join(0, 50, 0) // port 0's group, oldest of all
	for n := range 5 {
		h.join(1, n, n+1) // groups 0..4 at seconds 1..5
	}
	// Port 1 keeps its three most recent: 2, 3, 4.
	for n := range 5 {
		if got, want := h.member(1, n), n >= 2; got != want {
			t.Errorf("port 1 member of group %d: %v, want %v", n, got, want)
		}
	}
	if !h.member(0, 50) {
		t.Error("replace evicted another port's group")
	}
	if h.tab.PortEntries(1) != 3 || h.g.Counters(1)["group-limit"] != 0 {
		t.Errorf("port 1: %d entries, group-limit %d; want 3, 0", h.tab.PortEntries(1), h.g.Counters(1)["group-limit"])
	}
}

func TestGroupLimitSwitchWide(t *testing.T) {
	h := newLimitHarness(t, 4, limited(0, guard.LimitDeny), limited(0, guard.LimitDeny), limited(10, guard.LimitReplace))
	for n := range 3 {
		h.join(0, n, 0)
	}
	h.join(1, 10, 0) // the 4th entry fills the switch
	h.join(1, 11, 0) // refused: the table is full, and no port's entry is evicted for it
	h.join(2, 20, 0) // refused: port 2 (replace) has nothing of its own to replace
	if h.member(1, 11) || h.member(2, 20) || h.tab.Entries() != 4 {
		t.Fatalf("switch limit 4 let in more: %d entries", h.tab.Entries())
	}
	for n := range 3 {
		if !h.member(0, n) {
			t.Errorf("port 0 lost group %d to another port's join", n)
		}
	}
	if h.g.Counters(1)["group-limit"] != 1 || h.g.Counters(2)["group-limit"] != 1 {
		t.Errorf("group-limit counters: port 1 %d, port 2 %d; want 1, 1", h.g.Counters(1)["group-limit"], h.g.Counters(2)["group-limit"])
	}
}

// TestGroupLimitSources: sources count as entries, so a report cannot grow a
// port's state past its limit through one group's source lists.
func TestGroupLimitSources(t *testing.T) {
	for _, f := range memFamilies {
		t.Run(f.name, func(t *testing.T) {
			h := newLimitHarness(t, 0, limited(4, guard.LimitDeny))
			now := memT0
			// INCLUDE {1..6}: four sources fit.
			h.m.Report(memVLAN, 0, f.report(f.rec(snoop.ModeIsInclude, 1, 2, 3, 4, 5, 6)), now)
			if s := h.get(f, 0); len(s.Requested) != 4 {
				t.Fatalf("INCLUDE with limit 4 holds %v", s)
			}
			// TO_EX {1, 9}: the (*,G) entry and (B-A) = {9} need room; A-B
			// ({2,3,4} of the four held) is freed first, so both fit:
			// EXCLUDE ({1}, {9}) is 3 entries.
			h.m.Report(memVLAN, 0, f.report(f.rec(snoop.ChangeToExclude, 1, 9)), now)
			want := memState{Mode: fdb.ModeExclude, Requested: map[int]time.Duration{1: memGMI}, Excluded: []int{9}, GroupTimer: memGMI}
			h.wantState(f, 0, want)
			if n := h.tab.PortEntries(0); n != 3 {
				t.Fatalf("PortEntries = %d, want 3", n)
			}
			// ALLOW {20, 21, 22}: one more fits (4), the rest are refused.
			h.m.Report(memVLAN, 0, f.report(f.rec(snoop.AllowNewSources, 20, 21, 22)), now)
			if n := h.tab.PortEntries(0); n != 4 {
				t.Fatalf("PortEntries after ALLOW = %d, want 4", n)
			}
			if c := h.g.Counters(0)["group-limit"]; c != 2+2 {
				t.Errorf("group-limit = %d, want 4 (two INCLUDE sources, two ALLOW sources)", c)
			}
		})
	}
}

// TestGroupLimitRefusedJoinChangesNothing: a (*,G) join refused at the limit
// leaves the port's INCLUDE state of that group as it was.
func TestGroupLimitRefusedJoinChangesNothing(t *testing.T) {
	h := newLimitHarness(t, 0, limited(2, guard.LimitDeny))
	f := memIGMP
	h.m.Report(memVLAN, 0, f.report(f.rec(snoop.ModeIsInclude, 1)), memT0)
	h.join(0, 7, 0) // the second entry: now at the limit
	// TO_EX {} would free source 1 and add (*,G): 2 - 1 + 1 = 2 fits.
	// TO_EX {5} needs (*,G) and 5 excluded: the exclusion is refused.
	h.m.Report(memVLAN, 0, f.report(f.rec(snoop.ChangeToExclude, 5)), memT0)
	h.wantState(f, 0, memState{Mode: fdb.ModeExclude, GroupTimer: memGMI})
	if h.g.Counters(0)["group-limit"] != 1 {
		t.Errorf("group-limit = %d, want 1", h.g.Counters(0)["group-limit"])
	}
	// A new group's join at the limit is refused whole.
	h.join(0, 8, 0)
	if h.member(0, 8) || h.tab.PortEntries(0) != 2 {
		t.Fatalf("join past the limit: member %v, entries %d", h.member(0, 8), h.tab.PortEntries(0))
	}
}

// TestFloodedGroupsUseNoLimit: a host with IPv6 on reports its
// solicited-node groups, mDNS and other link-scope groups, and may report
// 224.0.0.0/24 groups; the switch floods all of them whatever the reports
// say, so they hold no state and count against neither the port's limit
// nor the switch's. A limit of N then admits exactly N entries of groups
// snooping restricts.
func TestFloodedGroupsUseNoLimit(t *testing.T) {
	for _, tc := range []struct {
		name        string
		switchLimit int
		portLimit   int
	}{
		{"port limit", 0, 2},
		{"switch limit", 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newLimitHarness(t, tc.switchLimit, limited(tc.portLimit, guard.LimitDeny))
			var recs []snoop.Record
			for _, g := range []string{"ff02::1:ff00:1", "ff02::1:ff00:2", "ff02::1:ff00:3", "ff02::fb", "ff02::2", "ff12::1:2", "ff01::1:3"} {
				recs = append(recs, snoop.Record{Type: snoop.ModeIsExclude, Group: netip.MustParseAddr(g)})
			}
			h.m.Report(memVLAN, 0, memMLD.report(recs...), memT0)
			h.m.Report(memVLAN, 0, &snoop.Message{Type: snoop.MsgIGMPv2Report, Family: 4, Src: memIGMP.host, Group: netip.MustParseAddr("224.0.0.251")}, memT0)
			h.m.Report(memVLAN, 0, &snoop.Message{Type: snoop.MsgMLDv1Report, Family: 6, Src: memMLD.host, Group: netip.MustParseAddr("ff02::1:ff00:9")}, memT0)
			if n := h.tab.Len(); n != 0 {
				t.Fatalf("always-flooded groups hold %d table entries, want none: %v", n, h.tab.Groups())
			}
			for n := range 3 {
				h.join(0, n, 1)
			}
			for n := range 3 {
				if got, want := h.member(0, n), n < 2; got != want {
					t.Errorf("member of group %d: %v, want %v", n, got, want)
				}
			}
			if e := h.tab.PortEntries(0); e != 2 {
				t.Errorf("port holds %d entries, want exactly the limit, 2", e)
			}
			if c := h.g.Counters(0)["group-limit"]; c != 1 {
				t.Errorf("group-limit = %d, want 1 (the third IPv4 group only)", c)
			}
		})
	}
}
