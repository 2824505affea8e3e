package guard

import "github.com/snoopswitch/snoopswitch/fdb"

// AllowNewEntry decides whether port may gain a new (S,G) or (*,G) entry. The
// snooper, which holds the membership state, passes the counts: the entries
// port holds (portEntries), how many of them a replacement could remove
// (evictable: those outside the group being changed), the entries the whole
// switch holds (switchEntries) and the switch's limit (switchLimit, 0 =
// none). The guard keeps no membership state.
//
//   - Below both limits: allow.
//   - At the port's GroupLimit: with LimitDeny, refuse (allow false); with
//     LimitReplace, allow with replace true: the snooper removes port's least
//     recently reported group so the port stays at its limit. With nothing
//     evictable, refuse.
//   - At the switch limit: refuse, unless the port has LimitReplace and holds
//     entries of its own to replace. Another port's entry is never evicted and
//     snooping never turns off because the table is full (the Linux bridge
//     does the one, Open vSwitch the other).
//
// A refusal is counted as ReasonGroupLimit on port; the snooper ignores the
// request (records of a v3 report other than the refused one still apply).
func (g *Guard) AllowNewEntry(port fdb.PortID, portEntries, evictable, switchEntries, switchLimit int) (allow, replace bool) {
	p := g.policy(port)
	replaceOwn := p.LimitAction == LimitReplace && evictable > 0
	if p.GroupLimit > 0 && portEntries >= p.GroupLimit {
		if replaceOwn {
			return true, true
		}
		g.drop(port, ReasonGroupLimit)
		return false, false
	}
	if switchLimit > 0 && switchEntries >= switchLimit {
		if replaceOwn {
			return true, true
		}
		g.drop(port, ReasonGroupLimit)
		return false, false
	}
	return true, false
}

// AllowNewHost decides whether port's explicit host tracking may hold need
// host entries for one host (a new host, or a tracked one naming more
// sources), where the port holds others without that host. At the port's
// HostLimit it refuses and counts ReasonHostLimit on port; the snooper then
// leaves the host untracked. Nothing is ever evicted to make room: a host
// flood on one port cannot make another port's fast leave forget its hosts.
func (g *Guard) AllowNewHost(port fdb.PortID, others, need int) bool {
	p := g.policy(port)
	if p.HostLimit > 0 && others+need > p.HostLimit {
		g.drop(port, ReasonHostLimit)
		return false
	}
	return true
}
