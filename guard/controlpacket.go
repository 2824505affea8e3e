package guard

import (
	"net/netip"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/snoop"
)

var (
	allSystems    = netip.AddrFrom4([4]byte{224, 0, 0, 1})
	allRouters4   = netip.AddrFrom4([4]byte{224, 0, 0, 2})
	allDVMRP      = netip.AddrFrom4([4]byte{224, 0, 0, 4})
	allPIM4       = netip.AddrFrom4([4]byte{224, 0, 0, 13})
	allNodes      = netip.MustParseAddr("ff02::1")
	allPIM6       = netip.MustParseAddr("ff02::d")
	limitedBcast  = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	ipv4Loopback  = netip.MustParsePrefix("127.0.0.0/8")
	ipv4ClassE    = netip.MustParsePrefix("240.0.0.0/4")
	ipv4Multicast = netip.MustParsePrefix("224.0.0.0/4")
)

// ControlPacket checks a control packet decoded by snoop.Parse, received on port,
// and returns Pass or the reason (counted) it must be dropped. The checks run
// in this order, and the first that fails decides:
//
//  1. Header. First, for every control packet, PIM and MRD included:
//     - bad-source: a multicast, limited-broadcast, class E or loopback IPv4
//     source (RFC 1122 s3.2.1.3 forbids them as sources), a multicast or
//     loopback IPv6 source (RFC 4291 s2.5.3, s2.7). Such a packet is forged
//     whatever else it carries.
//     Then, for IGMP and MLD queries, reports, leaves and dones:
//     - bad-ttl: the TTL / hop limit is not 1. RFC 3376 s4 and RFC 2236 s2:
//     IGMP messages are sent with "an IP Time-to-Live of 1"; RFC 2710 s3 and
//     RFC 3810 s5: MLD with "an IPv6 Hop Limit of 1". A larger TTL means the
//     packet was routed or forged off-link.
//     - no-router-alert (StrictRouterAlert only): IGMPv2, IGMPv3 and every
//     MLD message carry Router Alert (RFC 2236 s2, RFC 3376 s4, RFC 2710 s3,
//     RFC 3810 s5); RFC 3376 s9.1 has hosts ignore v2/v3 queries without it.
//     IGMPv1 (RFC 1112) predates the option and is not required to have it.
//     - bad-query-dst: a general query not to 224.0.0.1 / ff02::1 (RFC 3376
//     s4.1.12, RFC 3810 s5.1.15), or a group-specific query not to its group
//     (same sections). Hosts also accept queries to their unicast address;
//     a switch has no business forwarding a query there that snooping did not
//     see as one to the link, so it is dropped.
//     - bad-dst: a report, leave or done to a non-multicast destination.
//     RFC 3376 s4.2.14 has routers accept v3 reports to their unicast
//     address, but such a report bypasses every host on the segment and every
//     snooping decision; the policy is to drop IGMP to a unicast IP.
//     Multicast destinations are not checked further: RFC 2236 s9 asks
//     routers to accept leaves sent to the group instead of 224.0.0.2.
//     - bad-source: an MLD query not from a link-local address
//     (RFC 3810 s5.1.14, RFC 2710 s3: ":: included", as Linux hosts do); an MLD
//     report or done from neither a link-local address nor :: (RFC 3810
//     s5.2.13 and RFC 3590 s4 allow :: while the host has no link-local
//     address, for duplicate address detection). IGMP from 0.0.0.0 passes:
//     RFC 3376 s4.2.13 "Routers MUST accept a report with a source address of
//     0.0.0.0", and RFC 4541 s2.1.1 queriers of other switches send from it.
//  2. Role:
//     - router-guard (RouterGuard, not Router): IGMP/MLD queries, PIM hellos,
//     MRD advertisements and terminations (RFC 4286 s3, s5: sent by routers),
//     and MsgUnknown packets to 224.0.0.2, 224.0.0.4, 224.0.0.13 or ff02::d
//     (snoop decodes DVMRP, PIMv1-over-IGMP and PIMv2 messages other than
//     hellos as unknown; these routers-only groups tell them apart). MRD
//     solicitations come from hosts and pass.
//     - querier-guard (Queriers not empty): a query whose source is in none
//     of the prefixes, on any port, router ports included.
//  3. Version (min-version): a report, leave or done older than the port's
//     minimum; a query older than the minimum from a port that is not a router
//     port (RFC 3376 s9.1: a forged v1 query makes v3 hosts fall back to v1
//     for the Older Version Querier Present Timeout).
//
// ACLs are FilterReport's; a message that passes ControlPacket still goes through
// it.
func (g *Guard) ControlPacket(port fdb.PortID, m *snoop.Message) Reason {
	p := g.policy(port)
	if r := checkHeader(p, m); r != Pass {
		return g.drop(port, r)
	}
	if r := checkRole(p, m); r != Pass {
		return g.drop(port, r)
	}
	if r := checkVersion(p, m); r != Pass {
		return g.drop(port, r)
	}
	return Pass
}

// groupMessage reports whether t is an IGMP or MLD query, report, leave or
// done: the messages RFC 3376/3810/2236/2710 give a TTL of 1 and Router Alert.
func groupMessage(t snoop.MessageType) bool {
	switch t {
	case snoop.MsgIGMPQuery, snoop.MsgIGMPv1Report, snoop.MsgIGMPv2Report, snoop.MsgIGMPv2Leave,
		snoop.MsgIGMPv3Report, snoop.MsgMLDQuery, snoop.MsgMLDv1Report, snoop.MsgMLDv1Done,
		snoop.MsgMLDv2Report:
		return true
	}
	return false
}

func isQuery(t snoop.MessageType) bool {
	return t == snoop.MsgIGMPQuery || t == snoop.MsgMLDQuery
}

// messageVersion is the protocol version of an IGMP/MLD message.
func messageVersion(m *snoop.Message) int {
	switch m.Type {
	case snoop.MsgIGMPQuery, snoop.MsgMLDQuery:
		return m.Query.Version
	case snoop.MsgIGMPv1Report, snoop.MsgMLDv1Report, snoop.MsgMLDv1Done:
		return 1
	case snoop.MsgIGMPv2Report, snoop.MsgIGMPv2Leave, snoop.MsgMLDv2Report:
		return 2
	case snoop.MsgIGMPv3Report:
		return 3
	}
	return 0
}

func isMLD(t snoop.MessageType) bool {
	switch t {
	case snoop.MsgMLDQuery, snoop.MsgMLDv1Report, snoop.MsgMLDv1Done, snoop.MsgMLDv2Report:
		return true
	}
	return false
}

func checkHeader(p *compiled, m *snoop.Message) Reason {
	src, dst := m.Src.Unmap(), m.Dst.Unmap()
	if badSource(src) {
		// Any control packet, PIM and MRD included, from a source no station
		// may use; checked first because such a packet is forged whatever
		// else it carries.
		return ReasonBadSource
	}
	if !groupMessage(m.Type) {
		return Pass
	}
	if m.TTL != 1 {
		return ReasonBadTTL
	}
	if p.StrictRouterAlert && !m.RouterAlert && (isMLD(m.Type) || messageVersion(m) >= 2) {
		return ReasonNoRouterAlert
	}
	if isQuery(m.Type) {
		group := m.Query.Group.Unmap()
		if m.Query.IsGeneral() {
			want := allSystems
			if m.Type == snoop.MsgMLDQuery {
				want = allNodes
			}
			if dst != want {
				return ReasonBadQueryDst
			}
		} else if dst != group {
			return ReasonBadQueryDst
		}
	} else if !dst.IsMulticast() {
		return ReasonBadDst
	}
	if isMLD(m.Type) {
		if isQuery(m.Type) {
			if !src.IsLinkLocalUnicast() {
				return ReasonBadSource
			}
		} else if !src.IsLinkLocalUnicast() && !src.IsUnspecified() {
			return ReasonBadSource
		}
	}
	return Pass
}

// badSource reports a source address no station may send from.
func badSource(src netip.Addr) bool {
	if !src.IsValid() {
		return true
	}
	if src.Is4() {
		return src == limitedBcast || ipv4Loopback.Contains(src) ||
			ipv4ClassE.Contains(src) || ipv4Multicast.Contains(src)
	}
	return src.IsMulticast() || src.IsLoopback()
}

func checkRole(p *compiled, m *snoop.Message) Reason {
	if p.RouterGuard && !p.Router && routerMessage(m) {
		return ReasonRouterGuard
	}
	if isQuery(m.Type) && len(p.Queriers) > 0 {
		src := m.Src.Unmap()
		for _, q := range p.Queriers {
			if q.Contains(src) {
				return Pass
			}
		}
		return ReasonQuerierGuard
	}
	return Pass
}

// routerMessage reports a message only a multicast router sends.
func routerMessage(m *snoop.Message) bool {
	switch m.Type {
	case snoop.MsgIGMPQuery, snoop.MsgMLDQuery, snoop.MsgPIMHello,
		snoop.MsgMRDAdvertisement, snoop.MsgMRDTermination:
		return true
	case snoop.MsgUnknown:
		// DVMRP (IGMP type 0x13, to 224.0.0.4), PIMv1 (IGMP type 0x14, to
		// 224.0.0.2) and PIMv2 messages other than hellos (to 224.0.0.13 or
		// ff02::d) decode as unknown; hosts send nothing unknown to these
		// groups. An IGMP mtrace query from a guarded host to 224.0.0.2 is
		// lost to this rule; mtrace2 (RFC 8487) runs over UDP and is not.
		switch m.Dst.Unmap() {
		case allRouters4, allDVMRP, allPIM4, allPIM6:
			return true
		}
	}
	return false
}

func checkVersion(p *compiled, m *snoop.Message) Reason {
	if !groupMessage(m.Type) {
		return Pass
	}
	if isQuery(m.Type) && p.Router {
		return Pass
	}
	minimum := p.MinIGMPVersion
	if isMLD(m.Type) {
		minimum = p.MinMLDVersion
	}
	if messageVersion(m) < minimum {
		return ReasonMinVersion
	}
	return Pass
}
