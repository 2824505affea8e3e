package fdb

import (
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"time"
)

// The due-time index: which memberships have a timer to run at a given
// time, so that a timer tick touches those and nothing else.
//
// It is a timer wheel: a ring of slots of 2^26 ns (67 ms), 8192 of them
// (9 minutes, more than the default group membership interval of 260 s),
// each an unordered list of (deadline, group, port) entries, and a min-heap
// for the deadlines beyond the ring, which move into it as it turns. A
// wheel rather than a heap of every entry: a tick takes the entries of the
// slots that have come, one list read in order, where a heap of 100 000
// entries pays a walk down its levels, cache misses each, for every entry
// it pops. Deadlines stay exact (each entry holds its own, and a slot's
// entries are compared when the earliest is asked for), which snoop's tests
// and the replay's tick skipping read back.
//
// Deletion is lazy. Each membership has a cell (dueCell) that holds its
// deadline and names its one live entry by a generation number; any other
// entry for it is stale and dropped when it comes up. An entry points at
// the cell, not at the membership, so that a tick that only files an entry
// again reads one small object rather than the group and its ports. An entry may
// come up earlier than its membership's deadline: a report that pushes a
// deadline later (the commonest update: a refresh) leaves the entry where
// it is, and the tick that meets it files it again at the new deadline. So
// the report path touches the index only when a deadline moves earlier (a
// leave, a group-specific query) or a membership gains its first timer,
// and then appends one entry. Stale entries come from those moves and from
// deleted memberships; once they outnumber the live ones (and a floor),
// the index is compacted, so it never holds more than twice the live
// entries plus the floor. The generations are 32 bits, to keep an entry at
// 24 bytes: one that wraps around onto a stale entry of the same cell only
// makes ExpireDue meet that membership once too often, which expires
// nothing that is not due.

// noDeadline is member.next of a membership without a running timer.
const noDeadline = math.MaxInt64

// The wheel's shape (variables so that tests can make it small enough to
// turn often) and how many stale entries the index keeps before it is
// worth compacting, whatever the live count. ScheduleBy reads them.
var (
	dueSlotShift    uint = 26
	dueSlots             = 8192
	dueCompactFloor      = 1024
)

// dueEntry is one index entry: c's membership has (or had, when the entry
// is stale) a timer to run at at.
type dueEntry struct {
	at  int64 // nanoseconds after dueIndex.epoch
	c   *dueCell
	gen uint32
}

// dueCell is a membership's place in the index (member.cell), made when
// the membership is first filed. Guarded by GroupTable.mu.
type dueCell struct {
	// next is the membership's deadline, noDeadline for none; at is the
	// time of its live entry, at or before next, while has.
	next, at int64
	// g is the membership's group, nil once the membership is deleted.
	g *groupState
	// gen is the generation of the latest entry filed; has says that
	// entry is in the index (the live one).
	gen uint32
	has bool
}

// live reports whether x is its membership's live entry.
func (x *dueEntry) live() bool { return x.c.has && x.c.gen == x.gen }

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

	shift uint
	// slots is the ring: slot number s (at >> shift) lives in
	// slots[s&mask] while cur <= s < cur+len(slots); nonEmpty has a bit
	// per non-empty slot.
	slots    [][]dueEntry
	mask     int64
	nonEmpty []uint64
	// cur is the slot of the latest ExpireDue: the slots before it are
	// empty, and an entry due earlier is filed in cur. Until the first
	// ExpireDue (curSet) says where the ring starts, entries go to far.
	cur    int64
	curSet bool
	// far is a min-heap by at of the entries beyond the ring when they
	// were filed.
	far []dueEntry

	// entries counts the entries in slots and far; live, the cells with
	// a live entry (has).
	entries, live int
	// min is the entry earliest found last, while minOK: it stays the
	// earliest until its membership changes (then it is not exact) or an
	// earlier entry is filed, so a tick with nothing due need not look
	// through a slot for it.
	min   dueEntry
	minOK bool
	// spare holds the arrays of slots that emptied, for slots that fill:
	// the slots a tick fills are seldom those it empties, and reusing
	// their arrays keeps a steady tick from allocating.
	spare [][]dueEntry
	// freeCells are the cells of deleted memberships, for new ones: a join
	// after a leave allocates none. A stale entry may still point at a
	// cell given out again; the cell's generation, which keeps counting,
	// tells them apart.
	freeCells []*dueCell
	// queued and refile are ExpireDue's lists of groups with a due member
	// and of entries to file again, kept between calls for their capacity.
	queued []*groupState
	refile []dueEntry
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
	t.due = dueIndex{
		deadline: deadline,
		shift:    dueSlotShift,
		slots:    make([][]dueEntry, dueSlots),
		mask:     int64(dueSlots - 1),
		nonEmpty: make([]uint64, (dueSlots+63)/64),
	}
	for _, g := range t.groups {
		for i := range g.members {
			if c := g.members[i].cell; c != nil {
				c.has = false
			}
			t.scheduleLocked(g, &g.members[i])
		}
	}
}

// ExpireDue calls fn, under the control-plane lock, for every membership
// whose deadline (see ScheduleBy) has come at now, then cleans up and
// republishes their groups as Update does, and files each again by its new
// deadline. It returns the earliest deadline left in the table, zero when
// no timer runs. It costs O(1) per membership it meets (plus O(log F) for
// one whose deadline lay beyond the wheel, F being those), and allocates
// nothing unless a group's forwarding changes; a membership whose deadline
// was pushed later since it was filed is met once more at its old deadline
// and filed again, without a call to fn. A deadline fn leaves at or before
// now is run at the next call, not in this one. fn must not call the
// table's methods nor keep m. Without ScheduleBy, ExpireDue does nothing
// and returns zero.
func (t *GroupTable) ExpireDue(now time.Time, fn func(vlan uint16, group netip.Addr, port PortID, m *PortMembership)) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := &t.due
	if d.deadline == nil || !d.epochSet {
		return time.Time{}
	}
	n := d.offset(now)
	if !d.curSet {
		d.cur, d.curSet = n>>d.shift, true
	}
	ns := max(n>>d.shift, d.cur)
	last := ns
	if ns-d.cur >= int64(len(d.slots)) {
		last = d.cur + int64(len(d.slots)) - 1 // every slot, once
	}
	for s := d.cur; s <= last; s++ {
		d.takeDue(s, n)
	}
	d.cur = ns
	// Deadlines the ring now reaches, due ones included.
	for len(d.far) > 0 && d.far[0].at>>d.shift < d.cur+int64(len(d.slots)) {
		x := d.farPop()
		d.entries--
		if x.at <= n {
			d.meet(x, n)
		} else {
			d.file(x, false)
		}
	}
	d.fileRefiled()
	for _, g := range d.queued {
		g.queued = false
		ran := false
		for i := range g.members {
			if e := &g.members[i]; e.cell != nil && e.cell.next <= n {
				fn(uint16(g.key.vlan), g.key.group, e.port, &e.m)
				ran = true
			}
		}
		if ran {
			t.settleLocked(g.key, g)
			continue
		}
		// A group is queued for a member that is due, so this is only a
		// safeguard: leave no member out of the index.
		for i := range g.members {
			if c := g.members[i].cell; c == nil || !c.has {
				t.scheduleLocked(g, &g.members[i])
			}
		}
	}
	clear(d.queued)
	d.queued = d.queued[:0]
	if at, ok := d.earliest(); ok {
		return d.epoch.Add(time.Duration(at))
	}
	return time.Time{}
}

// takeDue takes the entries of slot s due at n (all of them, unless s is
// n's own slot) and meets each. Caller holds the table's lock.
func (d *dueIndex) takeDue(s, n int64) {
	i := s & d.mask
	b := d.slots[i]
	if len(b) == 0 {
		return
	}
	keep := b[:0]
	for _, x := range b {
		if x.at > n {
			keep = append(keep, x)
			continue
		}
		d.entries--
		d.meet(x, n)
	}
	clear(b[len(keep):])
	d.slots[i] = keep
	if len(keep) == 0 {
		d.emptied(i)
	}
}

// spareArrays bounds dueIndex.spare.
const spareArrays = 64

// emptied marks slot i empty and keeps its array for another slot.
func (d *dueIndex) emptied(i int64) {
	d.nonEmpty[i/64] &^= 1 << (i % 64)
	if b := d.slots[i]; cap(b) > 0 && len(d.spare) < spareArrays {
		d.spare = append(d.spare, b[:0])
	}
	d.slots[i] = nil
}

// meet handles an entry taken from the index at n: a stale one is dropped,
// one filed before its membership's deadline goes to refile, and a due
// one's group is queued for ExpireDue to run.
func (d *dueIndex) meet(x dueEntry, n int64) {
	if !x.live() {
		return // stale
	}
	c := x.c
	if c.next > n {
		x.at, c.at = c.next, c.next
		d.refile = append(d.refile, x)
		return
	}
	c.has = false
	d.live--
	if !c.g.queued {
		c.g.queued = true
		d.queued = append(d.queued, c.g)
	}
}

// fileRefiled files the entries meet put aside.
func (d *dueIndex) fileRefiled() {
	for _, x := range d.refile {
		d.file(x, true)
	}
	clear(d.refile)
	d.refile = d.refile[:0]
}

// earliest returns the earliest deadline of a live entry, which is the
// earliest of all memberships. The first non-empty slot holds it unless
// its earliest entry is stale (dropped) or filed early: then the whole
// slot is met now, which the tick that reaches it would do anyway.
func (d *dueIndex) earliest() (int64, bool) {
	if d.minOK && d.exact(d.min) {
		return d.min.at, true
	}
	d.minOK = false
	for {
		s, ok := d.firstSlot()
		if !ok {
			break
		}
		i := s & d.mask
		b := d.slots[i]
		m := 0
		for j := range b {
			if b[j].at < b[m].at {
				m = j
			}
		}
		if d.exact(b[m]) {
			d.min, d.minOK = b[m], true
			return b[m].at, true
		}
		// Settle the slot: drop stale entries, refile early ones.
		keep := b[:0]
		for _, x := range b {
			switch c := x.c; {
			case !x.live():
				d.entries--
			case c.next == x.at:
				keep = append(keep, x)
			default:
				x.at, c.at = c.next, c.next
				d.refile = append(d.refile, x)
				d.entries--
			}
		}
		clear(b[len(keep):])
		d.slots[i] = keep
		if len(keep) == 0 {
			d.emptied(i)
		}
		d.fileRefiled()
	}
	for len(d.far) > 0 {
		x := d.far[0]
		if d.exact(x) {
			d.min, d.minOK = x, true
			return x.at, true
		}
		d.farPop()
		d.entries--
		d.meet(x, x.at) // not exact: stale, or filed before its deadline
		d.fileRefiled()
	}
	return 0, false
}

// exact reports whether x is live and filed at its membership's deadline.
func (d *dueIndex) exact(x dueEntry) bool {
	return x.live() && x.c.next == x.at
}

// firstSlot returns the first non-empty slot number from cur on.
func (d *dueIndex) firstSlot() (int64, bool) {
	start := d.cur & d.mask
	words := len(d.nonEmpty)
	for k := 0; k <= words; k++ {
		w := (int(start/64) + k) % words
		word := d.nonEmpty[w]
		if k == 0 {
			word &^= 1<<(start%64) - 1 // slots before start
		} else if k == words {
			word &= 1<<(start%64) - 1 // wrapped round to start's word
		}
		if word != 0 {
			i := int64(w*64 + bits.TrailingZeros64(word))
			return d.cur + (i-start)&d.mask, true
		}
	}
	return 0, false
}

// file puts x in the slot of its deadline (cur if that has passed), or in
// far beyond the ring. x is exact (filed at its membership's deadline)
// unless it comes from far.
func (d *dueIndex) file(x dueEntry, exact bool) {
	d.entries++
	if d.minOK && x.at < d.min.at {
		d.min, d.minOK = x, exact
	}
	s := max(x.at>>d.shift, d.cur)
	if !d.curSet || s-d.cur >= int64(len(d.slots)) {
		d.farPush(x)
		return
	}
	i := s & d.mask
	if d.slots[i] == nil && len(d.spare) > 0 {
		d.slots[i] = d.spare[len(d.spare)-1]
		d.spare[len(d.spare)-1] = nil
		d.spare = d.spare[:len(d.spare)-1]
	}
	d.slots[i] = append(d.slots[i], x)
	d.nonEmpty[i/64] |= 1 << (i % 64)
}

// scheduleLocked brings e's deadline up to date and files e in the index
// if its timer now runs earlier than its entry says (or it has none).
// Caller holds t.mu; g is e's group.
func (t *GroupTable) scheduleLocked(g *groupState, e *member) {
	d := &t.due
	if d.deadline == nil {
		return
	}
	c := e.cell
	if c == nil {
		if n := len(d.freeCells); n > 0 {
			c = d.freeCells[n-1]
			d.freeCells[n-1] = nil
			d.freeCells = d.freeCells[:n-1]
		} else {
			c = new(dueCell)
		}
		c.g = g
		e.cell = c
	}
	c.next = noDeadline
	if dl := d.deadline(&e.m); !dl.IsZero() {
		c.next = d.offset(dl)
	}
	if c.has {
		if c.at <= c.next && c.next != noDeadline {
			// The entry comes up first; ExpireDue files e again then.
			return
		}
		c.has = false
		d.live-- // the entry goes stale
	}
	if c.next == noDeadline {
		return
	}
	c.gen++
	c.has, c.at = true, c.next
	d.live++
	d.file(dueEntry{at: c.next, c: c, gen: c.gen}, true)
}

// unscheduleLocked makes e's entry stale: e is being deleted. Caller holds
// t.mu.
func (t *GroupTable) unscheduleLocked(e *member) {
	if c := e.cell; c != nil {
		if c.has {
			c.has = false
			t.due.live--
		}
		c.g = nil
		e.cell = nil
		t.due.freeCells = append(t.due.freeCells, c)
	}
}

// compactLocked drops the stale entries once they outnumber the live ones
// and dueCompactFloor: O(entries + slots), at most once per as many stale
// entries as there are live ones, so O(1) per update over time. Caller
// holds t.mu, and no group is half tidied (compaction reads every group's
// members).
func (t *GroupTable) compactLocked() {
	d := &t.due
	stale := d.entries - d.live
	if stale <= d.live || stale <= dueCompactFloor {
		return
	}
	live := func(x dueEntry) bool { return x.live() }
	for i, b := range d.slots {
		keep := slices.DeleteFunc(b, func(x dueEntry) bool { return !live(x) })
		if cap(keep) > 64 && cap(keep) > 4*len(keep) {
			keep = slices.Clone(keep) // give back what a burst of churn took
		}
		d.slots[i] = keep
		if len(keep) == 0 {
			d.emptied(int64(i))
		}
	}
	d.far = slices.DeleteFunc(d.far, func(x dueEntry) bool { return !live(x) })
	for i := (len(d.far) - 2) / 2; i >= 0; i-- {
		d.farDown(i)
	}
	d.entries = d.live
}

func (d *dueIndex) farPush(x dueEntry) {
	d.far = append(d.far, x)
	h := d.far
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p].at <= x.at {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = x
}

func (d *dueIndex) farPop() dueEntry {
	h := d.far
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = dueEntry{}
	d.far = h[:last]
	if last > 0 {
		d.farDown(0)
	}
	return top
}

func (d *dueIndex) farDown(i int) {
	h := d.far
	x := h[i]
	for {
		c := 2*i + 1
		if c >= len(h) {
			break
		}
		if r := c + 1; r < len(h) && h[r].at < h[c].at {
			c = r
		}
		if x.at <= h[c].at {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = x
}
