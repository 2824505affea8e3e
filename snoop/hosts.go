package snoop

import (
	"net/netip"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// Explicit host tracking. RFC 3376 s6 and RFC 3810 s7 keep one router state
// per attached network, here per port; a port with several hosts behind it
// (a VM's bridge, an unmanaged switch, macvlans) cannot then tell one host's
// leave from the last one's, which is why fast leave cuts every host there.
// IGMPv3 and MLDv2 reports say who sent them, so the switch also keeps each
// reporting host's own state (fdb.PortMembership.Hosts), as the Linux bridge
// does since 5.11 (br_multicast_eht.c). The port's router state stays
// authoritative for forwarding; the hosts only decide what a fast leave may
// cut at once: what no remaining host wants.
//
// IGMPv1/v2 and MLDv1 reports are not tracked: a host suppresses its report
// when it hears another's (RFC 2236 s3, RFC 2710 s4), so they do not say who
// listens. While one of them holds the port's group in an older
// compatibility mode, fast leave acts on the port as a whole.

// hostKey returns the reporter's address as a host key (unmapped, no zone),
// or the invalid address when it names no host: IGMPv3 reports may come
// from 0.0.0.0 (RFC 3376 s4.2.13) and MLDv2 reports from :: (RFC 3810 s5.2.13)
// before the host has an address.
func hostKey(src netip.Addr) netip.Addr {
	src = normSource(src)
	if !src.IsValid() || src.IsUnspecified() {
		return netip.Addr{}
	}
	return src
}

// trackHost applies one record of type typ, with source list r.b, to the
// reporter's own state in p.Hosts, before the record changes the port's
// state, so that the fast-leave decisions of the record see it. The host's
// filter mode and sources follow the host-side rules of RFC 3376 s5.1 read
// backwards (what the host's interface state is after sending the record):
//
//	IS_IN (B), TO_IN (B):  INCLUDE (B)
//	IS_EX (B), TO_EX (B):  EXCLUDE (B)
//	ALLOW (B):             INCLUDE (A+B), or EXCLUDE (X-B)
//	BLOCK (B):             INCLUDE (A-B), or EXCLUDE (X+B)
//
// A host not tracked yet is INCLUDE {}, the "non-existent state" RFC 3376
// s5.1 starts from (a first join in INCLUDE mode is reported as ALLOW). A
// host that ends at INCLUDE {} has left and is forgotten.
func (r *reportRun) trackHost(p *fdb.PortMembership, typ RecordType) {
	h, had := p.Hosts[r.host]
	r.hostOld = 0
	if had {
		r.hostOld = 1 + len(h.Sources)
	}
	mode := h.Mode
	switch typ {
	case ModeIsInclude, ChangeToInclude:
		mode = fdb.ModeInclude
		h.Sources = r.setOf(h.Sources)
	case ModeIsExclude, ChangeToExclude:
		mode = fdb.ModeExclude
		h.Sources = r.setOf(h.Sources)
	case AllowNewSources, BlockOldSources:
		// ALLOW adds to an INCLUDE list and removes from an EXCLUDE one;
		// BLOCK the other way round.
		add := (typ == AllowNewSources) == (mode != fdb.ModeExclude)
		for _, s := range r.b {
			if add {
				if h.Sources == nil {
					h.Sources = make(map[netip.Addr]struct{}, len(r.b))
				}
				h.Sources[s] = struct{}{}
			} else {
				delete(h.Sources, s)
			}
		}
	default:
		return
	}
	h.Mode = mode
	if mode != fdb.ModeExclude && len(h.Sources) == 0 {
		delete(p.Hosts, r.host)
		return
	}
	if !r.host.IsValid() {
		// Someone wants the group, but no host is named: the hosts known
		// may not be all.
		p.UntrackedUntil = r.now.Add(r.t.GroupMembershipInterval())
		return
	}
	// The host is forgotten if it does not report again within the group
	// membership interval, like the state its reports keep (RFC 3376 s8.4).
	h.Expires = r.now.Add(r.t.GroupMembershipInterval())
	if p.Hosts == nil {
		p.Hosts = make(map[netip.Addr]fdb.HostMembership)
	}
	p.Hosts[r.host] = h
}

// setOf returns the record's source list as a set, reusing old's map.
func (r *reportRun) setOf(old map[netip.Addr]struct{}) map[netip.Addr]struct{} {
	if len(r.b) == 0 {
		return nil
	}
	if old == nil {
		old = make(map[netip.Addr]struct{}, len(r.b))
	}
	clear(old)
	for _, s := range r.b {
		old[s] = struct{}{}
	}
	return old
}

// settleHost bounds the reporter's state after the record changed the
// port's: a host keeps only sources the port lists (Requested or Excluded),
// which the port's group limit bounds already; a source left out of an
// EXCLUDE host's list errs toward forwarding, and one the port does not
// request is not forwarded anyway. Then the port's host limit (AdmitHost)
// decides whether the host may grow: a refused host is forgotten entirely
// and the port marked as holding untracked hosts, so that fast leave falls
// back to queries there. Other ports' hosts are never touched. The report
// itself has been applied to the port's state either way: forwarding never
// depends on tracking.
func (r *reportRun) settleHost(p *fdb.PortMembership) {
	h, ok := p.Hosts[r.host]
	if !ok {
		return
	}
	for s := range h.Sources {
		_, requested := p.Requested[s]
		_, excluded := p.Excluded[s]
		if !requested && !excluded {
			delete(h.Sources, s)
		}
	}
	if h.Mode != fdb.ModeExclude && len(h.Sources) == 0 {
		delete(p.Hosts, r.host)
		return
	}
	need := 1 + len(h.Sources)
	if need <= r.hostOld || r.admitHost == nil {
		return
	}
	// The table counted p's hosts as they were when apply began: since
	// then the expired ones went, and this host changed from hostOld
	// entries; nothing else of p.Hosts changes in a record.
	others := r.groups.PortHostEntries(r.port) - r.hostOld - r.hostExpired
	if r.admitHost(r.port, others, need) {
		return
	}
	delete(p.Hosts, r.host)
	p.UntrackedUntil = r.now.Add(r.t.GroupMembershipInterval())
}

// hostsWant reports whether a tracked host of p wants source s: one in
// INCLUDE listing it, or one in EXCLUDE not listing it.
func hostsWant(p *fdb.PortMembership, s netip.Addr) bool {
	for _, h := range p.Hosts {
		if h.Wants(s) {
			return true
		}
	}
	return false
}

// hostsExclude reports whether a tracked host of p is in EXCLUDE mode, which
// keeps the port's EXCLUDE state (and its group timer) wanted.
func hostsExclude(p *fdb.PortMembership) bool {
	for _, h := range p.Hosts {
		if h.Mode == fdb.ModeExclude {
			return true
		}
	}
	return false
}

// expireHosts forgets the hosts of p that have not reported within their
// interval, and the mark of untracked hosts once it ran out. It returns the
// host entries it removed.
func expireHosts(p *fdb.PortMembership, now time.Time) int {
	n := 0
	for a, h := range p.Hosts {
		if !now.Before(h.Expires) {
			n += 1 + len(h.Sources)
			delete(p.Hosts, a)
		}
	}
	if !p.UntrackedUntil.IsZero() && !now.Before(p.UntrackedUntil) {
		p.UntrackedUntil = time.Time{}
	}
	return n
}

// forgetHostSource removes source s from the hosts of p (a policy revoked
// it from the port's INCLUDE state); a host left at INCLUDE {} is forgotten.
func forgetHostSource(p *fdb.PortMembership, s netip.Addr) {
	for a, h := range p.Hosts {
		if _, ok := h.Sources[s]; !ok || h.Mode == fdb.ModeExclude {
			continue
		}
		delete(h.Sources, s)
		if len(h.Sources) == 0 {
			delete(p.Hosts, a)
		}
	}
}
