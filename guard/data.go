package guard

import (
	"net/netip"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// Data checks multicast data from source to group received on port with IP
// TTL (IPv6 hop limit) ttl, and returns Pass, ReasonSenderDeny or
// ReasonTTLExceeded (counted). The sender policy is tried first: the first
// SenderRule matching source and group decides; no match permits. Then a TTL
// above MaxTTL is dropped, so a host cannot send a stream further than the
// scope the operator allows; link-scoped groups (LinkScoped) are exempt.
// Allocation-free and lock-free.
func (g *Guard) Data(port fdb.PortID, group, source netip.Addr, ttl uint8) Reason {
	p := g.policy(port)
	if len(p.Senders) > 0 {
		group, source = group.Unmap(), source.Unmap()
		for i := range p.Senders {
			r := &p.Senders[i]
			if matches(r.Sources, source) && matches(r.Groups, group) {
				if !r.Permit {
					return g.drop(port, ReasonSenderDeny)
				}
				break
			}
		}
	}
	if p.MaxTTL > 0 && int(ttl) > p.MaxTTL && !LinkScoped(group) {
		return g.drop(port, ReasonTTLExceeded)
	}
	return Pass
}

// DataTTLMax is the highest TTL (IPv6 hop limit) for which Data's pass of
// data to group on port holds, 0 for any: the TTL is the only part of
// Data's decision that the packet, not its port, group and source, makes.
// A cache of Data's passes (switching.FlowCache) bounds its entries by it.
func (g *Guard) DataTTLMax(port fdb.PortID, group netip.Addr) uint8 {
	p := g.policy(port)
	if p.MaxTTL <= 0 || p.MaxTTL >= 255 || LinkScoped(group) {
		return 0
	}
	return uint8(p.MaxTTL)
}

// LinkScoped reports whether group never leaves the link whatever the TTL:
// 224.0.0.0/24 (RFC 5771 s4: "not forwarded off link") and the IPv6
// interface- and link-local scopes (RFC 4291 s2.7). A TTL limit means
// nothing there, and their senders set 255 on purpose, for receivers to
// check that the packet was not routed: neighbour discovery (RFC 4861
// s7.1.1) and mDNS (RFC 6762 s11). MaxTTL would only break them.
func LinkScoped(group netip.Addr) bool {
	group = group.Unmap()
	if group.Is4() {
		b := group.As4()
		return b[0] == 224 && b[1] == 0 && b[2] == 0
	}
	if !group.IsMulticast() {
		return false
	}
	switch group.As16()[1] & 0x0f {
	case scopeInterfaceLoc, scopeLinkLocal:
		return true
	}
	return false
}

// Egress reports whether data from source to group may leave through port.
// On a ScopeBoundary port, administratively scoped groups (AdminScoped) may
// not (counted as ReasonScopeBoundary on port); nor may data the port's ACL
// denies (ReasonACLEgress), which reaches a port only by flooding, since no
// membership for it is ever admitted there. Allocation-free and lock-free.
func (g *Guard) Egress(port fdb.PortID, group, source netip.Addr) bool {
	p := g.policy(port)
	if p.ScopeBoundary && AdminScoped(group) {
		g.drop(port, ReasonScopeBoundary)
		return false
	}
	if len(p.ACL) > 0 && !permitSource(p.ACL, group, source) {
		g.drop(port, ReasonACLEgress)
		return false
	}
	return true
}

// IPv6 multicast scopes (RFC 4291 s2.7, RFC 7346 s2).
const (
	scopeReserved     = 0x0
	scopeInterfaceLoc = 0x1
	scopeLinkLocal    = 0x2
	scopeRealmLocal   = 0x3
	scopeAdminLocal   = 0x4
	scopeSiteLocal    = 0x5
	// ipv4AdminScopeOctet is the first octet of 239.0.0.0/8.
	ipv4AdminScopeOctet = 239
)

// AdminScoped reports whether group is administratively scoped, so that a
// scope boundary port keeps it in:
//
//   - IPv4: 239.0.0.0/8, the administratively scoped block (RFC 2365 s6).
//   - IPv6: scope 0 (reserved: RFC 4291 s2.7 "must be silently dropped"),
//     1 (interface-local, never valid on a wire), 3 (realm-local, RFC 7346),
//     4 (admin-local) and 5 (site-local), whatever the flags nibble (ff0x,
//     ff1x, ff3x SSM, ff7x embedded-RP, ...): the scope field means the same
//     in every multicast address (RFC 4291 s2.7).
//
// Link-local scope (ff02::/16, like 224.0.0.0/24) is not stopped: every port
// of the switch is on the same link, and neighbour discovery and mDNS behind
// the boundary port must keep working. Organisation-local (8) and wider
// scopes pass too: a boundary port marks the edge of a site, and those scopes
// are larger than one.
func AdminScoped(group netip.Addr) bool {
	group = group.Unmap()
	if group.Is4() {
		return group.As4()[0] == ipv4AdminScopeOctet
	}
	if !group.IsMulticast() {
		return false
	}
	switch group.As16()[1] & 0x0f {
	case scopeReserved, scopeInterfaceLoc, scopeRealmLocal, scopeAdminLocal, scopeSiteLocal:
		return true
	}
	return false
}
