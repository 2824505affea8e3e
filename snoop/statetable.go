package snoop

import (
	"net/netip"
	"slices"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// The router state table of RFC 3376 s6.4 (RFC 3810 s7.4 for MLDv2): how one
// report, leave or group record changes one port's membership, and which
// "Send Q(G)" and "Send Q(G,S)" actions it takes. Membership.Report builds a
// reportRun per message and applies each record under the group table's
// lock; the timers that run out between reports are expire's (membership.go).

// opKind says what a reportRun applies to a membership.
type opKind uint8

const (
	opRecord      opKind = iota // an IGMPv3/MLDv2 group record
	opOlderReport               // an IGMPv1/v2 or MLDv1 report: IS_EX({})
	opLeave                     // an IGMPv2 leave or MLDv1 done: TO_IN({})
)

// reportRun is one Report call: the context every record of the message
// shares, the record being applied, scratch space, and the queries to send.
// Its apply method runs under the group table's lock (GroupTable.Update).
type reportRun struct {
	groups    *fdb.GroupTable
	admitFn   func(port fdb.PortID, portEntries, evictable, switchEntries int) (allow, replace bool)
	admitHost func(port fdb.PortID, others, need int) bool
	t         Timers // snapshot at the start of Report
	now       time.Time
	vlan      uint16
	port      fdb.PortID
	family    int
	querier   bool
	fastLeave bool
	reporter  netip.Addr
	// host is the reporter as a key of fdb.PortMembership.Hosts; invalid
	// when the report names no host (0.0.0.0, ::).
	host     netip.Addr
	isReport bool // a report (LastReport, Reporter), not a leave
	fn       func(*fdb.PortMembership)

	// The operation under way.
	op      opKind
	olderV1 bool // opOlderReport: IGMPv1 or MLDv1 (V1HostTimer), else IGMPv2
	group   netip.Addr
	rec     RecordType
	// b is the record's source list B (or A), unmapped, valid for the
	// family, sorted and without duplicates, so that "s in B" is a binary
	// search.
	b []netip.Addr
	// q collects the sources of a Send Q(G,S) action.
	q []netip.Addr
	// small backs b for records of few sources.
	small [8]netip.Addr

	// The entry counts of the table before the membership under way was
	// changed, less that membership's own (see admit), and the entries
	// replacements must free once the table's lock is released.
	portBase, switchBase int
	evict                int
	// The host entries of the membership under way that expired before the
	// record, and the reporter's own before it (see settleHost).
	hostExpired, hostOld int

	// leaveNow: a "Send Q" action expires timers at once (fast leave) on
	// the membership under way; byHost: only what no tracked host wants.
	leaveNow, byHost bool

	actions []QueryAction
}

// normSource returns a source in the form the table keeps (IPv4 as 4 bytes,
// no zone).
func normSource(s netip.Addr) netip.Addr {
	return s.Unmap().WithZone("")
}

// loadSources fills r.b from a record's source list.
func (r *reportRun) loadSources(srcs []netip.Addr) {
	if r.b == nil {
		r.b = r.small[:0]
	}
	r.b = r.b[:0]
	for _, s := range srcs {
		s = normSource(s)
		if !s.IsValid() || s.Is4() != (r.family == 4) {
			continue
		}
		r.b = append(r.b, s)
	}
	slices.SortFunc(r.b, netip.Addr.Compare)
	r.b = slices.Compact(r.b)
}

// inB reports whether s is in the record's source list.
func (r *reportRun) inB(s netip.Addr) bool {
	_, ok := slices.BinarySearchFunc(r.b, s, netip.Addr.Compare)
	return ok
}

// update applies the operation under way to the port's membership of
// r.group, then removes the port's oldest groups if admit replaced some.
func (r *reportRun) update() {
	r.groups.Update(r.vlan, r.group, r.port, r.fn)
	if r.evict > 0 {
		r.groups.EvictOldest(r.port, r.vlan, r.group, r.evict)
		r.evict = 0
	}
}

// admit asks the Admit hook whether p may gain one more entry, where freed
// entries of p are about to be deleted. The counts it passes are the
// table's, with p as it stands now (less freed) instead of as it was, and
// less the replacements already promised.
func (r *reportRun) admit(p *fdb.PortMembership, freed int) bool {
	if r.admitFn == nil {
		return true
	}
	own := p.Entries() - freed
	allow, replace := r.admitFn(r.port, r.portBase+own-r.evict, r.portBase-r.evict, r.switchBase+own-r.evict)
	if allow && replace {
		r.evict++
	}
	return allow
}

// request puts source s in p's Requested list with timer expiry, if s is
// there already, or in Excluded (the caller moves it), or admitted.
func (r *reportRun) request(p *fdb.PortMembership, s netip.Addr, expiry time.Time) {
	if _, ok := p.Requested[s]; !ok {
		if _, inY := p.Excluded[s]; !inY && !r.admit(p, 0) {
			return
		}
	}
	setRequested(p, s, expiry)
}

// exclude puts source s in p's Excluded list, if admitted.
func (r *reportRun) exclude(p *fdb.PortMembership, s netip.Addr) {
	if _, ok := p.Excluded[s]; !ok && r.admit(p, 0) {
		setExcluded(p, s)
	}
}

// apply applies the operation under way to port's membership p.
func (r *reportRun) apply(p *fdb.PortMembership) {
	// The table's counts include p as it is now, before any change.
	r.portBase = r.groups.PortEntries(r.port) - p.Entries()
	r.switchBase = r.groups.Entries() - p.Entries()
	r.hostExpired = expireHosts(p, r.now)
	expire(p, r.now)
	if r.isReport {
		p.LastReport = r.now
		p.Reporter = r.reporter
	}
	mode := compatModeOf(p, r.family, r.now)
	// With fast leave, the port's tracked hosts decide what a leave cuts,
	// in IGMPv3/MLDv2 mode and when every host that reported is tracked;
	// with an untracked host the port acts as one without fast leave. An
	// older host's reports say nothing of who listens, so in its mode the
	// leave cuts the port as a whole.
	r.leaveNow, r.byHost = r.fastLeave, false
	if r.fastLeave && mode == compatV3 {
		r.byHost = !r.now.Before(p.UntrackedUntil)
		r.leaveNow = r.byHost
	}
	switch r.op {
	case opOlderReport:
		// RFC 3376 s7.3.2: "The IGMPv1 Host Present timer is set to [Older
		// Host Present Interval] seconds whenever an IGMPv1 Membership
		// Report is received. The IGMPv2 Host Present timer is set ...
		// whenever an IGMPv2 Membership Report is received." RFC 3810
		// s8.3.2 likewise for the MLDv1 Host Present timer.
		until := r.now.Add(r.t.OlderHostPresent())
		if r.olderV1 {
			p.V1HostTimer = until
		} else {
			p.V2HostTimer = until
		}
		// RFC 3376 s7.3.2: v1 Report, v2 Report -> IS_EX( {} ); RFC 3810
		// s8.3.2: MLDv1 Report -> IS_EX( {} ).
		r.record(p, ModeIsExclude)
	case opLeave:
		if mode == compatV1 {
			// RFC 3376 s7.3.2, IGMPv1 mode: "IGMPv2 Leave messages and
			// IGMPv3 TO_IN() messages are also ignored."
			return
		}
		// RFC 3376 s7.3.2: Leave -> TO_IN( {} ); RFC 3810 s8.3.2: MLDv1
		// Done -> TO_IN( {} ).
		r.trackHost(p, ChangeToInclude)
		r.record(p, ChangeToInclude)
	case opRecord:
		typ := r.rec
		if mode != compatV3 {
			switch typ {
			case BlockOldSources:
				// RFC 3376 s7.3.2 (IGMPv2 mode, and IGMPv1 mode "in
				// addition"): "IGMPv3 BLOCK messages are ignored".
				return
			case ChangeToExclude:
				// RFC 3376 s7.3.2: "as are source-lists in TO_EX()
				// messages (i.e., any TO_EX() message is treated as
				// TO_EX( {} ))". RFC 3810 s8.3.2 likewise for MLDv1 mode.
				r.b = r.b[:0]
			case ChangeToInclude:
				if mode == compatV1 {
					// RFC 3376 s7.3.2: in IGMPv1 mode "IGMPv3 TO_IN()
					// messages are also ignored."
					return
				}
			}
		}
		r.trackHost(p, typ)
		r.record(p, typ)
		r.settleHost(p)
	}
}

// record applies one group record of type typ, with source list r.b, to p:
// the state tables of RFC 3376 s6.4.1 (current-state records) and s6.4.2
// (state-change records), which RFC 3810 s7.4.1/7.4.2 repeat for MLDv2 with
// MALI for GMI and the filter timer for the group timer. In INCLUDE (A),
// A is p.Requested; in EXCLUDE (X,Y), X is p.Requested (running source
// timers) and Y is p.Excluded (timers at zero). B (or A, for EXCLUDE rows)
// is the record's source list. "(S)=0" puts S in Y.
func (r *reportRun) record(p *fdb.PortMembership, typ RecordType) {
	gmi := r.now.Add(r.t.GroupMembershipInterval())
	wantQ := r.querier || r.leaveNow
	r.q = r.q[:0]
	if p.Mode == fdb.ModeExclude {
		r.recordExclude(p, typ, gmi, wantQ)
		return
	}
	r.recordInclude(p, typ, gmi, wantQ)
}

// recordInclude applies the rows of the state tables for a port in INCLUDE
// (A), A being p.Requested. gmi is now + GMI; wantQ says whether a "Send Q"
// action has anything to do (the switch is the querier, or fast leave).
//
//	RFC 3376 s6.4.1: INCLUDE (A) + IS_IN (B)  -> INCLUDE (A+B)
//	RFC 3376 s6.4.1: INCLUDE (A) + IS_EX (B)  -> EXCLUDE (A*B, B-A)
//	RFC 3376 s6.4.2: INCLUDE (A) + ALLOW (B)  -> INCLUDE (A+B)
//	RFC 3376 s6.4.2: INCLUDE (A) + BLOCK (B)  -> INCLUDE (A)
//	RFC 3376 s6.4.2: INCLUDE (A) + TO_EX (B)  -> EXCLUDE (A*B, B-A)
//	RFC 3376 s6.4.2: INCLUDE (A) + TO_IN (B)  -> INCLUDE (A+B)
func (r *reportRun) recordInclude(p *fdb.PortMembership, typ RecordType, gmi time.Time, wantQ bool) {
	switch typ {
	case ModeIsInclude, AllowNewSources:
		// RFC 3376 s6.4.1: INCLUDE (A) + IS_IN (B) -> INCLUDE (A+B); (B)=GMI
		// RFC 3376 s6.4.2: INCLUDE (A) + ALLOW (B) -> INCLUDE (A+B); (B)=GMI
		for _, s := range r.b {
			r.request(p, s, gmi)
		}
	case ModeIsExclude, ChangeToExclude:
		// RFC 3376 s6.4.1: INCLUDE (A) + IS_EX (B) -> EXCLUDE (A*B, B-A);
		//   (B-A)=0; Delete (A-B); Group Timer=GMI
		// RFC 3376 s6.4.2: INCLUDE (A) + TO_EX (B) -> EXCLUDE (A*B, B-A);
		//   (B-A)=0; Delete (A-B); Send Q(G,A*B); Group Timer=GMI
		// The (*,G) entry is new: a refused one leaves p as it was.
		freed := 0
		for s := range p.Requested {
			if !r.inB(s) {
				freed++
			}
		}
		if !r.admit(p, freed) {
			return
		}
		for s := range p.Requested {
			if !r.inB(s) {
				delete(p.Requested, s) // Delete (A-B); A*B keep their timers
			}
		}
		clear(p.Excluded)
		p.Mode = fdb.ModeExclude // before (B-A), so admit counts the (*,G)
		p.GroupTimer = gmi
		for _, s := range r.b {
			if _, ok := p.Requested[s]; !ok {
				r.exclude(p, s) // (B-A)=0
			}
		}
		if typ == ChangeToExclude && wantQ {
			for s := range p.Requested { // A*B
				r.q = append(r.q, s)
			}
			r.sendGroupSourceQuery(p)
		}
	case ChangeToInclude:
		// RFC 3376 s6.4.2: INCLUDE (A) + TO_IN (B) -> INCLUDE (A+B);
		//   (B)=GMI; Send Q(G,A-B)
		if wantQ {
			for s := range p.Requested {
				if !r.inB(s) {
					r.q = append(r.q, s)
				}
			}
		}
		for _, s := range r.b {
			r.request(p, s, gmi)
		}
		r.sendGroupSourceQuery(p)
	case BlockOldSources:
		// RFC 3376 s6.4.2: INCLUDE (A) + BLOCK (B) -> INCLUDE (A);
		//   Send Q(G,A*B)
		if wantQ {
			for _, s := range r.b {
				if _, ok := p.Requested[s]; ok {
					r.q = append(r.q, s)
				}
			}
			r.sendGroupSourceQuery(p)
		}
	}
}

// recordExclude applies the rows of the state tables for a port in EXCLUDE
// (X,Y), X being p.Requested (running source timers) and Y p.Excluded
// (timers at zero). gmi and wantQ are as for recordInclude.
//
//	RFC 3376 s6.4.1: EXCLUDE (X,Y) + IS_IN (A) -> EXCLUDE (X+A, Y-A)
//	RFC 3376 s6.4.1: EXCLUDE (X,Y) + IS_EX (A) -> EXCLUDE (A-Y, Y*A)
//	RFC 3376 s6.4.2: EXCLUDE (X,Y) + ALLOW (A) -> EXCLUDE (X+A, Y-A)
//	RFC 3376 s6.4.2: EXCLUDE (X,Y) + BLOCK (A) -> EXCLUDE (X+(A-Y), Y)
//	RFC 3376 s6.4.2: EXCLUDE (X,Y) + TO_EX (A) -> EXCLUDE (A-Y, Y*A)
//	RFC 3376 s6.4.2: EXCLUDE (X,Y) + TO_IN (A) -> EXCLUDE (X+A, Y-A)
func (r *reportRun) recordExclude(p *fdb.PortMembership, typ RecordType, gmi time.Time, wantQ bool) {
	switch typ {
	case ModeIsInclude, AllowNewSources:
		// RFC 3376 s6.4.1: EXCLUDE (X,Y) + IS_IN (A) -> EXCLUDE (X+A, Y-A); (A)=GMI
		// RFC 3376 s6.4.2: EXCLUDE (X,Y) + ALLOW (A) -> EXCLUDE (X+A, Y-A); (A)=GMI
		for _, s := range r.b {
			r.request(p, s, gmi)
			delete(p.Excluded, s)
		}
	case ModeIsExclude, ChangeToExclude:
		// RFC 3376 s6.4.1: EXCLUDE (X,Y) + IS_EX (A) -> EXCLUDE (A-Y, Y*A);
		//   (A-X-Y)=GMI; Delete (X-A); Delete (Y-A); Group Timer=GMI
		// RFC 3376 s6.4.2: EXCLUDE (X,Y) + TO_EX (A) -> EXCLUDE (A-Y, Y*A);
		//   (A-X-Y)=Group Timer; Delete (X-A); Delete (Y-A); Send Q(G,A-Y);
		//   Group Timer=GMI
		newTimer := gmi
		if typ == ChangeToExclude {
			// The table lists "(A-X-Y)=Group Timer" before "Group
			// Timer=GMI": the new sources get the timer the group had.
			newTimer = p.GroupTimer
		}
		for s := range p.Requested {
			if !r.inB(s) {
				delete(p.Requested, s) // Delete (X-A)
			}
		}
		for s := range p.Excluded {
			if !r.inB(s) {
				delete(p.Excluded, s) // Delete (Y-A)
			}
		}
		for _, s := range r.b {
			if _, inY := p.Excluded[s]; inY {
				continue // Y*A stays excluded
			}
			if _, inX := p.Requested[s]; !inX {
				r.request(p, s, newTimer) // A-X-Y
			}
		}
		p.GroupTimer = gmi
		if typ == ChangeToExclude && wantQ {
			for s := range p.Requested { // A-Y, the new X
				r.q = append(r.q, s)
			}
			r.sendGroupSourceQuery(p)
		}
	case BlockOldSources:
		// RFC 3376 s6.4.2: EXCLUDE (X,Y) + BLOCK (A) -> EXCLUDE (X+(A-Y), Y);
		//   (A-X-Y)=Group Timer; Send Q(G,A-Y)
		for _, s := range r.b {
			if _, inY := p.Excluded[s]; inY {
				continue
			}
			if _, inX := p.Requested[s]; !inX {
				r.request(p, s, p.GroupTimer)
			}
			if wantQ {
				r.q = append(r.q, s)
			}
		}
		r.sendGroupSourceQuery(p)
	case ChangeToInclude:
		// RFC 3376 s6.4.2: EXCLUDE (X,Y) + TO_IN (A) -> EXCLUDE (X+A, Y-A);
		//   (A)=GMI; Send Q(G,X-A); Send Q(G)
		if wantQ {
			for s := range p.Requested {
				if !r.inB(s) {
					r.q = append(r.q, s) // X-A, of the X before the record
				}
			}
		}
		for _, s := range r.b {
			r.request(p, s, gmi)
			delete(p.Excluded, s)
		}
		r.sendGroupSourceQuery(p)
		r.sendGroupQuery(p)
	}
}

// sendGroupSourceQuery carries out "Send Q(G,S)" for the sources S in r.q,
// all of which are in p.Requested, on this port only.
func (r *reportRun) sendGroupSourceQuery(p *fdb.PortMembership) {
	if len(r.q) == 0 {
		// RFC 3376 s6.6.3.2: "If either of the two calculated messages does
		// not contain any sources, then its transmission is suppressed."
		return
	}
	if r.leaveNow {
		// Fast leave: the port's one host has spoken, so there is nobody to
		// query; the sources' timers run out now. With host tracking, the
		// port's hosts have all spoken: a source another host still wants
		// keeps its timer.
		for _, s := range r.q {
			if !r.byHost || !hostsWant(p, s) {
				expireSource(p, s)
			}
		}
		return
	}
	if !r.querier {
		// The elected querier sends its own Q(G,S); QuerySeen lowers the
		// timers when it arrives.
		return
	}
	// RFC 3376 s6.6.3.2: "for each of the sources in X of group G, with
	// source timer larger than LMQT: o Set number of retransmissions for
	// each source to [Last Member Query Count]. o Lower source timer to
	// LMQT." The query carries them all: those at or under LMQT are already
	// being queried, and asking again costs one line of the query.
	lmqt := r.now.Add(r.t.LastMemberQueryTime())
	for _, s := range r.q {
		if exp, ok := p.Requested[s]; ok && exp.After(lmqt) {
			p.Requested[s] = lmqt
		}
	}
	srcs := slices.Clone(r.q)
	slices.SortFunc(srcs, netip.Addr.Compare)
	r.actions = append(r.actions, r.action(srcs))
}

// sendGroupQuery carries out "Send Q(G)" on this port only; p is in EXCLUDE.
func (r *reportRun) sendGroupQuery(p *fdb.PortMembership) {
	if r.leaveNow {
		// The group timer runs out now: RFC 3376 s6.5 switches the port to
		// INCLUDE with the sources whose timers still run. With host
		// tracking, not while another host is in EXCLUDE mode.
		if !r.byHost || !hostsExclude(p) {
			toInclude(p, r.now)
		}
		return
	}
	if !r.querier {
		return
	}
	// RFC 3376 s6.6.3.1: "When a table action "Send Q(G)" is encountered,
	// then the group timer must be lowered to LMQT."
	lmqt := r.now.Add(r.t.LastMemberQueryTime())
	if p.GroupTimer.After(lmqt) {
		p.GroupTimer = lmqt
	}
	r.actions = append(r.actions, r.action(nil))
}

// action returns the query action for r.group with sources (nil: Q(G)).
func (r *reportRun) action(sources []netip.Addr) QueryAction {
	version := 3
	if r.family == 6 {
		version = 2
	}
	qrv := r.t.Robustness
	if qrv > 7 {
		// RFC 3376 s4.1.6: "If the querier's [Robustness Variable] exceeds
		// 7, the maximum value of the QRV field, the QRV is set to zero."
		qrv = 0
	}
	return QueryAction{
		Port:   r.port,
		VLAN:   r.vlan,
		Family: r.family,
		Query: Query{
			Version: version,
			Group:   r.group,
			Sources: sources,
			// RFC 3376 s8.8: the Last Member Query Interval "is the Max
			// Response Time inserted into Group-Specific Queries sent in
			// response to Leave Group messages, and is also the Max
			// Response Time inserted into Group-and-Source-Specific Query
			// messages."
			MaxResp: r.t.LastMemberInterval,
			QRV:     qrv,
			QQI:     r.t.QueryInterval,
		},
	}
}

func setRequested(p *fdb.PortMembership, s netip.Addr, expiry time.Time) {
	if p.Requested == nil {
		p.Requested = make(map[netip.Addr]time.Time)
	}
	p.Requested[s] = expiry
}

func setExcluded(p *fdb.PortMembership, s netip.Addr) {
	if p.Excluded == nil {
		p.Excluded = make(map[netip.Addr]struct{})
	}
	p.Excluded[s] = struct{}{}
}

// expireSource makes source s's timer run out now (fast leave).
func expireSource(p *fdb.PortMembership, s netip.Addr) {
	if _, ok := p.Requested[s]; !ok {
		return
	}
	delete(p.Requested, s)
	if p.Mode == fdb.ModeExclude {
		setExcluded(p, s)
	}
}
