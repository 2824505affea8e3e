package guard

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
)

// Rule is one entry of a port's group access list. Rules are tried in order;
// the first that matches decides; a request no rule matches is permitted.
type Rule struct {
	Permit bool
	// Groups is the group prefix the rule covers; the invalid (zero) Prefix
	// matches every group.
	Groups netip.Prefix
	// Sources restricts the rule to source-specific requests from these
	// sources; the invalid (zero) Prefix makes it an any-source rule. See
	// FilterReport for which requests a source-specific rule applies to.
	Sources netip.Prefix
}

// SenderRule is one entry of a port's sender policy: which sources behind the
// port may send multicast data to which groups. First match wins; no match
// permits. An invalid (zero) prefix matches every address.
type SenderRule struct {
	Permit  bool
	Sources netip.Prefix
	Groups  netip.Prefix
}

// LimitAction is what happens when a port reaches its group limit.
type LimitAction uint8

const (
	// LimitDeny refuses the new entry (the default).
	LimitDeny LimitAction = iota
	// LimitReplace admits the new entry in place of one of the same port's
	// existing entries, which the snooper removes. It never touches another
	// port's entries.
	LimitReplace
)

// String returns "deny" or "replace".
func (a LimitAction) String() string {
	switch a {
	case LimitDeny:
		return "deny"
	case LimitReplace:
		return "replace"
	}
	return fmt.Sprintf("LimitAction(%d)", uint8(a))
}

// PortPolicy is the security policy of one port.
type PortPolicy struct {
	// Router makes the port a router port: router guard does not apply,
	// queries of any version are accepted (subject to Queriers).
	Router bool
	// RouterGuard drops queries, PIM hellos, MRD advertisements and
	// terminations, and unknown IGMP/PIM types sent to routers-only groups
	// (DVMRP, PIMv1 over IGMP, other PIMv2 messages), so that a host port
	// never becomes a router port.
	RouterGuard bool
	// MinIGMPVersion is the lowest IGMP version accepted (1..3; 0 is 1):
	// older reports and leaves are dropped, and so are older queries from a
	// port that is not a router port, so a forged v1/v2 query cannot
	// downgrade the hosts (RFC 3376 s9.1).
	MinIGMPVersion int
	// MinMLDVersion is the lowest MLD version accepted (1..2; 0 is 1).
	MinMLDVersion int
	// Queriers, if not empty, are the only sources queries are accepted
	// from on this port (querier guard). 0.0.0.0 and :: must be listed
	// explicitly (0.0.0.0/32) to be accepted.
	Queriers []netip.Prefix
	// StrictRouterAlert requires the Router Alert option on IGMPv2/v3 and
	// on every MLD message (RFC 2236 s2, RFC 3376 s4, RFC 2710 s3, RFC 3810
	// s5; RFC 3376 s9.1 has hosts ignore queries without it).
	StrictRouterAlert bool
	// ACL is the group access list for reports and leaves; see Rule.
	ACL []Rule
	// GroupLimit is the maximum number of (S,G) and (*,G) entries the port
	// may hold; 0 is unlimited (the switch limit still applies).
	GroupLimit  int
	LimitAction LimitAction
	// HostLimit is the maximum number of host entries the port's explicit
	// host tracking may hold: one per (host, group) an IGMPv3/MLDv2 host
	// reports, and one per source in that host's list. A host beyond it is
	// not tracked (its report still counts for the port), and is counted
	// as ReasonHostLimit; other ports' hosts are never evicted. 0 is
	// unlimited: memory then grows with what the port's hosts report.
	HostLimit int
	// Senders is the sender policy for multicast data received on the port.
	Senders []SenderRule
	// MaxTTL is the highest IP TTL / hop limit accepted on multicast data
	// from this port; 0 is no limit. Link-scoped groups (LinkScoped) are
	// exempt.
	MaxTTL int
	// ScopeBoundary stops administratively scoped groups from leaving
	// through this port; see AdminScoped.
	ScopeBoundary bool
	// RateLimit is the sustained rate of control packets (IGMP, MLD, PIM,
	// MRD) accepted from the port, per second; 0 is unlimited.
	RateLimit float64
	// RateBurst is the token bucket's depth: how many control packets may
	// arrive back to back. 0 takes max(1, RateLimit).
	RateBurst int
}

// Default rate limits. A host answers a general query with one report per
// group (IGMPv1/v2, MLDv1) spread over the Max Response Time, 10 s by default
// (RFC 3376 s8.3), or with a few IGMPv3/MLDv2 reports holding many records: 100
// packets/s sustains a host of 1000 v2 groups, and a burst of 200 absorbs
// the reports of a host that joins 200 groups at once (an application start,
// a link coming up). Parsing a report costs microseconds, so 256 ports at this
// rate stay far below what the control plane can take, and a flooding port
// only ever spends its own tokens.
const (
	DefaultHostRate       = 100
	DefaultHostBurst      = 200
	DefaultRouterRate     = 1000
	DefaultRouterBurst    = 2000
	DefaultHostGroupLimit = 1000
	// DefaultHostLimit sizes host tracking for a VM host: 32 guests behind
	// one port, each in 64 groups with one source, need 32 x 64 x 2 = 4096
	// host entries, and one host at DefaultHostGroupLimit needs at most
	// 2 x 1000 (a group and a source an entry each), so a port with one
	// host never meets this limit before its group limit. The Linux bridge
	// allows 512 per port (mcast_eht_hosts_limit) but counts hosts only;
	// here sources count too, so that the limit bounds memory.
	DefaultHostLimit      = 4096
	defaultMinIGMPVersion = 1
	defaultMinMLDVersion  = 1
	maxIGMPVersion        = 3
	maxMLDVersion         = 2
	maxTTL                = 255
)

// HostPortDefaults returns the safe policy of a port that is not configured as
// a router port: router guard on, Router Alert required, every IGMP/MLD
// version accepted (old hosts exist; raise the minimum per port where none
// do), DefaultHostGroupLimit entries with action deny (a join flood stops at
// the port's limit and cannot fill the switch table for the other ports),
// DefaultHostLimit tracked host entries, and
// DefaultHostRate control packets/s with a burst of DefaultHostBurst.
func HostPortDefaults() PortPolicy {
	return PortPolicy{
		RouterGuard:       true,
		StrictRouterAlert: true,
		MinIGMPVersion:    defaultMinIGMPVersion,
		MinMLDVersion:     defaultMinMLDVersion,
		GroupLimit:        DefaultHostGroupLimit,
		LimitAction:       LimitDeny,
		HostLimit:         DefaultHostLimit,
		RateLimit:         DefaultHostRate,
		RateBurst:         DefaultHostBurst,
	}
}

// RouterPortDefaults returns the policy of a configured router port: queries
// accepted, no router guard, Router Alert not required (routers are
// configured trust, and some old ones omit it on IGMPv2), no group limit
// (reports seldom come from routers; the switch limit still bounds memory),
// DefaultHostLimit tracked host entries (host tracking has no switch-wide
// limit), and DefaultRouterRate packets/s with a burst of DefaultRouterBurst: an
// uplink carries queries, PIM and MRD of several routers and may carry the
// reports of a whole downstream segment.
func RouterPortDefaults() PortPolicy {
	return PortPolicy{
		Router:         true,
		HostLimit:      DefaultHostLimit,
		MinIGMPVersion: defaultMinIGMPVersion,
		MinMLDVersion:  defaultMinMLDVersion,
		RateLimit:      DefaultRouterRate,
		RateBurst:      DefaultRouterBurst,
	}
}

// SwitchPortDefaults returns the policy of a link to another snooping switch
// of the same fabric (a VXLAN tunnel between machines, say): no router
// guard, since the fabric's querier, PIM hellos and MRD reach the other
// machines across it (RFC 4541 s2.1.1: the link toward the querier becomes a
// router port by the queries it brings); not Router either, since whether
// the link leads to a router is learned from what arrives, not configured.
// The header checks stay on, Router Alert included: the other switch
// forwards its hosts' and its querier's packets unchanged, and those carry
// it. No group limit of the port's own: the link carries the reports of
// every host beyond it, each already bounded by its own port's limit on its
// own switch (the switch limit still bounds memory here). Control packets
// are rate limited as on a router port, DefaultRouterRate with a burst of
// DefaultRouterBurst: a whole machine's reports arrive over one link.
func SwitchPortDefaults() PortPolicy {
	return PortPolicy{
		StrictRouterAlert: true,
		HostLimit:         DefaultHostLimit,
		MinIGMPVersion:    defaultMinIGMPVersion,
		MinMLDVersion:     defaultMinMLDVersion,
		RateLimit:         DefaultRouterRate,
		RateBurst:         DefaultRouterBurst,
	}
}

// Validate checks p; an error names the field and the fix.
func (p PortPolicy) Validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf(format, a...))
	}
	if p.Router && p.RouterGuard {
		bad("RouterGuard: set on a router port, whose queries it would drop (clear Router or RouterGuard)")
	}
	if p.MinIGMPVersion < 0 || p.MinIGMPVersion > maxIGMPVersion {
		bad("MinIGMPVersion %d: must be 1, 2 or 3 (0 or 1 accepts every version)", p.MinIGMPVersion)
	}
	if p.MinMLDVersion < 0 || p.MinMLDVersion > maxMLDVersion {
		bad("MinMLDVersion %d: must be 1 or 2 (0 or 1 accepts every version)", p.MinMLDVersion)
	}
	for i, q := range p.Queriers {
		if err := checkPrefix(q, false, false); err != nil {
			bad("Queriers[%d] %v: %v", i, q, err)
		}
	}
	for i, r := range p.ACL {
		if err := checkPrefix(r.Groups, true, true); err != nil {
			bad("ACL[%d].Groups %v: %v", i, r.Groups, err)
		}
		if err := checkPrefix(r.Sources, false, true); err != nil {
			bad("ACL[%d].Sources %v: %v", i, r.Sources, err)
		}
		if r.Groups.IsValid() && r.Sources.IsValid() && r.Groups.Addr().Is4() != r.Sources.Addr().Is4() {
			bad("ACL[%d]: Groups %v and Sources %v are of different IP families (use one family per rule)", i, r.Groups, r.Sources)
		}
	}
	if p.GroupLimit < 0 {
		bad("GroupLimit %d: must be >= 0 (0 = unlimited)", p.GroupLimit)
	}
	if p.HostLimit < 0 {
		bad("HostLimit %d: must be >= 0 (0 = unlimited)", p.HostLimit)
	}
	if p.LimitAction > LimitReplace {
		bad("LimitAction %d: must be LimitDeny or LimitReplace", p.LimitAction)
	}
	for i, r := range p.Senders {
		if err := checkPrefix(r.Sources, false, true); err != nil {
			bad("Senders[%d].Sources %v: %v", i, r.Sources, err)
		}
		if err := checkPrefix(r.Groups, true, true); err != nil {
			bad("Senders[%d].Groups %v: %v", i, r.Groups, err)
		}
		if r.Groups.IsValid() && r.Sources.IsValid() && r.Groups.Addr().Is4() != r.Sources.Addr().Is4() {
			bad("Senders[%d]: Sources %v and Groups %v are of different IP families (use one family per rule)", i, r.Sources, r.Groups)
		}
	}
	if p.MaxTTL < 0 || p.MaxTTL > maxTTL {
		bad("MaxTTL %d: must be 0..255 (0 = no limit)", p.MaxTTL)
	}
	if math.IsNaN(p.RateLimit) || math.IsInf(p.RateLimit, 0) || p.RateLimit < 0 {
		bad("RateLimit %v: must be a finite number >= 0 (packets/s, 0 = unlimited)", p.RateLimit)
	}
	if p.RateBurst < 0 {
		bad("RateBurst %d: must be >= 0 (0 = max(1, RateLimit))", p.RateBurst)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("guard: %w", errors.Join(errs...))
}

// checkPrefix checks one configured prefix. The invalid Prefix is "any" where
// optional allows it.
func checkPrefix(p netip.Prefix, group, optional bool) error {
	if !p.IsValid() {
		if optional {
			return nil
		}
		return errors.New("not a valid prefix (write it as address/length)")
	}
	if p.Addr().Is4In6() {
		return fmt.Errorf("IPv4-mapped IPv6 prefix (write it as IPv4, %v)", netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0)).Masked())
	}
	if p.Addr().Zone() != "" {
		return errors.New("has a zone (remove the %zone)")
	}
	if p != p.Masked() {
		return fmt.Errorf("host bits set (did you mean %v?)", p.Masked())
	}
	if group {
		// A group prefix must lie inside 224.0.0.0/4 or ff00::/8.
		mc := netip.MustParsePrefix("224.0.0.0/4")
		if p.Addr().Is6() {
			mc = netip.MustParsePrefix("ff00::/8")
		}
		if p.Bits() < mc.Bits() || !mc.Contains(p.Addr()) {
			return fmt.Errorf("not a multicast group range (must lie within %v)", mc)
		}
	} else if p.Addr().IsMulticast() {
		return errors.New("a multicast range where a source is expected (sources are unicast addresses)")
	}
	return nil
}
