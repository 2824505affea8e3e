package fdb_test

import (
	"maps"
	"net/netip"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// The fuzzer's small world. Ports sit on the bitset's word boundaries.
// Groups 0 and 1 share a MAC (01:00:5e:01:01:01); group 3 is group 0
// IPv4-mapped, and source 3 is source 0 IPv4-mapped, so the table must treat
// them as the same address. Source 4 is never put in a list.
var (
	groupFuzzPorts   = [8]fdb.PortID{0, 1, 2, 63, 64, 130, 254, 255}
	groupFuzzGroups  = [4]netip.Addr{netip.MustParseAddr("224.1.1.1"), netip.MustParseAddr("225.1.1.1"), netip.MustParseAddr("ff3e::1234"), netip.MustParseAddr("::ffff:224.1.1.1")}
	groupFuzzSources = [5]netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("::ffff:10.0.0.1"), netip.MustParseAddr("10.9.9.9")}
	// groupFuzzCanonical[i] is the index of the address groupFuzzGroups[i] or
	// groupFuzzSources[i] stands for.
	groupFuzzCanonical = [5]int{0, 1, 2, 0, 4}
)

// Operations, the first byte of each pair (mod numOps).
const (
	opSetInclude   = iota // Update: Mode = INCLUDE, Excluded cleared
	opSetExclude          // Update: Mode = EXCLUDE with the group timer at the step's expiry + 40 s, lists kept
	opAddRequested        // Update: Requested += source, in the form given
	opDelRequested        // Update: Requested -= source
	opAddExcluded         // Update: Excluded += source, in the form given (also in INCLUDE, where it means nothing)
	opDelExcluded         // Update: Excluded -= source
	opForEach             // ForEach applying one timer rule to each membership, maybe stopping early
	opRemovePort          // RemovePort
	opSetRequested        // Update: Requested = {source}, a swap when it held one other
	opSetExcluded         // Update: Excluded = {source}
	opSetHost             // Update: Hosts[source] = INCLUDE {source} (two host entries), the key in the form given
	opDelHost             // Update: Hosts -= source
	opExpireDue           // ExpireDue at t0 + (argument/2) s, checked against a walk of the snapshot
	numOps
)

// ForEach rules, the argument's low two bits for opForEach.
const (
	tickSourceExpired = iota // the source's timer ran out: out of Requested; in EXCLUDE into Excluded
	tickGroupExpired         // EXCLUDE's group timer ran out: INCLUDE with the running sources
	tickNothing              // a walk that changes nothing
	tickJoin                 // every membership becomes a (*,G) join
)

// fuzzOp encodes one operation: the argument byte holds the group (bits 0-1),
// the VLAN (bit 2), the port (bits 3-5) and the source (bits 6-7). For
// opForEach the bits 0-1 are the rule and 2-4 how many calls before stopping
// (0: never stop).
func fuzzOp(op, vlan, group, port, source byte) []byte {
	return []byte{op, group | vlan<<2 | port<<3 | source<<6}
}

func fuzzTick(rule, stopAfter, source byte) []byte {
	return []byte{opForEach, rule | stopAfter<<2 | source<<6}
}

func fuzzSeq(ops ...[]byte) []byte {
	var b []byte
	for _, op := range ops {
		b = append(b, op...)
	}
	return b
}

// FuzzGroupTable runs a sequence of two-byte operations against a
// GroupTable and against refGroups, a model that keeps each membership as
// two source bitmasks and forwards by RFC 3376 s6.3 directly. After every
// operation the two must agree on every Lookup (including the aliased group
// and source forms), on Len, and on the Groups snapshot.
//
// The table keeps a due-time index (ScheduleBy fuzzDeadline, with a
// compaction floor of 2 so that compaction runs often, and a wheel of 8
// one-second slots, so that it turns and overflows). ExpireDue must do
// what fuzzExpire over every membership of the snapshot before it does,
// call fn on due memberships only, and return the earliest deadline left;
// after every operation the index holds one live entry per membership with
// a deadline and at most twice as many entries as live ones, plus the
// floor.
func FuzzGroupTable(f *testing.F) {
	const (
		v0, v1         = 0, 1
		g0, g1, g6, gM = 0, 1, 2, 3 // gM: g0 IPv4-mapped
		s1, s2, s6, sM = 0, 1, 2, 3 // sM: s1 IPv4-mapped
	)
	// Nothing at all.
	f.Add([]byte{})
	// A trailing odd byte is ignored.
	f.Add([]byte{opSetExclude})
	// INCLUDE {S1} on one port, EXCLUDE {S2} on another: S1 to both, S2 to
	// neither, any other source to the EXCLUDE port only.
	f.Add(fuzzSeq(fuzzOp(opAddRequested, v0, g0, 0, s1), fuzzOp(opSetExclude, v0, g0, 1, s1), fuzzOp(opAddExcluded, v0, g0, 1, s2)))
	// 224.1.1.1 and 225.1.1.1 share a MAC but are separate entries; so are
	// the same group in two VLANs.
	f.Add(fuzzSeq(fuzzOp(opSetExclude, v0, g0, 2, s1), fuzzOp(opAddRequested, v0, g1, 3, s2), fuzzOp(opSetExclude, v1, g0, 4, s1)))
	// A group named IPv4-mapped is the same entry; leaving it by its short
	// form deletes it.
	f.Add(fuzzSeq(fuzzOp(opSetExclude, v0, gM, 1, s1), fuzzOp(opSetInclude, v0, g0, 1, s1)))
	// An IPv4-mapped source is stored as IPv4 and deleted by that form.
	f.Add(fuzzSeq(fuzzOp(opAddRequested, v0, g0, 1, sM), fuzzOp(opAddRequested, v0, g0, 2, s1), fuzzOp(opDelRequested, v0, g0, 1, sM)))
	// An IPv4-mapped source added to a group that already exists, in X and
	// in Y of an EXCLUDE port.
	f.Add(fuzzSeq(fuzzOp(opSetExclude, v0, g0, 1, s1), fuzzOp(opAddRequested, v0, g0, 1, sM), fuzzOp(opAddExcluded, v0, g0, 1, sM), fuzzOp(opAddRequested, v0, g0, 2, sM)))
	// An Update that leaves INCLUDE {} never registers the group, even with
	// a stray Excluded source.
	f.Add(fuzzSeq(fuzzOp(opSetInclude, v0, g1, 0, s1), fuzzOp(opAddExcluded, v0, g1, 0, s1), fuzzOp(opDelRequested, v0, g1, 0, s1)))
	// A source in both X and Y of an EXCLUDE port is not forwarded.
	f.Add(fuzzSeq(fuzzOp(opAddRequested, v0, g6, 3, s6), fuzzOp(opSetExclude, v0, g6, 3, s6), fuzzOp(opAddExcluded, v0, g6, 3, s6)))
	// Ports 63/64 and 254/255 straddle words of the PortSet.
	f.Add(fuzzSeq(fuzzOp(opSetExclude, v0, g0, 3, s1), fuzzOp(opAddRequested, v0, g0, 4, s1), fuzzOp(opSetExclude, v0, g0, 6, s1), fuzzOp(opAddExcluded, v0, g0, 7, s1), fuzzOp(opSetExclude, v0, g0, 7, s1)))
	// A timer tick moves an expired source of an EXCLUDE port into Y and
	// drops it from an INCLUDE port, whose group then goes away.
	f.Add(fuzzSeq(fuzzOp(opSetExclude, v0, g0, 1, s1), fuzzOp(opAddRequested, v0, g0, 1, s1), fuzzOp(opAddRequested, v1, g1, 2, s1), fuzzTick(tickSourceExpired, 0, s1)))
	// The group timer of EXCLUDE {} runs out: INCLUDE {}, deleted.
	f.Add(fuzzSeq(fuzzOp(opSetExclude, v0, g6, 5, s1), fuzzOp(opAddRequested, v0, g6, 6, s6), fuzzOp(opSetExclude, v0, g6, 6, s6), fuzzTick(tickGroupExpired, 0, s1)))
	// A walk stopped after one call cleans up only what it touched.
	f.Add(fuzzSeq(fuzzOp(opSetExclude, v0, g0, 1, s1), fuzzOp(opSetExclude, v0, g1, 1, s1), fuzzOp(opSetExclude, v1, g6, 2, s1), fuzzTick(tickJoin, 1, s1), fuzzTick(tickGroupExpired, 1, s1)))
	// A walk that changes nothing; then a join of everything.
	f.Add(fuzzSeq(fuzzOp(opAddRequested, v0, g0, 1, s2), fuzzOp(opAddExcluded, v0, g0, 2, s1), fuzzTick(tickNothing, 0, s1), fuzzTick(tickJoin, 0, s1)))
	// One source swapped for another in A, then in Y: same count, new view.
	f.Add(fuzzSeq(fuzzOp(opAddRequested, v0, g0, 1, s1), fuzzOp(opSetRequested, v0, g0, 1, s2), fuzzOp(opSetExclude, v0, g0, 1, s1), fuzzOp(opSetExcluded, v0, g0, 1, s1), fuzzOp(opSetExcluded, v0, g0, 1, s2)))
	// RemovePort of the last port deletes the group; of an absent port
	// returns 0.
	f.Add(fuzzSeq(fuzzOp(opSetExclude, v0, g0, 1, s1), fuzzOp(opAddRequested, v1, g6, 1, s6), fuzzOp(opRemovePort, v0, g0, 1, s1), fuzzOp(opRemovePort, v0, g0, 1, s1)))
	// Sources whose timers run out at different times, expired in two
	// steps: the first ExpireDue runs only the earlier one.
	f.Add(fuzzSeq(fuzzOp(opAddRequested, v0, g0, 1, s1), fuzzOp(opSetExclude, v0, g1, 2, s1), fuzzOp(opAddRequested, v0, g1, 2, s2), fuzzOp(opAddRequested, v0, g0, 3, s6),
		fuzzExpireAt(3), fuzzExpireAt(100)))
	// A timer moved earlier, then later again (a stale entry, then a
	// membership filed early); a deleted membership's entry is a ghost.
	f.Add(fuzzSeq(fuzzOp(opAddRequested, v0, g0, 1, s1), fuzzOp(opAddRequested, v0, g0, 1, s2), fuzzOp(opSetRequested, v0, g0, 1, s1), fuzzOp(opAddRequested, v0, g0, 1, s1),
		fuzzOp(opAddRequested, v1, g1, 2, s1), fuzzOp(opRemovePort, v0, g0, 2, s1), fuzzExpireAt(5), fuzzExpireAt(30)))

	// Tracked hosts change no forwarding, go with their membership when it
	// ends, and are counted per port; a host keyed IPv4-mapped stays apart
	// from its 4-byte form (snoop unmaps them).
	f.Add(fuzzSeq(fuzzOp(opSetExclude, v0, g0, 1, s1), fuzzOp(opSetHost, v0, g0, 1, s1), fuzzOp(opSetHost, v0, g0, 1, sM), fuzzOp(opSetHost, v1, g6, 2, s6),
		fuzzOp(opDelHost, v0, g0, 1, sM), fuzzOp(opSetInclude, v0, g0, 1, s1), fuzzOp(opRemovePort, v0, g0, 2, s1)))

	f.Fuzz(func(t *testing.T, data []byte) {
		// Six groups and eight ports need no longer sequences to reach
		// their interesting states; longer inputs only slow the fuzzer.
		const maxOps = 64
		if len(data) > 2*maxOps {
			data = data[:2*maxOps]
		}
		defer fdb.SetDueCompactFloor(fdb.SetDueCompactFloor(2))
		// Slots of 2^30 ns, 8 of them: the fuzzer's timers (up to 127 s)
		// wrap the ring and go beyond it.
		defer fdb.SetDueWheel(fdb.SetDueWheel(30, 8))
		tab := fdb.NewGroupTable()
		tab.ScheduleBy(fuzzDeadline)
		ref := make(refGroups)
		for i := 0; i+1 < len(data); i += 2 {
			op, arg := data[i]%numOps, data[i+1]
			gi, vlan, pi, si := int(arg&3), uint16(arg>>2&1), int(arg>>3&7), int(arg>>6)
			port, group, source := groupFuzzPorts[pi], groupFuzzGroups[gi], groupFuzzSources[si]
			expiry := t0.Add(time.Duration(i) * time.Second)
			key := refGroupKey{vlan, groupFuzzCanonical[gi]}
			bit := uint8(1) << groupFuzzCanonical[si]

			switch op {
			case opSetInclude, opSetExclude, opAddRequested, opDelRequested, opAddExcluded, opDelExcluded, opSetRequested, opSetExcluded, opSetHost, opDelHost:
				tab.Update(vlan, group, port, func(m *fdb.PortMembership) {
					switch op {
					case opSetInclude:
						m.Mode, m.Excluded = fdb.ModeInclude, nil
					case opSetExclude:
						m.Mode = fdb.ModeExclude
						m.GroupTimer = expiry.Add(40 * time.Second)
					case opAddRequested:
						if m.Requested == nil {
							m.Requested = make(map[netip.Addr]time.Time)
						}
						m.Requested[source] = expiry
					case opDelRequested:
						delete(m.Requested, source.Unmap())
					case opAddExcluded:
						if m.Excluded == nil {
							m.Excluded = make(map[netip.Addr]struct{})
						}
						m.Excluded[source] = struct{}{}
					case opDelExcluded:
						delete(m.Excluded, source.Unmap())
					case opSetRequested:
						m.Requested = map[netip.Addr]time.Time{source: expiry}
					case opSetExcluded:
						m.Excluded = map[netip.Addr]struct{}{source: {}}
					case opSetHost:
						if m.Hosts == nil {
							m.Hosts = make(map[netip.Addr]fdb.HostMembership)
						}
						m.Hosts[source] = fdb.HostMembership{Sources: map[netip.Addr]struct{}{source: {}}, Expires: expiry}
					case opDelHost:
						delete(m.Hosts, source)
					}
				})
				ref.update(key, port, func(m *refMember) {
					switch op {
					case opSetInclude:
						m.exclude, m.exc = false, 0
					case opSetExclude:
						m.exclude = true
					case opAddRequested:
						m.req |= bit
					case opDelRequested:
						m.req &^= bit
					case opAddExcluded:
						m.exc |= bit
					case opDelExcluded:
						m.exc &^= bit
					case opSetRequested:
						m.req = bit
					case opSetExcluded:
						m.exc = bit
					case opSetHost:
						m.hosts |= 1 << si
					case opDelHost:
						m.hosts &^= 1 << si
					}
				})

			case opForEach:
				rule, stopAfter := arg&3, int(arg>>2&7)
				total := ref.memberships()
				seen := make(map[refPortKey]bool)
				calls := 0
				tab.ForEach(func(vlan uint16, group netip.Addr, port fdb.PortID, m *fdb.PortMembership) bool {
					calls++
					k := refPortKey{refGroupKey{vlan, groupIndex(group)}, port}
					rm, ok := ref[k.refGroupKey][port]
					if k.group < 0 || !ok || seen[k] {
						t.Fatalf("step %d: ForEach visited (vlan %d, %v, port %d): in the model %v, seen before %v", i/2, vlan, group, port, ok, seen[k])
					}
					seen[k] = true
					s := groupFuzzSources[si].Unmap()
					switch rule {
					case tickSourceExpired:
						if _, running := m.Requested[s]; running {
							delete(m.Requested, s)
							rm.req &^= bit
							if m.Mode == fdb.ModeExclude {
								if m.Excluded == nil {
									m.Excluded = make(map[netip.Addr]struct{})
								}
								m.Excluded[s] = struct{}{}
								rm.exc |= bit
							}
						}
					case tickGroupExpired:
						if m.Mode == fdb.ModeExclude {
							m.Mode, m.Excluded = fdb.ModeInclude, nil
							rm.exclude, rm.exc = false, 0
						}
					case tickJoin:
						m.Mode, m.Requested, m.Excluded = fdb.ModeExclude, nil, nil
						rm = refMember{exclude: true, hosts: rm.hosts}
					}
					ref[k.refGroupKey][port] = rm
					return stopAfter == 0 || calls < stopAfter
				})
				want := total
				if stopAfter != 0 {
					want = min(total, stopAfter)
				}
				if calls != want {
					t.Fatalf("step %d: ForEach made %d calls (stop after %d), the model holds %d memberships", i/2, calls, stopAfter, total)
				}
				ref.clean()

			case opRemovePort:
				if got, want := tab.RemovePort(port), ref.removePort(port); got != want {
					t.Fatalf("step %d: RemovePort(%d) = %d, want %d", i/2, port, got, want)
				}

			case opExpireDue:
				now := t0.Add(time.Duration(arg/2) * time.Second)
				var want []fdb.GroupEntry
				for _, e := range tab.Groups() {
					for p, m := range e.Ports {
						fuzzExpire(&m, now)
						if m.Empty() {
							delete(e.Ports, p)
						} else {
							e.Ports[p] = m
						}
					}
					if len(e.Ports) > 0 {
						want = append(want, e)
					}
				}
				next := tab.ExpireDue(now, func(vlan uint16, group netip.Addr, port fdb.PortID, m *fdb.PortMembership) {
					if d := fuzzDeadline(m); d.IsZero() || d.After(now) {
						t.Fatalf("step %d: ExpireDue at t0+%v ran (vlan %d, %v, port %d), whose deadline is %v", i/2, now.Sub(t0), vlan, group, port, d)
					}
					fuzzExpire(m, now)
				})
				got := tab.Groups()
				var wantNext time.Time
				for _, e := range got {
					for _, m := range e.Ports {
						if d := fuzzDeadline(&m); !d.IsZero() && (wantNext.IsZero() || d.Before(wantNext)) {
							wantNext = d
						}
					}
				}
				if !next.Equal(wantNext) {
					t.Fatalf("step %d: ExpireDue at t0+%v returned %v, the earliest deadline left is %v", i/2, now.Sub(t0), next, wantNext)
				}
				compareTimed(t, i/2, got, want)
				ref = refFromGroups(got)
			}
			ref.check(t, tab, i/2)
			checkDueIndex(t, tab, i/2)
		}
	})
}

// groupIndex is the index in groupFuzzGroups of a group as the table reports it
// (never the IPv4-mapped form), or -1.
func groupIndex(g netip.Addr) int {
	for i, a := range groupFuzzGroups[:3] {
		if a == g {
			return i
		}
	}
	return -1
}

type refGroupKey struct {
	vlan  uint16
	group int // index in groupFuzzGroups of the groupFuzzCanonical form
}

type refPortKey struct {
	refGroupKey
	port fdb.PortID
}

// refMember is a membership with its source lists as bitmasks over the
// groupFuzzCanonical sources (bit i: groupFuzzSources[i]).
type refMember struct {
	exclude  bool
	req, exc uint8
	// hosts has bit i set for a host keyed groupFuzzSources[i], in the form
	// given (not canonical).
	hosts uint8
}

// forwards is RFC 3376 s6.3 for one port: EXCLUDE forwards all but Y,
// INCLUDE only A.
func (m refMember) forwards(bit uint8) bool {
	if m.exclude {
		return m.exc&bit == 0
	}
	return m.req&bit != 0
}

func (m refMember) empty() bool { return !m.exclude && m.req == 0 }

// refGroups holds only non-empty memberships and groups, as the table must.
type refGroups map[refGroupKey]map[fdb.PortID]refMember

func (r refGroups) update(k refGroupKey, port fdb.PortID, fn func(*refMember)) {
	if r[k] == nil {
		r[k] = make(map[fdb.PortID]refMember)
	}
	m := r[k][port]
	fn(&m)
	r[k][port] = m
	r.clean()
}

func (r refGroups) clean() {
	for k, ports := range r {
		for p, m := range ports {
			if m.empty() {
				delete(ports, p)
			}
		}
		if len(ports) == 0 {
			delete(r, k)
		}
	}
}

func (r refGroups) memberships() int {
	n := 0
	for _, ports := range r {
		n += len(ports)
	}
	return n
}

func (r refGroups) removePort(port fdb.PortID) int {
	n := 0
	for _, ports := range r {
		if _, ok := ports[port]; ok {
			delete(ports, port)
			n++
		}
	}
	r.clean()
	return n
}

// check compares tab with the model after step.
func (r refGroups) check(t *testing.T, tab *fdb.GroupTable, step int) {
	t.Helper()
	for vlan := range uint16(2) {
		for gi, group := range groupFuzzGroups {
			ports, registered := r[refGroupKey{vlan, groupFuzzCanonical[gi]}]
			for si, source := range groupFuzzSources {
				var want fdb.PortSet
				for p, m := range ports {
					if m.forwards(1 << groupFuzzCanonical[si]) {
						want.Add(p)
					}
				}
				if got, ok := tab.Lookup(vlan, group, source); got != want || ok != registered {
					t.Fatalf("step %d: Lookup(vlan %d, %v, from %v) = %v, %v; the model says %v, %v",
						step, vlan, group, source, got.Ports(), ok, want.Ports(), registered)
				}
			}
		}
	}
	if tab.Len() != len(r) {
		t.Fatalf("step %d: Len() = %d, the model holds %d groups", step, tab.Len(), len(r))
	}
	entries := tab.Groups()
	if len(entries) != len(r) {
		t.Fatalf("step %d: Groups() has %d entries, the model %d", step, len(entries), len(r))
	}
	// The entry counters agree with the memberships they count.
	var portEntries, portHosts [fdb.MaxPorts]int
	total := 0
	for _, e := range entries {
		for p, m := range e.Ports {
			portEntries[p] += m.Entries()
			portHosts[p] += m.HostEntries()
			total += m.Entries()
		}
	}
	hostTotal := 0
	for _, n := range portHosts {
		hostTotal += n
	}
	if got := tab.HostEntries(); got != hostTotal {
		t.Fatalf("step %d: HostEntries() = %d, the memberships hold %d", step, got, hostTotal)
	}
	for p, n := range portHosts {
		if got := tab.PortHostEntries(fdb.PortID(p)); got != n {
			t.Fatalf("step %d: PortHostEntries(%d) = %d, its memberships hold %d", step, p, got, n)
		}
	}
	if tab.Entries() != total {
		t.Fatalf("step %d: Entries() = %d, the memberships hold %d", step, tab.Entries(), total)
	}
	for p, n := range portEntries {
		if got := tab.PortEntries(fdb.PortID(p)); got != n {
			t.Fatalf("step %d: PortEntries(%d) = %d, its memberships hold %d", step, p, got, n)
		}
	}
	for i, e := range entries {
		if i > 0 && (entries[i-1].VLAN > e.VLAN || entries[i-1].VLAN == e.VLAN && entries[i-1].Group.Compare(e.Group) >= 0) {
			t.Fatalf("step %d: Groups() out of order at %d: %v %v after %v %v", step, i, e.VLAN, e.Group, entries[i-1].VLAN, entries[i-1].Group)
		}
		ports := r[refGroupKey{e.VLAN, groupIndex(e.Group)}]
		if len(e.Ports) != len(ports) {
			t.Fatalf("step %d: Groups() vlan %d %v has %d ports, the model %d", step, e.VLAN, e.Group, len(e.Ports), len(ports))
		}
		for p, m := range e.Ports {
			rm, ok := ports[p]
			if !ok || (m.Mode == fdb.ModeExclude) != rm.exclude || bitsOf(m.Requested) != rm.req || bitsOf(m.Excluded) != rm.exc || hostBits(m.Hosts) != rm.hosts {
				t.Fatalf("step %d: vlan %d %v port %d: table %v req %v exc %v hosts %v; model %+v (present %v)",
					step, e.VLAN, e.Group, p, m.Mode, m.Requested, m.Excluded, m.Hosts, rm, ok)
			}
		}
	}
}

// bitsOf turns a stored source list into the model's bitmask. A source
// stored in any form but the groupFuzzCanonical one sets bit 7, which no model
// bitmask has.
func bitsOf[V any](sources map[netip.Addr]V) uint8 {
	var b uint8
	for s := range sources {
		i := 7
		for j, a := range groupFuzzSources {
			if a == s && groupFuzzCanonical[j] == j {
				i = j
			}
		}
		b |= 1 << i
	}
	return b
}

// hostBits turns a membership's host keys into the model's bitmask, by the
// form given (bit i: groupFuzzSources[i]).
func hostBits(hosts map[netip.Addr]fdb.HostMembership) uint8 {
	var b uint8
	for h := range hosts {
		for j, a := range groupFuzzSources {
			if a == h {
				b |= 1 << j
			}
		}
	}
	return b
}

// fuzzExpireAt encodes ExpireDue at t0 + seconds (at most 127).
func fuzzExpireAt(seconds byte) []byte { return []byte{opExpireDue, seconds * 2} }

// fuzzDeadline is the fuzzer's deadline for the due-time index: the
// earliest source timer, or the group timer in EXCLUDE if earlier.
func fuzzDeadline(m *fdb.PortMembership) time.Time {
	var d time.Time
	for _, exp := range m.Requested {
		if d.IsZero() || exp.Before(d) {
			d = exp
		}
	}
	if m.Mode == fdb.ModeExclude && !m.GroupTimer.IsZero() && (d.IsZero() || m.GroupTimer.Before(d)) {
		d = m.GroupTimer
	}
	return d
}

// fuzzExpire runs out m's timers at now as RFC 3376 s6.3 and s6.5 say: an
// INCLUDE source goes, an EXCLUDE source moves to Excluded, and an EXCLUDE
// whose group timer ran out becomes INCLUDE with its running sources.
func fuzzExpire(m *fdb.PortMembership, now time.Time) {
	if m.Mode == fdb.ModeExclude && !m.GroupTimer.IsZero() && !now.Before(m.GroupTimer) {
		m.Mode, m.GroupTimer, m.Excluded = fdb.ModeInclude, time.Time{}, nil
	}
	for s, exp := range m.Requested {
		if now.Before(exp) {
			continue
		}
		delete(m.Requested, s)
		if m.Mode == fdb.ModeExclude {
			if m.Excluded == nil {
				m.Excluded = make(map[netip.Addr]struct{})
			}
			m.Excluded[s] = struct{}{}
		}
	}
}

// compareTimed compares two snapshots, timers included.
func compareTimed(t *testing.T, step int, got, want []fdb.GroupEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("step %d: ExpireDue left %d groups, a walk %d", step, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.VLAN != w.VLAN || g.Group != w.Group || len(g.Ports) != len(w.Ports) {
			t.Fatalf("step %d: ExpireDue left vlan %d %v with %d ports, a walk vlan %d %v with %d", step, g.VLAN, g.Group, len(g.Ports), w.VLAN, w.Group, len(w.Ports))
		}
		for p, gm := range g.Ports {
			wm, ok := w.Ports[p]
			if !ok || gm.Mode != wm.Mode || !gm.GroupTimer.Equal(wm.GroupTimer) || !maps.EqualFunc(gm.Requested, wm.Requested, time.Time.Equal) || !maps.Equal(gm.Excluded, wm.Excluded) {
				t.Fatalf("step %d: vlan %d %v port %d: ExpireDue left %+v, a walk %+v (present %v)", step, g.VLAN, g.Group, p, gm, wm, ok)
			}
		}
	}
}

// refFromGroups builds the model of a snapshot.
func refFromGroups(entries []fdb.GroupEntry) refGroups {
	r := make(refGroups)
	for _, e := range entries {
		k := refGroupKey{e.VLAN, groupIndex(e.Group)}
		r[k] = make(map[fdb.PortID]refMember)
		for p, m := range e.Ports {
			r[k][p] = refMember{exclude: m.Mode == fdb.ModeExclude, req: bitsOf(m.Requested), exc: bitsOf(m.Excluded), hosts: hostBits(m.Hosts)}
		}
	}
	return r
}

// checkDueIndex checks that tab's index has one live entry per membership
// with a deadline and is bounded.
func checkDueIndex(t *testing.T, tab *fdb.GroupTable, step int) {
	t.Helper()
	timed := 0
	for _, e := range tab.Groups() {
		for _, m := range e.Ports {
			if !fuzzDeadline(&m).IsZero() {
				timed++
			}
		}
	}
	entries, live := tab.DueIndexSize()
	if live != timed || entries > 2*live+2 {
		t.Fatalf("step %d: the due index holds %d entries, %d live; %d memberships have a deadline (at most %d entries allowed)", step, entries, live, timed, 2*timed+2)
	}
}
