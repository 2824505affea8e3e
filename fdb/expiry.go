package fdb

import (
	"math"
	"net/netip"
	"slices"
	"time"
)

// The due-time index: which memberships have a timer to run at a given
// time, so that a timer tick touches those and nothing else.
//
// It is a 4-ary min-heap of (deadline, group, port) entries with lazy
// deletion, chosen over a hierarchical timer wheel because deadlines here
// are exact times that snoop's tests and the replay's tick skipping read
// back (the earliest deadline, to the nanosecond), which a wheel only gives
// with a sorted last level. Four children per node rather than two halve
// the levels a pop walks down (9 at 100 000 entries), and the four sit in
// about one cache line and a half: at that size a pop's cost is its cache
// misses (BENCHMARKS.md, "Snooping control plane at scale").
//
// Each membership with a timer has at most one live entry, named by a
// sequence number the membership holds (member.seq); any other entry for
// it is stale and skipped when it comes up. The numbers are 32 bits, to
// keep an entry at 24 bytes: one that wraps around onto a stale entry of
// the same membership only makes ExpireDue meet that membership once too
// often, which expires nothing that is not due. An entry may come up earlier
// than its membership's deadline: a report that pushes a deadline later
// (the commonest update: a refresh) leaves the entry where it is, and the
// tick that meets it files it again at the new deadline. So the report
// path touches the heap only when a deadline moves earlier (a leave, a
// group-specific query) or a membership gains its first timer. Stale
// entries come from those moves and from deleted memberships; once they
// outnumber the live ones (and a floor), the heap is compacted, so it
// never holds more than twice the live entries plus the floor.

// noDeadline is member.next of a membership without a running timer.
const noDeadline = math.MaxInt64

// dueCompactFloor is how many stale entries the heap keeps before it is
// worth compacting, whatever the live count.
var dueCompactFloor = 1024

// dueEntry is one heap entry: port's membership of g has (or had, when
// the entry is stale) a timer to run at at.
type dueEntry struct {
	at   int64 // nanoseconds after dueIndex.epoch
	g    *groupState
	seq  uint32
	port PortID
}

// dueIndex is the GroupTable's due-time index. Guarded by GroupTable.mu.
type dueIndex struct {
	// deadline returns a membership's earliest running timer, zero for
	// none; nil: the table keeps no index (ScheduleBy was not called).
	deadline func(m *PortMembership) time.Time
	// epoch is the first deadline seen; entries hold times as offsets
	// from it (time.Time.Sub, which reads the monotonic clock when both
	// times carry it, as time.Time.Before does).
	epoch    time.Time
	epochSet bool
	heap     []dueEntry
	seq      uint32
	// live is the number of members with an entry in heap (seq != 0).
	live int
	// queued is ExpireDue's list of groups with a due member, kept
	// between calls for its capacity.
	queued []*groupState
}

// offset returns t as nanoseconds after the epoch, never noDeadline.
func (d *dueIndex) offset(t time.Time) int64 {
	if !d.epochSet {
		d.epoch, d.epochSet = t, true
	}
	return min(int64(t.Sub(d.epoch)), noDeadline-1)
}

// ScheduleBy makes the table keep its memberships in a due-time index by
// deadline, the earliest running timer of a membership (the zero time: no
// timer runs), which ExpireDue then runs. Every path that changes a
// membership (Update, UpdateGroup, ForEach, ExpireDue, RemovePort,
// EvictOldest) keeps the index right; deadline is called under the table's
// lock after each change, and must read nothing but m. Memberships already
// in the table are indexed at once. snoop's Membership calls it: the
// table knows when a membership's timers run, not what they mean.
func (t *GroupTable) ScheduleBy(deadline func(m *PortMembership) time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := &t.due
	d.deadline = deadline
	clear(d.heap)
	d.heap = d.heap[:0]
	d.live = 0
	for _, g := range t.groups {
		for i := range g.members {
			g.members[i].seq = 0
			t.scheduleLocked(g, &g.members[i])
		}
	}
}

// ExpireDue calls fn, under the control-plane lock, for every membership
// whose deadline (see ScheduleBy) has come at now, then cleans up and
// republishes their groups as Update does, and files each again by its new
// deadline. It returns the earliest deadline left in the table, zero when
// no timer runs. It costs O(log M) per membership it meets, M being the
// memberships in the index, and allocates nothing unless a group's
// forwarding changes; a membership whose deadline was pushed later since it
// was filed is met once more at its old deadline and filed again, without
// a call to fn. A deadline fn leaves at or before now is run at the next
// call, not in this one. fn must not call the table's methods nor keep m.
// Without ScheduleBy, ExpireDue does nothing and returns zero.
func (t *GroupTable) ExpireDue(now time.Time, fn func(vlan uint16, group netip.Addr, port PortID, m *PortMembership)) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := &t.due
	if d.deadline == nil || !d.epochSet {
		return time.Time{}
	}
	n := d.offset(now)
	for len(d.heap) > 0 && d.heap[0].at <= n {
		x := d.pop()
		i, found := x.g.find(x.port)
		if !found || x.g.members[i].seq != x.seq {
			continue // stale
		}
		x.g.members[i].seq = 0
		d.live--
		if !x.g.queued {
			x.g.queued = true
			d.queued = append(d.queued, x.g)
		}
	}
	for _, g := range d.queued {
		g.queued = false
		ran := false
		for i := range g.members {
			if e := &g.members[i]; e.next <= n {
				fn(uint16(g.key.vlan), g.key.group, e.port, &e.m)
				ran = true
			}
		}
		if ran {
			t.settleLocked(g.key, g)
			continue
		}
		// Only deadlines pushed later: file them again, nothing else
		// changed.
		for i := range g.members {
			if g.members[i].seq == 0 {
				t.scheduleLocked(g, &g.members[i])
			}
		}
	}
	clear(d.queued)
	d.queued = d.queued[:0]
	// The earliest live entry, filed at its membership's deadline: drop
	// stale entries from the top and move one filed early to where it
	// belongs, until the top is exact. Every other live entry is at or
	// before its own membership's deadline and not before the top's, so
	// the top is the earliest deadline of all.
	for len(d.heap) > 0 {
		x := &d.heap[0]
		i, found := x.g.find(x.port)
		if !found || x.g.members[i].seq != x.seq {
			d.pop()
			continue
		}
		e := &x.g.members[i]
		switch e.next {
		case x.at:
			return d.epoch.Add(time.Duration(x.at))
		case noDeadline:
			e.seq = 0
			d.live--
			d.pop()
		default:
			x.at, e.at = e.next, e.next
			d.down(0)
		}
	}
	return time.Time{}
}

// scheduleLocked brings e's deadline up to date and files e in the index
// if its timer now runs earlier than its entry says (or it has none).
// Caller holds t.mu; g is e's group.
func (t *GroupTable) scheduleLocked(g *groupState, e *member) {
	d := &t.due
	if d.deadline == nil {
		return
	}
	e.next = noDeadline
	if dl := d.deadline(&e.m); !dl.IsZero() {
		e.next = d.offset(dl)
	}
	if e.seq != 0 {
		if e.at <= e.next && e.next != noDeadline {
			// The entry comes up first; ExpireDue files e again then.
			return
		}
		d.live-- // the entry goes stale
	}
	e.seq = 0
	if e.next == noDeadline {
		return
	}
	if d.seq++; d.seq == 0 {
		d.seq = 1 // 0 means no entry
	}
	e.seq, e.at = d.seq, e.next
	d.live++
	d.push(dueEntry{at: e.next, g: g, seq: e.seq, port: e.port})
}

// unscheduleLocked makes e's entry stale: e is being deleted. Caller holds
// t.mu.
func (t *GroupTable) unscheduleLocked(e *member) {
	if e.seq != 0 {
		e.seq = 0
		t.due.live--
	}
}

// compactLocked drops the stale entries once they outnumber the live ones
// and dueCompactFloor: O(entries), at most once per as many stale entries
// as there are live ones, so O(1) per update over time. Caller holds t.mu,
// and no group is half tidied (compaction reads every group's members).
func (t *GroupTable) compactLocked() {
	d := &t.due
	stale := len(d.heap) - d.live
	if stale <= d.live || stale <= dueCompactFloor {
		return
	}
	h := d.heap[:0]
	for _, x := range d.heap {
		if i, found := x.g.find(x.port); found && x.g.members[i].seq == x.seq {
			h = append(h, x)
		}
	}
	clear(d.heap[len(h):]) // let go of deleted groups
	if cap(h) > 4*len(h) && cap(h) > 4*dueCompactFloor {
		h = slices.Clone(h) // give back what a burst of churn took
	}
	d.heap = h
	for i := (len(h) - 2) / 4; i >= 0; i-- {
		d.down(i)
	}
}

func (d *dueIndex) push(x dueEntry) {
	d.heap = append(d.heap, x)
	h := d.heap
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 4
		if h[p].at <= x.at {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = x
}

func (d *dueIndex) pop() dueEntry {
	h := d.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = dueEntry{}
	d.heap = h[:last]
	if last > 0 {
		d.down(0)
	}
	return top
}

// down moves the entry at i towards the leaves until the heap is ordered.
func (d *dueIndex) down(i int) {
	h := d.heap
	x := h[i]
	for {
		first := 4*i + 1
		if first >= len(h) {
			break
		}
		c := first
		for r := first + 1; r < min(first+4, len(h)); r++ {
			if h[r].at < h[c].at {
				c = r
			}
		}
		if x.at <= h[c].at {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = x
}
