package fdb

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// FilterMode is a port's filter mode for a group (RFC 3376 s6.2.1).
type FilterMode uint8

const (
	ModeInclude FilterMode = iota // "INCLUDE"
	ModeExclude                   // "EXCLUDE"
)

// String returns "INCLUDE" or "EXCLUDE", the RFC's names, for show and logs.
func (m FilterMode) String() string {
	switch m {
	case ModeInclude:
		return "INCLUDE"
	case ModeExclude:
		return "EXCLUDE"
	}
	return fmt.Sprintf("FilterMode(%d)", uint8(m))
}

// PortMembership is one port's state for one group.
// INCLUDE (A): Requested = A, each source with its timer's expiry; Excluded empty; GroupTimer zero.
// EXCLUDE (X, Y): Requested = X (sources with running timers, forwarded),
// Excluded = Y (sources whose timers ran out, not forwarded), GroupTimer running.
// An IGMPv2/MLDv1 join, or a v3 EXCLUDE {} (a (*,G) join), is EXCLUDE with X and Y empty.
//
// Any Mode other than ModeExclude is treated as INCLUDE. IPv4 sources are
// stored as 4-byte addresses: the table rewrites IPv4-mapped IPv6 keys
// (::ffff:a.b.c.d) with Unmap after every Update or ForEach.
type PortMembership struct {
	Mode       FilterMode
	GroupTimer time.Time                // EXCLUDE: when the group timer expires
	Requested  map[netip.Addr]time.Time // source -> when its source timer expires
	Excluded   map[netip.Addr]struct{}
	// Older Host Present (RFC 3376 s7.3.2 / RFC 3810 s8.3.2): while now is before
	// V1HostTimer the port's group is in IGMPv1 mode, before V2HostTimer in IGMPv2 mode
	// (for MLD only V1HostTimer is used: MLDv1 mode). Zero = no older host.
	V1HostTimer time.Time
	V2HostTimer time.Time
	// LastReport is when a report for this group last arrived on the port (for show).
	LastReport time.Time
	// Reporter is the address of the last host that reported on the port (for show).
	Reporter netip.Addr
	// Hosts is explicit host tracking: the IGMPv3/MLDv2 hosts that reported
	// the group on the port, by IP source address, each with its own filter
	// mode and sources. Unlike source keys, the table does not rewrite these
	// addresses: snoop stores them unmapped, without a zone. It is an overlay on
	// the port's state above, which stays authoritative for forwarding:
	// snoop reads it only to decide what a fast leave may cut. nil when no
	// host is tracked.
	Hosts map[netip.Addr]HostMembership
	// UntrackedUntil: while now is before it, a host reported the group on
	// the port without being tracked in Hosts (the port's host limit was
	// reached, or the report came from 0.0.0.0 or ::), so Hosts may not hold
	// every host that wants the group.
	UntrackedUntil time.Time
}

// HostMembership is one host's own state for a group (RFC 3376 s3.2: its
// interface state, as its IGMPv3/MLDv2 reports tell it).
type HostMembership struct {
	// Mode and Sources: INCLUDE the host wants Sources; EXCLUDE it wants
	// every source but Sources.
	Mode    FilterMode
	Sources map[netip.Addr]struct{}
	// Expires is when the host is forgotten unless it reports again.
	Expires time.Time
}

// Wants reports whether h wants traffic from source (unmapped).
func (h HostMembership) Wants(source netip.Addr) bool {
	_, listed := h.Sources[source]
	return listed != (h.Mode == ModeExclude)
}

// HostEntries is the number of host-tracking entries m stands for, what host
// limits count: one per tracked host, and one per source a host lists.
func (m *PortMembership) HostEntries() int {
	if len(m.Hosts) == 0 {
		return 0
	}
	n := len(m.Hosts)
	for _, h := range m.Hosts {
		n += len(h.Sources)
	}
	return n
}

// Empty reports INCLUDE with no sources: the port has no state for the group.
// The table deletes an Empty membership, older-host timers and all: RFC 3376
// s6.5 deletes the group record once it is INCLUDE {}, and the compatibility
// mode belongs to that record.
func (m *PortMembership) Empty() bool {
	return m.Mode != ModeExclude && len(m.Requested) == 0
}

// Entries is the number of (S,G) and (*,G) entries m stands for, what group
// limits count: one (*,G) entry in EXCLUDE mode, and one per source it
// lists (Requested or Excluded). An INCLUDE {} membership has none.
func (m *PortMembership) Entries() int {
	n := len(m.Requested) + len(m.Excluded)
	if m.Mode == ModeExclude {
		n++
	}
	return n
}

// Forwards reports whether this membership wants traffic from source (INCLUDE: source in
// Requested; EXCLUDE: source not in Excluded). Timers are not consulted: expiring them is
// snoop's job (it updates the table when a timer runs out).
func (m *PortMembership) Forwards(source netip.Addr) bool {
	source = source.Unmap()
	if m.Mode == ModeExclude {
		_, blocked := m.Excluded[source]
		return !blocked
	}
	_, ok := m.Requested[source]
	return ok
}

// clone returns a deep copy of m: the copy shares no map with m.
func (m *PortMembership) clone() PortMembership {
	c := *m
	c.Requested = maps.Clone(m.Requested)
	c.Excluded = maps.Clone(m.Excluded)
	if m.Hosts != nil {
		c.Hosts = make(map[netip.Addr]HostMembership, len(m.Hosts))
		for a, h := range m.Hosts {
			h.Sources = maps.Clone(h.Sources)
			c.Hosts[a] = h
		}
	}
	return c
}

// normalize rewrites IPv4-mapped source keys as 4-byte addresses, so that the
// view, Forwards and Lookup (which unmap their source) agree on them. If both
// forms of one source are present, the later expiry wins.
func (m *PortMembership) normalize() {
	for s, exp := range m.Requested {
		if s.Is4In6() {
			delete(m.Requested, s)
			u := s.Unmap()
			if old, ok := m.Requested[u]; !ok || exp.After(old) {
				m.Requested[u] = exp
			}
		}
	}
	for s := range m.Excluded {
		if s.Is4In6() {
			delete(m.Excluded, s)
			m.Excluded[s.Unmap()] = struct{}{}
		}
	}
}

// GroupEntry is one group of a GroupTable snapshot.
type GroupEntry struct {
	VLAN  uint16
	Group netip.Addr
	Ports map[PortID]PortMembership // deep copies
}

// GroupTable is the multicast group table: per (VLAN, group IP), each port's
// membership state, and derived from it the ports a data frame from a given
// source goes to. It is keyed by IP group, never by MAC: 224.1.1.1 and
// 225.1.1.1 share 01:00:5e:01:01:01 and are separate entries, so members of
// one never receive the other.
//
// The table holds state; snoop decides transitions. fdb never reads the
// clock: timers are expiry times that snoop writes and acts on.
//
// # Concurrency
//
// The data plane calls Lookup for every multicast data frame, from one
// goroutine per RX port; membership processing (reports, queries, timer
// ticks, link changes) runs on the control plane. Lookup never waits for it:
//
//   - Each group's forwarding view (groupView) is immutable once published,
//     and reached through an atomic pointer in the group. Update, ForEach
//     and RemovePort compute a new view from the memberships and swap it in;
//     a Lookup that loaded the old view finishes with it, consistent if a
//     moment stale.
//   - Lookup finds the group in index, a sync.Map from (VLAN, group) to the
//     group. Its Load takes no lock and allocates nothing (since Go 1.24
//     sync.Map is a concurrent hash trie); its Store and Delete lock one
//     trie node to insert or delete ONE group, and they are the only writes.
//     This stands where the design first had a sync.RWMutex around a plain
//     map: with the same bound on the write side, it spares the RX
//     goroutines the read lock's shared counter, which every Lookup would
//     otherwise bounce between CPUs (BenchmarkGroupLookupParallel).
//   - Memberships are guarded by mu, the control-plane mutex, held by Update,
//     ForEach, RemovePort, Get and Groups for their whole run. mu also guards
//     groups, the control plane's own map of the same groups, which it walks
//     and reads without going through index; index mirrors it, written
//     under mu right after it.
//
// A group's first view is published before the group enters index, so
// Lookup never meets a group without one.
//
// # Memory and time
//
// The table holds what snoop puts in, and nothing else: with G groups, P
// port memberships in all and S sources over all memberships, the state is
// O(G + P + S) and the views O(G + S) (a view holds at most one 64-byte
// entry per distinct source its ports INCLUDE or EXCLUDE). Bounding G, P and
// S against hostile reports is the job of the guard's limits. Lookup is
// O(1): a hash-trie lookup, a map lookup and four-word set arithmetic.
// Update and UpdateGroup are O(ports of the group + their sources); filing
// a deadline that moved earlier is O(1) (O(log P) beyond the timer wheel's
// 9 minutes). ExpireDue, the timer tick, is O(1) per membership it meets
// and O(1) when nothing is due; its index holds at most 2P + 1024 entries
// of 24 bytes and a 32-byte cell per membership (see expiry.go). ForEach,
// RemovePort and EvictOldest walk the whole table, O(G + P + S): ForEach
// serves a policy reload (snoop's Revoke), RemovePort a link going down and
// EvictOldest a port whose group limit replaces, all rare. A group whose
// forwarding did not change is not republished, so a timer tick that
// changes nothing allocates nothing.
type GroupTable struct {
	// mu serialises membership processing: it guards groups, every group's
	// members, and the writes to index.
	mu     sync.Mutex
	groups map[groupKey]*groupState

	// index maps groupKey to *groupState, the same groups as groups, for
	// Lookup.
	index sync.Map
	// count is len(groups), for Len without mu.
	count atomic.Int64
	// entries and portEntries count the (S,G) and (*,G) entries
	// (PortMembership.Entries) of the whole table and of each port. They
	// are written under mu, when a group is tidied, and read without it.
	entries     atomic.Int64
	portEntries [MaxPorts]atomic.Int64
	// hosts and portHosts count the host-tracking entries
	// (PortMembership.HostEntries) of the whole table and of each port,
	// written and read like entries and portEntries.
	hosts     atomic.Int64
	portHosts [MaxPorts]atomic.Int64

	// changed is SetChanged's hook, nil for none.
	changed func()

	// due indexes the memberships by deadline for ExpireDue (see
	// ScheduleBy). Guarded by mu.
	due dueIndex
}

// SetChanged makes the table call fn after every change of what Lookup
// answers: a group's forwarding view published, a group added or removed.
// fn runs with the control-plane lock held (Lookup never waits for it) and
// must not call the table. Call SetChanged before the table is shared.
func (t *GroupTable) SetChanged(fn func()) { t.changed = fn }

// groupKey identifies a group: IPv4 groups as 4-byte addresses (Unmap), with
// no zone, so that one group has exactly one key.
//
// The VLAN is held in 64 bits although it has 16: a key without padding is
// plain memory, which the runtime hashes in one pass instead of field by
// field (about 8% of Lookup's time in BenchmarkGroupLookup).
type groupKey struct {
	group netip.Addr
	vlan  uint64
}

// makeGroupKey normalises (vlan, group) into a key; ok is false if group is
// not a multicast address.
func makeGroupKey(vlan uint16, group netip.Addr) (groupKey, bool) {
	group = group.Unmap().WithZone("")
	return groupKey{vlan: uint64(vlan), group: group}, group.IsMulticast()
}

// groupState is one (VLAN, group) entry.
type groupState struct {
	// view is the forwarding view of members; never nil once the group is
	// in index.
	view atomic.Pointer[groupView]
	// members holds every port with a non-Empty membership, sorted by port;
	// at least one while the group is in the table. A slice rather than a
	// map because a timer tick walks every group's ports, and a slice is
	// much cheaper to walk (map iteration was most of ForEach's time).
	// Guarded by GroupTable.mu.
	members []member
	// key is the group's key in the table; inTable says it is there (a
	// group deleted from the table may live on in stale index entries).
	// queued: ExpireDue has listed the group. Guarded by GroupTable.mu.
	key     groupKey
	inTable bool
	queued  bool
}

// member is one port's membership, held by value so that a walk over a
// group's ports reads one block of memory.
type member struct {
	port PortID
	// cell is the membership's place in the due-time index (expiry.go),
	// nil until it is first filed.
	cell *dueCell
	// entries is m.Entries() as the table's counters last counted it.
	entries int
	// hosts is m.HostEntries() as the table's counters last counted it.
	hosts int
	m     PortMembership
}

// find returns the index of port in g.members, or where it would go.
// Caller holds GroupTable.mu.
func (g *groupState) find(port PortID) (int, bool) {
	return slices.BinarySearchFunc(g.members, port, func(e member, p PortID) int { return cmp.Compare(e.port, p) })
}

// tidyLocked deletes the Empty memberships of g, normalises the source keys
// of the others, brings t's entry counters up to date, and reports whether
// g's view no longer describes them (or g has none yet). It walks each
// source list once and allocates nothing unless a key needs normalising.
// Caller holds t.mu.
func (g *groupState) tidyLocked(t *GroupTable) (changed bool) {
	v := g.view.Load()
	changed = v == nil
	var anyExclude PortSet
	entries := 0
	kept := 0
	for i := range g.members {
		e := &g.members[i]
		m := &e.m
		if m.Empty() {
			t.countEntries(e, 0)
			t.countHosts(e, 0)
			t.unscheduleLocked(e)
			continue
		}
		exclude := m.Mode == ModeExclude
		if exclude {
			anyExclude.Add(e.port)
		}
		mapped := false
		for s := range m.Requested {
			if s.Is4In6() {
				mapped = true
			} else if !exclude && !changed && !v.bySource[s].include.Has(e.port) {
				changed = true
			}
		}
		for s := range m.Excluded {
			if s.Is4In6() {
				mapped = true
			} else if exclude && !changed && !v.bySource[s].exclude.Has(e.port) {
				changed = true
			}
		}
		if mapped {
			m.normalize()
			changed = true
		}
		t.countEntries(e, m.Entries())
		t.countHosts(e, m.HostEntries())
		t.scheduleLocked(g, e)
		// Every (port, source) pair found is in v; if v has as many
		// pairs, it has no others.
		if exclude {
			entries += len(m.Excluded)
		} else {
			entries += len(m.Requested)
		}
		if kept != i {
			g.members[kept] = *e
		}
		kept++
	}
	clear(g.members[kept:]) // let go of the deleted memberships' maps
	g.members = g.members[:kept]
	return changed || anyExclude != v.anyExclude || entries != v.entries
}

// groupView is a group's forwarding state, immutable once published. For a
// source S the ports that want S's traffic are
//
//	(anyExclude - bySource[S].exclude) + bySource[S].include
//
// RFC 3376 s6.3: a port in EXCLUDE forwards every source except its Excluded
// list (anyExclude, less the ports that exclude S); a port in INCLUDE
// forwards only its Requested list (include). A port is in exactly one mode,
// so no port is in both an include and an exclude set, and the formula is
// PortMembership.Forwards taken over all ports. EXCLUDE's Requested sources
// (X) are forwarded through anyExclude and need no entry.
type groupView struct {
	anyExclude PortSet
	bySource   map[netip.Addr]sourcePorts // nil when no source is listed
	// entries is the number of (port, source) pairs in bySource, which lets
	// tidyLocked check the view against the memberships without building
	// a new one.
	entries int
}

type sourcePorts struct {
	include PortSet // ports in INCLUDE with the source in Requested
	exclude PortSet // ports in EXCLUDE with the source in Excluded
}

// ports returns the ports that want source's traffic; source is unmapped.
func (v *groupView) ports(source netip.Addr) PortSet {
	sp := v.bySource[source]
	return v.anyExclude.Minus(sp.exclude).Union(sp.include)
}

// buildView computes the forwarding view of members (tidied).
func buildView(members []member) *groupView {
	v := new(groupView)
	add := func(s netip.Addr, p PortID, exclude bool) {
		if v.bySource == nil {
			v.bySource = make(map[netip.Addr]sourcePorts)
		}
		sp := v.bySource[s]
		if exclude {
			sp.exclude.Add(p)
		} else {
			sp.include.Add(p)
		}
		v.bySource[s] = sp
		v.entries++
	}
	for i := range members {
		e := &members[i]
		if e.m.Mode == ModeExclude {
			v.anyExclude.Add(e.port)
			for s := range e.m.Excluded {
				add(s, e.port, true)
			}
			continue
		}
		for s := range e.m.Requested {
			add(s, e.port, false)
		}
	}
	return v
}

// NewGroupTable returns an empty table.
func NewGroupTable() *GroupTable {
	return &GroupTable{groups: make(map[groupKey]*groupState)}
}

// Lookup returns the ports that want traffic from source to (vlan, group), and whether the group
// is registered (some port holds state for it, even if none wants this source).
// Allocation-free; never waits for Update/ForEach processing, and takes no
// lock.
func (t *GroupTable) Lookup(vlan uint16, group, source netip.Addr) (PortSet, bool) {
	k := groupKey{vlan: uint64(vlan), group: group.Unmap()}
	if k.group.Zone() != "" {
		k.group = k.group.WithZone("")
	}
	g, ok := t.index.Load(k)
	if !ok {
		return PortSet{}, false
	}
	return g.(*groupState).view.Load().ports(source.Unmap()), true
}

// Update runs fn on port's membership of (vlan, group), creating an empty INCLUDE one if there
// is none, under the table's control-plane lock. Afterwards an Empty membership is deleted, a
// group with no port left is deleted, and the group's forwarding view is recomputed and published.
//
// An IPv4 group may be given as a 4-byte or an IPv4-mapped address; both
// name the same entry. If group is not a multicast address, or port is not
// below MaxPorts, Update does nothing and does not call fn: snoop validates
// both before it gets here. fn must not call the table's methods (the lock
// is held), other than Entries and PortEntries, nor keep m after it returns. Update republishes the view only if
// fn changed what is forwarded: a refresh of timers leaves it alone.
func (t *GroupTable) Update(vlan uint16, group netip.Addr, port PortID, fn func(m *PortMembership)) {
	k, ok := makeGroupKey(vlan, group)
	if !ok || int(port) >= MaxPorts {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()

	g := t.groups[k]
	if g == nil {
		g = &groupState{key: k}
	}
	i, found := g.find(port)
	if !found {
		g.members = slices.Insert(g.members, i, member{port: port})
	}
	fn(&g.members[i].m)
	t.settleLocked(k, g)
}

// settleLocked brings g up to date after its memberships may have changed:
// Empty memberships go, a group with none left leaves the table, a group
// new to the table enters it, a changed view is published (before the
// group becomes visible to Lookup, if it is new), and the memberships are
// filed by their deadlines. Caller holds mu.
func (t *GroupTable) settleLocked(k groupKey, g *groupState) {
	changed := g.tidyLocked(t)
	defer t.compactLocked()
	switch {
	case len(g.members) == 0:
		if g.inTable {
			g.inTable = false
			delete(t.groups, k)
			t.index.Delete(k)
			t.count.Add(-1)
			t.notifyLocked()
		}
		return
	case changed:
		g.view.Store(buildView(g.members))
	}
	added := !g.inTable
	if added {
		g.inTable = true
		t.groups[k] = g
		t.index.Store(k, g)
		t.count.Add(1)
	}
	if changed || added {
		t.notifyLocked()
	}
}

// notifyLocked calls the SetChanged hook. Caller holds mu.
func (t *GroupTable) notifyLocked() {
	if t.changed != nil {
		t.changed()
	}
}

// UpdateGroup runs fn on every port's membership of (vlan, group), under the
// control-plane lock, then cleans up and republishes the group as Update
// does; it touches no other group (a group-specific query seen from the
// querier). A group not in the table, or not a multicast address, is left
// alone and fn is not called. fn must not call the table's methods nor keep
// m.
func (t *GroupTable) UpdateGroup(vlan uint16, group netip.Addr, fn func(port PortID, m *PortMembership)) {
	k, ok := makeGroupKey(vlan, group)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.groups[k]
	if g == nil {
		return
	}
	for i := range g.members {
		fn(g.members[i].port, &g.members[i].m)
	}
	t.settleLocked(k, g)
}

// Get returns a deep copy of port's membership of (vlan, group).
func (t *GroupTable) Get(vlan uint16, group netip.Addr, port PortID) (PortMembership, bool) {
	k, ok := makeGroupKey(vlan, group)
	if !ok {
		return PortMembership{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.groups[k]
	if g == nil {
		return PortMembership{}, false
	}
	i, found := g.find(port)
	if !found {
		return PortMembership{}, false
	}
	return g.members[i].m.clone(), true
}

// ForEach calls fn for every (vlan, group, port) membership under the control-plane lock, in no
// particular order; fn may modify m (timer processing), and the same clean-up and republishing as
// Update happen for the groups it touched. fn returns false to stop.
//
// The clean-up of a group happens once fn has seen all its ports (or
// stopped), before the walk moves on. fn must not call the table's methods
// nor keep m after it returns. Lookups are not held up by the walk.
func (t *GroupTable) ForEach(fn func(vlan uint16, group netip.Addr, port PortID, m *PortMembership) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, g := range t.groups {
		more := true
		for i := range g.members {
			e := &g.members[i]
			if more = fn(uint16(k.vlan), k.group, e.port, &e.m); !more {
				break
			}
		}
		// Deleting the current key of a range over groups is allowed.
		t.settleLocked(k, g)
		if !more {
			return
		}
	}
}

// RemovePort deletes every membership of port (link down); returns how many.
// It looks in every group, O(G log P), and tidies the groups it changes: a
// link change is rare enough to afford that, and a per-port index of
// groups would cost every Update.
func (t *GroupTable) RemovePort(port PortID) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for k, g := range t.groups {
		if i, found := g.find(port); found {
			t.countEntries(&g.members[i], 0)
			t.countHosts(&g.members[i], 0)
			t.unscheduleLocked(&g.members[i])
			g.members = slices.Delete(g.members, i, i+1)
			n++
			t.settleLocked(k, g)
		}
	}
	return n
}

// Groups returns a snapshot for reports, sorted by VLAN, then group address
// (IPv4 before IPv6). The memberships are deep copies.
func (t *GroupTable) Groups() []GroupEntry {
	t.mu.Lock()
	out := make([]GroupEntry, 0, len(t.groups))
	for k, g := range t.groups {
		e := GroupEntry{VLAN: uint16(k.vlan), Group: k.group, Ports: make(map[PortID]PortMembership, len(g.members))}
		for i := range g.members {
			e.Ports[g.members[i].port] = g.members[i].m.clone()
		}
		out = append(out, e)
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b GroupEntry) int {
		return cmp.Or(cmp.Compare(a.VLAN, b.VLAN), a.Group.Compare(b.Group))
	})
	return out
}

// Len returns the number of registered groups. It does not wait for
// membership processing.
func (t *GroupTable) Len() int { return int(t.count.Load()) }

// countEntries records that e now stands for n entries. Caller holds mu.
func (t *GroupTable) countEntries(e *member, n int) {
	if d := n - e.entries; d != 0 {
		t.entries.Add(int64(d))
		t.portEntries[e.port].Add(int64(d))
		e.entries = n
	}
}

// countHosts records that e now stands for n host-tracking entries. Caller
// holds mu.
func (t *GroupTable) countHosts(e *member, n int) {
	if d := n - e.hosts; d != 0 {
		t.hosts.Add(int64(d))
		t.portHosts[e.port].Add(int64(d))
		e.hosts = n
	}
}

// HostEntries returns the host-tracking entries of the whole table. Like
// Entries it takes no lock.
func (t *GroupTable) HostEntries() int { return int(t.hosts.Load()) }

// PortHostEntries returns the host-tracking entries of port
// (PortMembership.HostEntries over its memberships). Like PortEntries it
// takes no lock, and inside an Update callback the membership being changed
// counts as it was before the call.
func (t *GroupTable) PortHostEntries(port PortID) int {
	if int(port) >= MaxPorts {
		return 0
	}
	return int(t.portHosts[port].Load())
}

// Entries returns the (S,G) and (*,G) entries of the whole table (see
// PortMembership.Entries). It takes no lock, so an Update callback may call
// it.
func (t *GroupTable) Entries() int { return int(t.entries.Load()) }

// PortEntries returns the (S,G) and (*,G) entries of port. It takes no lock,
// so an Update callback may call it; the membership the callback is
// changing counts as it was before the call.
func (t *GroupTable) PortEntries(port PortID) int {
	if int(port) >= MaxPorts {
		return 0
	}
	return int(t.portEntries[port].Load())
}

// EvictOldest deletes port's memberships, the least recently reported
// first, until at least n entries are freed or none is left but the
// membership of (keepVLAN, keep), which it never deletes. It returns the
// entries freed. A port whose group limit says "replace" makes room this
// way; it walks the whole table, O(G log G), which only a port at its limit
// pays, once per group it joins there.
func (t *GroupTable) EvictOldest(port PortID, keepVLAN uint16, keep netip.Addr, n int) int {
	keepKey, _ := makeGroupKey(keepVLAN, keep)
	t.mu.Lock()
	defer t.mu.Unlock()
	type candidate struct {
		k    groupKey
		last time.Time
	}
	var cands []candidate
	for k, g := range t.groups {
		if k == keepKey {
			continue
		}
		if i, found := g.find(port); found {
			cands = append(cands, candidate{k, g.members[i].m.LastReport})
		}
	}
	slices.SortFunc(cands, func(a, b candidate) int { return a.last.Compare(b.last) })
	freed := 0
	for _, c := range cands {
		if freed >= n {
			break
		}
		g := t.groups[c.k]
		i, _ := g.find(port)
		freed += g.members[i].entries
		t.countEntries(&g.members[i], 0)
		t.countHosts(&g.members[i], 0)
		t.unscheduleLocked(&g.members[i])
		g.members = slices.Delete(g.members, i, i+1)
		t.settleLocked(c.k, g)
	}
	return freed
}
