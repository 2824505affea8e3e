package fdb_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// expiryDeadline is the tests' deadline: the earliest source timer.
func expiryDeadline(m *fdb.PortMembership) time.Time {
	var d time.Time
	for _, exp := range m.Requested {
		if d.IsZero() || exp.Before(d) {
			d = exp
		}
	}
	return d
}

// expireSources drops the sources whose timers ran out at now.
func expireSources(now time.Time) func(uint16, netip.Addr, fdb.PortID, *fdb.PortMembership) {
	return func(_ uint16, _ netip.Addr, _ fdb.PortID, m *fdb.PortMembership) {
		for s, exp := range m.Requested {
			if !now.Before(exp) {
				delete(m.Requested, s)
			}
		}
	}
}

func setSource(s netip.Addr, exp time.Time) func(*fdb.PortMembership) {
	return func(m *fdb.PortMembership) {
		if m.Requested == nil {
			m.Requested = make(map[netip.Addr]time.Time)
		}
		m.Requested[s] = exp
	}
}

// ExpireDue runs only what is due, on time, including a timer moved
// earlier; a timer pushed later is not run at its old deadline; a deleted
// membership leaves no entry that runs its successor early.
func TestExpireDue(t *testing.T) {
	tab := fdb.NewGroupTable()
	tab.ScheduleBy(expiryDeadline)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var ran []fdb.PortID
	tick := func(now time.Time) time.Time {
		ran = ran[:0]
		expire := expireSources(now)
		return tab.ExpireDue(now, func(v uint16, g netip.Addr, p fdb.PortID, m *fdb.PortMembership) {
			ran = append(ran, p)
			expire(v, g, p, m)
		})
	}
	if next := tick(at(0)); !next.IsZero() || len(ran) != 0 {
		t.Fatalf("empty table: next %v, ran %v", next, ran)
	}
	tab.Update(1, grp4, 1, setSource(src1, at(10)))
	tab.Update(1, grp4, 2, setSource(src1, at(20)))
	tab.Update(1, grp6, 3, setSource(src6a, at(30)))
	if next := tick(at(5)); !next.Equal(at(10)) || len(ran) != 0 {
		t.Fatalf("at 5 s: next %v, ran %v; want 10 s, none", next.Sub(t0), ran)
	}
	// Port 1 refreshed to 40 s: its entry at 10 s must not expire it.
	tab.Update(1, grp4, 1, setSource(src1, at(40)))
	// Port 2 lowered to 7 s (a group-specific query): it runs at 7 s.
	tab.Update(1, grp4, 2, setSource(src1, at(7)))
	if next := tick(at(6)); !next.Equal(at(7)) {
		t.Fatalf("at 6 s: next %v, want the lowered 7 s", next.Sub(t0))
	}
	if next := tick(at(7)); !next.Equal(at(30)) || len(ran) != 1 || ran[0] != 2 {
		t.Fatalf("at 7 s: next %v, ran %v; want 30 s, port 2", next.Sub(t0), ran)
	}
	if _, ok := tab.Get(1, grp4, 2); ok {
		t.Fatalf("port 2 still a member after its timer ran out")
	}
	if next := tick(at(10)); !next.Equal(at(30)) || len(ran) != 0 {
		t.Fatalf("at 10 s: next %v, ran %v; want 30 s, none (port 1 was refreshed)", next.Sub(t0), ran)
	}
	// Port 3 leaves the table (link down) and comes back with a later
	// timer: the old entry at 30 s is a ghost.
	if n := tab.RemovePort(3); n != 1 {
		t.Fatalf("RemovePort(3) = %d, want 1", n)
	}
	tab.Update(1, grp6, 3, setSource(src6a, at(50)))
	if next := tick(at(30)); !next.Equal(at(40)) || len(ran) != 0 {
		t.Fatalf("at 30 s: next %v, ran %v; want 40 s, none", next.Sub(t0), ran)
	}
	if next := tick(at(45)); !next.Equal(at(50)) || len(ran) != 1 || ran[0] != 1 {
		t.Fatalf("at 45 s: next %v, ran %v; want 50 s, port 1", next.Sub(t0), ran)
	}
	if next := tick(at(50)); !next.IsZero() || tab.Len() != 0 {
		t.Fatalf("at 50 s: next %v, %d groups; want zero, none", next.Sub(t0), tab.Len())
	}
	if entries, live := tab.DueIndexSize(); live != 0 || entries != 0 {
		t.Fatalf("empty table: index %d entries, %d live; want none", entries, live)
	}
}

// Without ScheduleBy the table keeps no index and ExpireDue does nothing.
func TestExpireDueUnscheduled(t *testing.T) {
	tab := fdb.NewGroupTable()
	tab.Update(1, grp4, 1, setSource(src1, t0))
	called := false
	next := tab.ExpireDue(t0.Add(time.Hour), func(uint16, netip.Addr, fdb.PortID, *fdb.PortMembership) { called = true })
	if called || !next.IsZero() || tab.Len() != 1 {
		t.Fatalf("ExpireDue without ScheduleBy: called %v, next %v, %d groups", called, next, tab.Len())
	}
	// ScheduleBy indexes what is already there.
	tab.ScheduleBy(expiryDeadline)
	if next := tab.ExpireDue(t0, expireSources(t0)); !next.IsZero() || tab.Len() != 0 {
		t.Fatalf("after ScheduleBy: next %v, %d groups; want zero, none", next, tab.Len())
	}
}

// Under churn that moves timers earlier and deletes memberships, which
// leaves stale entries, the index stays within twice its live entries
// plus the compaction floor (1024).
func TestExpireDueBounded(t *testing.T) {
	tab := fdb.NewGroupTable()
	tab.ScheduleBy(expiryDeadline)
	const members = 10
	maxEntries := 0
	for i := range 200000 {
		g := netip.AddrFrom4([4]byte{239, 0, 0, byte(i % members)})
		if i%3 == 2 {
			tab.Update(1, g, 1, func(m *fdb.PortMembership) { clear(m.Requested) }) // a leave
		} else {
			// Each timer is earlier than the last: a new entry every time.
			tab.Update(1, g, 1, setSource(src1, t0.Add(time.Duration(1e9-i)*time.Second)))
		}
		entries, live := tab.DueIndexSize()
		if entries > 2*live+1024 || entries > 2*members+1024 {
			t.Fatalf("after %d updates: %d entries, %d live", i+1, entries, live)
		}
		maxEntries = max(maxEntries, entries)
	}
	if maxEntries < 1000 {
		t.Fatalf("at most %d entries: the churn never made stale ones", maxEntries)
	}
}

// A tick whose due memberships were refreshed since they were filed, so
// that it only files them again, allocates nothing.
func TestExpireDueRefiledAllocs(t *testing.T) {
	tab := fdb.NewGroupTable()
	tab.ScheduleBy(expiryDeadline)
	groups := make([]netip.Addr, 1000)
	for i := range groups {
		groups[i] = netip.AddrFrom4([4]byte{239, 0, byte(i >> 8), byte(i)})
		tab.Update(1, groups[i], fdb.PortID(i%8), setSource(src1, t0.Add(time.Second)))
	}
	now := t0
	n := testing.AllocsPerRun(20, func() {
		for i, g := range groups {
			tab.Update(1, g, fdb.PortID(i%8), setSource(src1, now.Add(2*time.Second)))
		}
		now = now.Add(time.Second)
		// Every membership comes up, none is due.
		tab.ExpireDue(now, expireSources(now))
	})
	if tab.Len() != len(groups) {
		t.Fatalf("%d groups left, want %d", tab.Len(), len(groups))
	}
	if n != 0 {
		t.Fatalf("%v allocations per refresh round and tick, want 0", n)
	}
}

// UpdateGroup runs on every port of one group and nowhere else; a group not
// in the table is left alone.
func TestUpdateGroup(t *testing.T) {
	tab := fdb.NewGroupTable()
	tab.Update(1, grp4, 1, include(src1))
	tab.Update(1, grp4, 2, exclude(src2))
	tab.Update(2, grp4, 3, include(src1))
	var seen []fdb.PortID
	tab.UpdateGroup(1, grp4, func(p fdb.PortID, m *fdb.PortMembership) {
		seen = append(seen, p)
		if p == 1 {
			clear(m.Requested) // INCLUDE {}: goes
		}
	})
	if len(seen) != 2 || seen[0] != 1 || seen[1] != 2 {
		t.Fatalf("UpdateGroup ran on ports %v, want [1 2]", seen)
	}
	wantLookupPorts(t, tab, 1, grp4, src1, true, 2)
	wantLookupPorts(t, tab, 2, grp4, src1, true, 3)
	tab.UpdateGroup(1, grp6, func(fdb.PortID, *fdb.PortMembership) { t.Fatalf("UpdateGroup ran on a group not in the table") })
	tab.UpdateGroup(1, src1, func(fdb.PortID, *fdb.PortMembership) { t.Fatalf("UpdateGroup ran on a unicast address") })
	if tab.Len() != 2 {
		t.Fatalf("Len() = %d, want 2", tab.Len())
	}
}
