package guard

import (
	"net/netip"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/snoop"
)

// FilterReport applies port's ACL to a report, leave or done that passed
// ControlPacket, in place, and returns Pass or ReasonACLDeny (counted) with the
// number of records and sources it removed.
//
// Which rules apply to which request:
//
//   - An any-source request for a group (an IGMPv1/v2 or MLDv1 report, an
//     IGMPv2 leave or MLDv1 done, an IS_EX or TO_EX record) is decided by the
//     first rule that matches the group and has no Sources (an any-source
//     rule). A source-specific rule says nothing about a request that names no
//     source; to keep one sender's traffic out of a group entirely, deny it
//     where it enters with a SenderRule.
//   - A source in an IS_IN, TO_IN or ALLOW record is decided by the first rule
//     that matches the group and whose Sources is absent or contains the
//     source.
//   - BLOCK records, and the source lists of IS_EX/TO_EX records, only ever
//     take traffic away from the port; they pass untouched.
//
// A v1/v2/MLDv1 report or leave of a denied group is dropped whole (removed
// = 1). In an IGMPv3/MLDv2 report, a denied IS_EX/TO_EX record is removed,
// and denied sources are removed from IS_IN, TO_IN and ALLOW records. An ALLOW
// record left with no source is removed (it would ask for nothing). An IS_IN
// or TO_IN record left with no source stays, as IS_IN({}) or TO_IN({}): the
// host asked for exactly those sources, and exactly what of them it may have
// is none, so its port's state for the group must go, not linger until it
// times out. The report is dropped (acl-deny) only when no record is left.
//
// Other message types pass untouched.
func (g *Guard) FilterReport(port fdb.PortID, m *snoop.Message) (Reason, int) {
	p := g.policy(port)
	if len(p.ACL) == 0 {
		return Pass, 0
	}
	switch m.Type {
	case snoop.MsgIGMPv1Report, snoop.MsgIGMPv2Report, snoop.MsgIGMPv2Leave,
		snoop.MsgMLDv1Report, snoop.MsgMLDv1Done:
		if !permitGroup(p.ACL, m.Group) {
			return g.drop(port, ReasonACLDeny), 1
		}
		return Pass, 0
	case snoop.MsgIGMPv3Report, snoop.MsgMLDv2Report:
	default:
		return Pass, 0
	}
	if len(m.Records) == 0 {
		return Pass, 0
	}
	removed := 0
	kept := m.Records[:0]
	for _, rec := range m.Records {
		switch rec.Type {
		case snoop.ModeIsExclude, snoop.ChangeToExclude:
			if !permitGroup(p.ACL, rec.Group) {
				removed++
				continue
			}
		case snoop.ModeIsInclude, snoop.ChangeToInclude, snoop.AllowNewSources:
			srcs := rec.Sources[:0]
			for _, s := range rec.Sources {
				if permitSource(p.ACL, rec.Group, s) {
					srcs = append(srcs, s)
				} else {
					removed++
				}
			}
			hadSources := len(rec.Sources) > 0
			// Clear the tail so the backing array holds no stale sources.
			clear(rec.Sources[len(srcs):])
			rec.Sources = srcs
			if rec.Type == snoop.AllowNewSources && hadSources && len(srcs) == 0 {
				removed++
				continue
			}
		}
		kept = append(kept, rec)
	}
	clear(m.Records[len(kept):])
	m.Records = kept
	if removed > 0 {
		if int(port) < len(g.ports) {
			g.ports[port].aclRemoved.Add(uint64(removed))
		}
	}
	if len(kept) == 0 {
		return g.drop(port, ReasonACLDeny), removed
	}
	return Pass, removed
}

// Permits reports whether port's ACL lets it hold group, from source, or,
// when source is the zero Addr, from any source (an any-source join). A
// reload can walk the group table with it to drop memberships the new policy
// no longer allows.
func (g *Guard) Permits(port fdb.PortID, group, source netip.Addr) bool {
	p := g.policy(port)
	if !source.IsValid() {
		return permitGroup(p.ACL, group)
	}
	return permitSource(p.ACL, group, source)
}

// permitGroup decides an any-source request for group: first matching
// any-source rule, no match permits.
func permitGroup(acl []Rule, group netip.Addr) bool {
	group = group.Unmap()
	for i := range acl {
		r := &acl[i]
		if r.Sources.IsValid() || !matches(r.Groups, group) {
			continue
		}
		return r.Permit
	}
	return true
}

// permitSource decides the request for (source, group): first rule matching
// both, no match permits.
func permitSource(acl []Rule, group, source netip.Addr) bool {
	group, source = group.Unmap(), source.Unmap()
	for i := range acl {
		r := &acl[i]
		if !matches(r.Groups, group) || !matches(r.Sources, source) {
			continue
		}
		return r.Permit
	}
	return true
}

// matches is Prefix.Contains with the invalid Prefix matching every address.
func matches(p netip.Prefix, a netip.Addr) bool {
	return !p.IsValid() || p.Contains(a)
}
