package snoop

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// MembershipConfig configures a Membership.
type MembershipConfig struct {
	// Timers are the configured protocol timers; zero fields take their
	// defaults (DefaultTimers). QuerySeen replaces Robustness, QueryInterval
	// and (when it follows Robustness) LastMemberCount with what the elected
	// querier of a VLAN and family announces, for that VLAN and family
	// only; Membership.Timers returns the values in use in each.
	Timers Timers
	// SSM lists the source-specific multicast ranges (RFC 4607), where
	// EXCLUDE-mode requests are ignored (RFC 4604 s2.2.1). nil selects
	// DefaultSSM; an empty non-nil slice turns the SSM rules off.
	SSM []netip.Prefix // default 232.0.0.0/8 and ff3x::/32 (see DefaultSSM)
	// FastLeave reports whether a leave on port takes effect at once (the
	// port has one host behind it). nil: no fast leave.
	FastLeave func(port fdb.PortID) bool
	// Querier reports whether the switch is the querier in vlan for family
	// (4: IGMP, 6: MLD). nil: it never is.
	Querier func(vlan uint16, family int) bool
	// Admit decides whether port may gain one more (S,G) or (*,G) entry
	// (fdb.PortMembership.Entries): a (*,G) join, or a source a report adds
	// to a port's INCLUDE or EXCLUDE list. It gets the entries port holds,
	// how many of those lie outside the group being changed (what a
	// replacement may remove) and the entries of the whole table; it
	// returns whether to add the entry and, if so, whether to make room by
	// removing port's least recently reported groups. A refused (*,G) join
	// changes nothing; a refused source is left out of the list (for an
	// EXCLUDE list that means its traffic still flows). nil admits all;
	// guard.Guard.AllowNewEntry is the usual one. It is called with the
	// group table's lock held.
	Admit func(port fdb.PortID, portEntries, evictable, switchEntries int) (allow, replace bool)
	// AdmitHost decides whether port may track one more reporting host, or
	// a tracked host more sources (explicit host tracking, see
	// fdb.PortMembership.Hosts): others is the host entries
	// (fdb.PortMembership.HostEntries) port holds without this host, need
	// what the host would hold. A refused host is not tracked, and fast
	// leave on its port falls back to queries for the group until the
	// group membership interval has passed without a refusal; the report
	// still applies to the port's state. nil admits all;
	// guard.Guard.AllowNewHost is the usual one. It is called with the group
	// table's lock held.
	AdmitHost func(port fdb.PortID, others, need int) bool
}

// DefaultSSM returns the SSM ranges of RFC 4607 s1: 232.0.0.0/8 and
// FF3x::/32 for every scope x, as sixteen /32 prefixes. ff30::/12 would also
// cover the unicast-prefix-based addresses of RFC 3306 (ff3x:00PL:prefix::,
// with a prefix length PL > 0), which are any-source groups: a prefix that
// wide would make the switch ignore their (*,G) joins.
func DefaultSSM() []netip.Prefix {
	ssm := make([]netip.Prefix, 0, 17)
	ssm = append(ssm, netip.MustParsePrefix("232.0.0.0/8"))
	for x := range 16 {
		a := [16]byte{0: 0xff, 1: 0x30 | byte(x)}
		ssm = append(ssm, netip.PrefixFrom(netip.AddrFrom16(a), 32))
	}
	return ssm
}

// QueryAction is a query the switch must send because it is the querier: a
// group-specific query (Query.Sources empty) or a group-and-source-specific
// one, out of Port only, in VLAN. Family is 4 (IGMP) or 6 (MLD).
//
// Query is the first transmission: RFC 3376 s6.6.3 has the querier send it
// [Last Member Query Count] times, [Last Member Query Interval] apart, and
// Query.MaxResp is that interval. Query.Version is 3 for IGMP and 2 for MLD,
// whatever the port's compatibility mode: an IGMPv2 host "MUST ignore
// anything past the first 8 octets" of a query (RFC 2236 s2.5), an MLDv1
// host past the first 24 (RFC 2710 s3.7), so it reads a group-specific
// query of the newer version as its own, and a group-and-source-specific
// one as a group-specific one, which it answers with a report that keeps
// its port in EXCLUDE {}. A querier configured for an older version may
// rewrite Version. Query.SFlag is false: the timers the query is
// about have just been lowered to LMQT, and RFC 3376 s6.6.3 sets the flag
// only for timers above LMQT.
type QueryAction struct {
	Port   fdb.PortID
	VLAN   uint16
	Query  Query
	Family int
}

// Membership applies reports, leaves and queries to the group table, per port.
//
// A snooping switch keeps the router state of RFC 3376 s6 (RFC 3810 s7 for
// MLD) per (VLAN, group, port) rather than per interface: each port's hosts
// are one "attached network", so a leave on one port never touches another.
// The state lives in the fdb.GroupTable as fdb.PortMembership values, timers
// as expiry times; Membership decides every transition.
//
// Membership never reads the clock: every method takes now. Before it applies
// anything to a membership it expires that membership's timers at now, so
// the result does not depend on how often Tick runs; Tick is what removes
// state nobody touches and keeps the forwarding view up to date.
//
// All methods are safe for concurrent use. The FastLeave and Querier
// callbacks are called without any lock held, on the caller's goroutine.
type Membership struct {
	groups    *fdb.GroupTable
	ssm       []netip.Prefix
	fastLeave func(port fdb.PortID) bool
	querier   func(vlan uint16, family int) bool
	admit     func(port fdb.PortID, portEntries, evictable, switchEntries int) (allow, replace bool)
	admitHost func(port fdb.PortID, others, need int) bool
	// configured is cfg.Timers with defaults filled in; QuerySeen falls back
	// to it when a query announces no QRV or QQI.
	configured Timers
	// followRV: LastMemberCount was configured as "the Robustness Variable"
	// (0 or equal to it), so it follows an adopted QRV.
	followRV bool

	mu sync.Mutex
	// adopted are the timers of each (VLAN, family) whose querier
	// announced its QRV or QQI; the others use configured. Guarded by mu.
	// At most 4095 VLANs x 2 families.
	adopted map[timerKey]Timers
}

// timerKey is a (VLAN, family) whose querier's QRV and QQI were adopted:
// IGMP and MLD have queriers of their own in every VLAN, each announcing
// its own values (RFC 3376 s4.1.6-7, RFC 3810 s5.1.8-9).
type timerKey struct {
	vlan   uint16
	family int
}

// NewMembership returns a Membership that keeps its state in groups.
func NewMembership(groups *fdb.GroupTable, cfg MembershipConfig) *Membership {
	t := cfg.Timers.withDefaults()
	ssm := cfg.SSM
	if ssm == nil {
		ssm = DefaultSSM()
	}
	// The table files every membership by its earliest timer, so that Tick
	// runs only the memberships that are due.
	groups.ScheduleBy(nextExpiry)
	return &Membership{
		groups:     groups,
		ssm:        slices.Clone(ssm),
		fastLeave:  cfg.FastLeave,
		querier:    cfg.Querier,
		admit:      cfg.Admit,
		admitHost:  cfg.AdmitHost,
		configured: t,
		followRV:   cfg.Timers.LastMemberCount <= 0 || cfg.Timers.LastMemberCount == t.Robustness,
		adopted:    make(map[timerKey]Timers),
	}
}

// Timers returns the timers in use in vlan for family (4: IGMP, 6: MLD):
// the configured ones, with what QuerySeen adopted from the queries of
// that VLAN and family. An MLD querier's QRV and QQI say nothing about the
// IGMP querier's, nor about another VLAN's.
func (m *Membership) Timers(vlan uint16, family int) Timers {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.timersLocked(vlan, family)
}

// timersLocked is Timers; the caller holds m.mu.
func (m *Membership) timersLocked(vlan uint16, family int) Timers {
	if t, ok := m.adopted[timerKey{vlan, family}]; ok {
		return t
	}
	return m.configured
}

// Report applies a report/leave message (any version) received on port at now. It returns the
// group-specific (and group-and-source-specific) queries the switch must send when it is the
// querier (RFC 3376 s6.4.2/6.6.3), with the port they are for (the switch sends them out of that
// port only). Records for SSM-range groups with EXCLUDE/TO_EX are ignored (RFC 4604).
//
// What is ignored, without error (the caller has already accepted the packet
// and forwards it to the router ports whatever Report does with it):
//   - message types that are not reports, leaves or dones;
//   - groups that are not multicast addresses of the message's family;
//   - the groups the switch always floods (see Flooded): 224.0.0.0/24, which
//     RFC 4541 s2.1.2 floods and does not snoop, and IPv6 groups of scope 0,
//     1 and 2 (ff00::/16, ff01::/16, ff02::/16: RFC 3810 s6 says no MLD
//     message is ever sent for ff02::1 nor for scopes 0 and 1, and the
//     link-scope groups hosts do report, solicited-node and mDNS among them,
//     are flooded whatever the reports say). State for them would restrict
//     nothing, yet it would use up the port's group limit and the
//     switch-wide entry limit: a host with IPv6 on reports one
//     solicited-node group per address, and with group-limit 2 could then
//     join no IPv4 group at all;
//   - record types other than the six of RFC 3376 s4.2.12 ("MUST be silently
//     ignored");
//   - in the SSM ranges, MODE_IS_EXCLUDE and CHANGE_TO_EXCLUDE records, and
//     IGMPv1/v2 and MLDv1 reports, which mean IS_EX({}) (RFC 3376 s7.3.2,
//     RFC 3810 s8.3.2) and so are EXCLUDE requests too: RFC 4604 s2.2.1. Such
//     a report does not start the older-host timer either, so an SSM group
//     never leaves IGMPv3/MLDv2 mode;
//   - what the port's compatibility mode ignores (RFC 3376 s7.3.2): see
//     below.
//
// While an IGMPv1 host is present on the port (V1HostTimer running, IGMP),
// the group is in IGMPv1 mode: BLOCK records are ignored, TO_EX records are
// TO_EX({}), and IGMPv2 leaves and TO_IN records are ignored. While an IGMPv2
// host is present (V2HostTimer, IGMP), or an MLDv1 host (V1HostTimer, MLD),
// the group is in IGMPv2/MLDv1 mode: BLOCK ignored, TO_EX as TO_EX({}), and
// leaves (dones) are TO_IN({}).
//
// A leave, or any record whose table action is "Send Q(...)", lowers timers
// only when the switch is the querier (it then returns the queries); when it
// is not, the port's state stands until the elected querier's own
// group-specific query arrives (QuerySeen) or it times out. With FastLeave,
// a "Send Q(G,S)" action instead expires the sources S on the port at once,
// and "Send Q(G)" expires the port's group timer at once (RFC 3376 s6.5), so
// a TO_IN({}) or leave removes the port's membership immediately; no query
// is returned for it.
//
// Explicit host tracking (see hosts.go) refines fast leave: IGMPv3/MLDv2
// records (and leaves, as TO_IN({})) also update the reporting host's own
// state in fdb.PortMembership.Hosts, and in IGMPv3/MLDv2 mode a fast leave
// expires only the sources no tracked host still wants, and the group timer
// only when no tracked host is in EXCLUDE mode. While a host that reported
// the group is not tracked (UntrackedUntil: the host limit, or a report from
// 0.0.0.0 or ::), the port is treated as one without fast leave for the
// group: queries when the switch is the querier, else the elected querier's
// group-specific query. In IGMPv1/v2 or MLDv1 mode fast leave acts on the
// whole port, as without host tracking.
func (m *Membership) Report(vlan uint16, port fdb.PortID, msg *Message, now time.Time) []QueryAction {
	if msg == nil {
		return nil
	}
	var family int
	switch msg.Type {
	case MsgIGMPv1Report, MsgIGMPv2Report, MsgIGMPv2Leave, MsgIGMPv3Report:
		family = 4
	case MsgMLDv1Report, MsgMLDv1Done, MsgMLDv2Report:
		family = 6
	default:
		return nil
	}
	r := &reportRun{
		groups:    m.groups,
		admitFn:   m.admit,
		admitHost: m.admitHost,
		t:         m.Timers(vlan, family),
		now:       now,
		vlan:      vlan,
		port:      port,
		family:    family,
		querier:   m.querier != nil && m.querier(vlan, family),
		fastLeave: m.fastLeave != nil && m.fastLeave(port),
		reporter:  msg.Src,
		host:      hostKey(msg.Src),
	}
	r.fn = r.apply
	switch msg.Type {
	case MsgIGMPv1Report, MsgIGMPv2Report, MsgMLDv1Report:
		g, ok := m.snoopable(msg.Group, family)
		if !ok || m.inSSM(g) {
			return nil
		}
		r.op = opOlderReport
		r.olderV1 = msg.Type != MsgIGMPv2Report
		r.isReport = true
		r.group = g
		r.b = r.b[:0]
		r.update()
	case MsgIGMPv2Leave, MsgMLDv1Done:
		g, ok := m.snoopable(msg.Group, family)
		if !ok {
			return nil
		}
		r.op = opLeave
		r.group = g
		r.b = r.b[:0]
		r.update()
	case MsgIGMPv3Report, MsgMLDv2Report:
		r.op = opRecord
		r.isReport = true
		for i := range msg.Records {
			rec := &msg.Records[i]
			if rec.Type < ModeIsInclude || rec.Type > BlockOldSources {
				// RFC 3376 s4.2.12: "Unrecognized Record Type values MUST
				// be silently ignored."
				continue
			}
			g, ok := m.snoopable(rec.Group, family)
			if !ok {
				continue
			}
			if (rec.Type == ModeIsExclude || rec.Type == ChangeToExclude) && m.inSSM(g) {
				// RFC 4604 s2.2.1: "EXCLUDE mode does not apply to SSM
				// addresses, and an SSM-aware router will ignore
				// MODE_IS_EXCLUDE and CHANGE_TO_EXCLUDE_MODE requests in
				// the SSM range."
				continue
			}
			r.group = g
			r.rec = rec.Type
			r.loadSources(rec.Sources)
			r.update()
		}
	}
	return r.actions
}

// QuerySeen handles a query from the elected querier seen on port (RFC 3376 s6.6.1 as a
// non-querier follows it): a group-specific query lowers the group timer of every port to LMQT
// (LastMemberCount * MaxResp of the query); a group-and-source-specific one lowers those
// sources' timers; a v3/MLDv2 query's QRV and QQI are adopted into the timers
// of its VLAN and family.
//
// The family of a query is that of its Group (0.0.0.0 or :: for a general
// query). Timers are only lowered, never raised, and not at all when the
// query has the S flag (RFC 3376 s6.6.1: "When a router sends or receives a
// query with the Suppress Router-Side Processing flag set, it will not update
// its timers"). Ports in IGMPv1 mode keep their timers: RFC 3376 s7.3.2
// ignores leaves there because IGMPv1 hosts never send them, and an IGMPv1
// host has no Max Response Time to read: it answers any query after a delay
// chosen between 0 and 10 s (RFC 1112 appendix I), often after a 2 s LMQT.
func (m *Membership) QuerySeen(vlan uint16, port fdb.PortID, q *Query, now time.Time) {
	if q == nil {
		return
	}
	family := 0
	if q.Group.IsValid() {
		family = 6
		if q.Group.Unmap().Is4() {
			family = 4
		}
	}
	t := m.adopt(vlan, q, family)
	if q.IsGeneral() || q.SFlag {
		return
	}
	group, ok := m.snoopable(q.Group, family)
	if !ok {
		return
	}
	// RFC 2236 s3: "Non-Querier routers ... set their group membership
	// timer to [Last Member Query Count] times the Max Response Time in
	// the packet" (when it is greater); RFC 3376 s6.6.1: "Q(G): Group Timer
	// is lowered to LMQT", "Q(G,A): Source Timer for sources in A are
	// lowered to LMQT".
	maxResp := q.MaxResp
	if maxResp <= 0 {
		maxResp = t.LastMemberInterval
	}
	lmqt := now.Add(time.Duration(t.LastMemberCount) * maxResp)
	// Only the queried group's ports: the table files a lowered timer by
	// its new deadline, so Tick runs it on time.
	m.groups.UpdateGroup(vlan, group, func(_ fdb.PortID, p *fdb.PortMembership) {
		expire(p, now)
		if compatModeOf(p, family, now) == compatV1 {
			return
		}
		if len(q.Sources) == 0 {
			if p.Mode == fdb.ModeExclude && p.GroupTimer.After(lmqt) {
				p.GroupTimer = lmqt
			}
			return
		}
		for _, s := range q.Sources {
			s = normSource(s)
			if exp, ok := p.Requested[s]; ok && exp.After(lmqt) {
				p.Requested[s] = lmqt
			}
		}
	})
}

// Tick expires timers at now: sources whose timers ran out leave INCLUDE states and move to
// Excluded in EXCLUDE states; an EXCLUDE whose group timer ran out becomes INCLUDE with its
// running sources (or goes away); older-host timers run out. Returns the next time Tick has work.
//
// The next time is the earliest running timer of any membership, or the
// zero time when there is none. A timer expires when now reaches it. The
// caller runs Tick again by that time (and after Report or QuerySeen, which
// may set earlier timers): until Tick or a report for the same membership
// expires a timer, the forwarding view still holds what it lets go.
//
// Tick touches only the memberships whose earliest timer (nextExpiry) has
// come: the group table keeps them in a due-time index (fdb.GroupTable.
// ScheduleBy), so a tick costs O(1) per due membership and allocates
// nothing unless forwarding changes.
func (m *Membership) Tick(now time.Time) time.Time {
	return m.groups.ExpireDue(now, func(_ uint16, _ netip.Addr, _ fdb.PortID, p *fdb.PortMembership) {
		expire(p, now)
	})
}

// adopt takes the querier's robustness and query interval from an IGMPv3 or
// MLDv2 query seen in vlan into the timers of (vlan, family), and returns
// the timers then in use there.
func (m *Membership) adopt(vlan uint16, q *Query, family int) Timers {
	var v3 bool
	switch family {
	case 4:
		v3 = q.Version == 3
	case 6:
		v3 = q.Version == 2
	default:
		// No group to tell the family by: only IGMPv3 has version 3, and
		// a version 2 query with QRV or QQI can only be MLDv2.
		switch {
		case q.Version == 3:
			family, v3 = 4, true
		case q.Version == 2 && (q.QRV != 0 || q.QQI != 0):
			family, v3 = 6, true
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.timersLocked(vlan, family)
	if !v3 {
		return t
	}
	// RFC 3376 s4.1.6: "Routers adopt the QRV value from the most recently
	// received Query as their own [Robustness Variable] value, unless that
	// most recently received QRV was zero, in which case the receivers use
	// the default [Robustness Variable] value specified in section 8.1 or a
	// statically configured value." (RFC 3810 s5.1.8 likewise.)
	if q.QRV > 0 {
		t.Robustness = q.QRV
	} else {
		t.Robustness = m.configured.Robustness
	}
	if m.followRV {
		// RFC 3376 s8.9: Last Member Query Count "Default: the Robustness
		// Variable"; the querier that sends the queries counts with its own.
		t.LastMemberCount = t.Robustness
	}
	// RFC 3376 s4.1.7: "Multicast routers that are not the current querier
	// adopt the QQI value from the most recently received Query as their
	// own [Query Interval] value, unless that most recently received QQI was
	// zero, in which case the receiving routers use the default." (RFC 3810
	// s5.1.9 likewise.) The default here is the configured value.
	if q.QQI > 0 {
		t.QueryInterval = q.QQI
	} else {
		t.QueryInterval = m.configured.QueryInterval
	}
	m.adopted[timerKey{vlan, family}] = t
	return t
}

// snoopable returns group in the table's form (IPv4 as 4 bytes, no zone)
// and whether membership state is kept for it: a multicast address of the
// family that the data plane does not flood anyway (see Report).
func (m *Membership) snoopable(group netip.Addr, family int) (netip.Addr, bool) {
	g := group.Unmap().WithZone("")
	switch family {
	case 4:
		if !g.Is4() {
			return g, false
		}
	case 6:
		if !group.Is6() || group.Is4In6() {
			return g, false
		}
	default:
		return g, false
	}
	return g, g.IsMulticast() && !Flooded(g)
}

// inSSM reports whether group is in one of the SSM ranges.
func (m *Membership) inSSM(group netip.Addr) bool {
	for _, p := range m.ssm {
		if p.Contains(group) {
			return true
		}
	}
	return false
}

// compat is a port's group compatibility mode (RFC 3376 s7.3.2, RFC 3810
// s8.3.2).
type compat uint8

const (
	compatV3 compat = iota // IGMPv3 / MLDv2
	compatV2               // IGMPv2, and MLDv1 (which acts as IGMPv2 does)
	compatV1               // IGMPv1
)

// compatModeOf returns the compatibility mode of p at now. RFC 3376 s7.3.2:
// IGMPv1 "IGMPv1 Host Present running"; IGMPv2 "IGMPv2 Host Present running
// and IGMPv1 Host Present not running"; IGMPv3 otherwise. RFC 3810 s8.3.2:
// MLDv1 while the MLDv1 Host Present timer (V1HostTimer) runs. A family of 0
// (unknown) reads the timers as IGMP's.
func compatModeOf(p *fdb.PortMembership, family int, now time.Time) compat {
	if family == 6 {
		if now.Before(p.V1HostTimer) {
			return compatV2
		}
		return compatV3
	}
	switch {
	case now.Before(p.V1HostTimer):
		return compatV1
	case now.Before(p.V2HostTimer):
		return compatV2
	}
	return compatV3
}

// expire runs out every timer of p that has reached now.
func expire(p *fdb.PortMembership, now time.Time) {
	expireHosts(p, now)
	if !p.V1HostTimer.IsZero() && !now.Before(p.V1HostTimer) {
		p.V1HostTimer = time.Time{}
	}
	if !p.V2HostTimer.IsZero() && !now.Before(p.V2HostTimer) {
		p.V2HostTimer = time.Time{}
	}
	if p.Mode == fdb.ModeExclude {
		if !now.Before(p.GroupTimer) {
			toInclude(p, now)
			return
		}
		// RFC 3376 s6.3, EXCLUDE: "Source Timer == 0: Suggest to not
		// forward traffic from source (DO NOT remove record)": the source
		// moves from X to Y.
		for s, exp := range p.Requested {
			if !now.Before(exp) {
				delete(p.Requested, s)
				setExcluded(p, s)
			}
		}
		return
	}
	// RFC 3376 s6.3, INCLUDE: "Source Timer == 0: Suggest to stop
	// forwarding traffic from source and remove source record. If there are
	// no more source records for the group, delete group record." (The
	// table deletes the empty membership.)
	for s, exp := range p.Requested {
		if !now.Before(exp) {
			delete(p.Requested, s)
		}
	}
}

// toInclude switches p from EXCLUDE to INCLUDE because its group timer ran
// out. RFC 3376 s6.5: "If there are any source records with source timers
// greater than zero (i.e., requested to be forwarded), a router switches to
// filter-mode of INCLUDE using those source records. Source records whose
// timers are zero (from the previous EXCLUDE mode) are deleted."
func toInclude(p *fdb.PortMembership, now time.Time) {
	p.Mode = fdb.ModeInclude
	p.GroupTimer = time.Time{}
	clear(p.Excluded)
	for s, exp := range p.Requested {
		if !now.Before(exp) {
			delete(p.Requested, s)
		}
	}
}

// nextExpiry returns the earliest running timer of p, zero if none. It is
// the group table's deadline for p (see NewMembership): every timer that
// expire runs must count here, or Tick would not run it.
func nextExpiry(p *fdb.PortMembership) time.Time {
	var next time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, exp := range p.Requested {
		earlier(exp)
	}
	if p.Mode == fdb.ModeExclude {
		earlier(p.GroupTimer)
	}
	earlier(p.V1HostTimer)
	earlier(p.V2HostTimer)
	for _, h := range p.Hosts {
		earlier(h.Expires)
	}
	earlier(p.UntrackedUntil) // expireHosts clears it
	return next
}
