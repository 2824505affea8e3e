package snoop_test

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/snoop"
)

// Tick runs a membership when its earliest timer comes, and only then: a
// timer the elected querier's group-specific query lowered fires on time,
// a membership refreshed since its timer was filed is not expired at the
// old time, and Tick always returns the earliest timer left.
func TestTickRunsWhatIsDue(t *testing.T) {
	for _, f := range memFamilies {
		t.Run(f.name, func(t *testing.T) {
			h := newMemHarness(t, nil)
			s := time.Second
			h.m.Report(memVLAN, 1, f.olderReport(), memT0)
			h.m.Report(memVLAN, 2, f.olderReport(), memT0)
			h.m.Report(memVLAN, 1, f.olderReport(), memT0.Add(100*s)) // port 1 refreshed
			if next := h.m.Tick(memT0.Add(50 * s)); !next.Equal(memT0.Add(memGMI)) {
				t.Fatalf("Tick returned t0+%v, want t0+%v (port 2)", memSince(next), memGMI)
			}
			// The querier asks; only port 2's host answers.
			h.m.QuerySeen(memVLAN, 0, f.groupQuery(s), memT0.Add(200*s))
			if next := h.m.Tick(memT0.Add(200 * s)); !next.Equal(memT0.Add(202 * s)) {
				t.Fatalf("after the query: Tick returned t0+%v, want the lowered t0+202s", memSince(next))
			}
			h.m.Report(memVLAN, 2, f.olderReport(), memT0.Add(201*s))
			if next := h.m.Tick(memT0.Add(202 * s)); !next.Equal(memT0.Add(201*s + memGMI)) {
				t.Errorf("at t0+202s: Tick returned t0+%v, want port 2's t0+%v", memSince(next), 201*s+memGMI)
			}
			if h.has(f, 1) {
				t.Errorf("port 1 still a member after its lowered timer ran out")
			}
			// Port 2's first timer (t0+GMI) and the lowered one are long
			// gone from its state; neither expires it.
			for _, at := range []time.Duration{memGMI, 100*s + memGMI} {
				h.m.Tick(memT0.Add(at))
				h.wantState(f, 2, memState{Mode: memExc, GroupTimer: 201*s + memGMI})
			}
			if next := h.m.Tick(memT0.Add(201*s + memGMI)); !next.IsZero() || h.has(f, 2) {
				t.Errorf("at port 2's timer: Tick returned t0+%v, port 2 present %v; want zero, gone", memSince(next), h.has(f, 2))
			}
		})
	}
}

// A group-specific query touches only its group: the timers of the same
// group in another VLAN, and of other groups, stay.
func TestQuerySeenTouchesOnlyItsGroup(t *testing.T) {
	f := memIGMP
	h := newMemHarness(t, nil)
	other := netip.MustParseAddr("239.9.9.9")
	h.m.Report(memVLAN, 1, f.olderReport(), memT0)
	h.m.Report(memVLAN+1, 1, f.olderReport(), memT0)
	h.m.Report(memVLAN, 1, &snoop.Message{Type: f.older, Family: 4, Src: f.host, Group: other}, memT0)
	h.m.QuerySeen(memVLAN, 0, f.groupQuery(time.Second), memT0.Add(time.Second))
	h.wantState(f, 1, memState{Mode: memExc, GroupTimer: 3 * time.Second})
	for _, k := range []struct {
		vlan  uint16
		group netip.Addr
	}{{memVLAN + 1, f.group}, {memVLAN, other}} {
		if p, _ := h.tab.Get(k.vlan, k.group, 1); !p.GroupTimer.Equal(memT0.Add(memGMI)) {
			t.Errorf("vlan %d %v: group timer t0+%v, want t0+%v", k.vlan, k.group, memSince(p.GroupTimer), memGMI)
		}
	}
}

// PortDown and Revoke leave nothing behind that expires a membership made
// afterwards, and the snooper's next time is that of what is left.
func TestRemovedMembershipsLeaveNoTimers(t *testing.T) {
	s := snoop.New(snoop.Config{Querier: snoop.QuerierConfig{Disabled: true}})
	gmi := snoop.DefaultTimers().GroupMembershipInterval()
	join := func(port fdb.PortID, group string, at time.Time) {
		t.Helper()
		if v := s.Control(0, port, 0x0800, igmpv2Report("198.18.0.1", group), allPorts, at); v.Drop != 0 {
			t.Fatalf("report dropped: %s", v.Drop)
		}
	}
	member := func(port fdb.PortID, group string) bool {
		_, ok := s.Groups().Get(0, wireAddr(group), port)
		return ok
	}
	join(1, "239.1.1.1", t0)
	join(2, "239.1.1.2", t0)
	join(3, "239.1.1.3", t0.Add(time.Minute))
	if n := s.PortDown(1); n != 1 {
		t.Fatalf("PortDown(1) removed %d memberships, want 1", n)
	}
	s.Revoke(func(port fdb.PortID, _, _ netip.Addr) bool { return port != 2 })
	if member(2, "239.1.1.2") {
		t.Fatalf("Revoke left port 2's membership")
	}
	if _, next := s.Tick(t0.Add(time.Second)); !next.Equal(t0.Add(time.Minute + gmi)) {
		t.Errorf("Tick returned t0+%v, want port 3's t0+%v", next.Sub(t0), time.Minute+gmi)
	}
	// The ports join again later; their old timers must not end them.
	join(1, "239.1.1.1", t0.Add(2*time.Minute))
	join(2, "239.1.1.2", t0.Add(2*time.Minute))
	s.Tick(t0.Add(gmi))
	if !member(1, "239.1.1.1") || !member(2, "239.1.1.2") {
		t.Errorf("at the removed memberships' old timers: port 1 member %v, port 2 member %v; want both", member(1, "239.1.1.1"), member(2, "239.1.1.2"))
	}
	s.Tick(t0.Add(2*time.Minute + gmi))
	if member(1, "239.1.1.1") || member(2, "239.1.1.2") || member(3, "239.1.1.3") {
		t.Errorf("memberships left after every timer ran out")
	}
}

// A tick whose due memberships were all refreshed, as hosts answering
// queries keep them, allocates nothing once the table's scratch lists and
// its timer wheel's slots have grown to the tick's size (rounds 0 and 1). (testing.AllocsPerRun
// would run the tick once unmeasured, and that one does the work.)
func TestTickRefreshedAllocs(t *testing.T) {
	h := newMemHarness(t, nil)
	f := memIGMP
	msgs := make([]*snoop.Message, 100)
	for i := range msgs {
		msgs[i] = &snoop.Message{Type: f.older, Family: 4, Src: f.host, Group: netip.AddrFrom4([4]byte{239, 1, 0, byte(i)})}
	}
	now := memT0
	for _, m := range msgs {
		h.m.Report(memVLAN, 1, m, now)
	}
	var before, after runtime.MemStats
	for round := range 5 {
		for _, m := range msgs {
			h.m.Report(memVLAN, 1, m, now.Add(memGMI-time.Second))
		}
		now = now.Add(memGMI) // every membership's timer comes up, refreshed
		runtime.ReadMemStats(&before)
		next := h.m.Tick(now)
		runtime.ReadMemStats(&after)
		if n := after.Mallocs - before.Mallocs; round > 1 && n != 0 {
			t.Errorf("round %d: a tick that files %d refreshed memberships again made %d allocations, want 0", round, len(msgs), n)
		}
		if want := now.Add(memGMI - time.Second); !next.Equal(want) || h.tab.Len() != len(msgs) {
			t.Fatalf("round %d: Tick returned t0+%v with %d groups; want t0+%v, %d", round, memSince(next), h.tab.Len(), memSince(want), len(msgs))
		}
		now = now.Add(-time.Second)
	}
}
