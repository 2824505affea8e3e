package guard

// Reason is why the guard dropped a packet. Its string is a stable name used
// in counters, metrics, logs and replay output. Pass (0) means admitted.
type Reason uint8

const (
	// Pass: the packet is admitted.
	Pass Reason = iota
	// ReasonRouterGuard: a query, PIM or MRD router message (or an unknown
	// IGMP/PIM type sent to a routers-only group) on a router-guarded port.
	ReasonRouterGuard
	// ReasonMinVersion: a report or leave older than the port's minimum
	// version, or an older query from a port that is not a router port.
	ReasonMinVersion
	// ReasonQuerierGuard: a query from a source outside the port's Queriers.
	ReasonQuerierGuard
	// ReasonBadTTL: an IGMP/MLD message whose TTL/hop limit is not 1.
	ReasonBadTTL
	// ReasonNoRouterAlert: an IGMPv2/v3 or MLD message without Router Alert
	// on a port with StrictRouterAlert.
	ReasonNoRouterAlert
	// ReasonBadQueryDst: a general query not sent to 224.0.0.1 / ff02::1, or
	// a group-specific query not sent to its group.
	ReasonBadQueryDst
	// ReasonBadSource: a control packet from a multicast, broadcast or
	// loopback source; an MLD query not from a link-local source; an MLD
	// report or done from neither a link-local source nor ::.
	ReasonBadSource
	// ReasonACLDeny: a report or leave for a group (or only sources) the
	// port's ACL denies.
	ReasonACLDeny
	// ReasonGroupLimit: a new group entry refused by the port or switch
	// limit.
	ReasonGroupLimit
	// ReasonSenderDeny: multicast data the port's sender policy denies.
	ReasonSenderDeny
	// ReasonTTLExceeded: multicast data with a TTL/hop limit above MaxTTL.
	ReasonTTLExceeded
	// ReasonScopeBoundary: administratively scoped data kept from leaving
	// through a boundary port.
	ReasonScopeBoundary
	// ReasonRateLimit: a control packet beyond the port's token bucket.
	ReasonRateLimit
	// ReasonBadDst: a report, leave or done sent to a destination that is not
	// a multicast address (a unicast IP).
	ReasonBadDst
	// ReasonACLEgress: multicast data kept from leaving through a port whose
	// ACL denies the group (or the source): data that would otherwise have
	// been flooded there, while the switch learns who listens or to a
	// flood-unregistered port.
	ReasonACLEgress
	// ReasonHostLimit: a reporting host (or more sources of a tracked host)
	// not tracked because the port holds its HostLimit of host entries. The
	// report still applies to the port's membership; fast leave there falls
	// back to queries for the group (see snoop's explicit host tracking).
	ReasonHostLimit

	numReasons
)

var reasonNames = [numReasons]string{
	Pass:                "pass",
	ReasonRouterGuard:   "router-guard",
	ReasonMinVersion:    "min-version",
	ReasonQuerierGuard:  "querier-guard",
	ReasonBadTTL:        "bad-ttl",
	ReasonNoRouterAlert: "no-router-alert",
	ReasonBadQueryDst:   "bad-query-dst",
	ReasonBadSource:     "bad-source",
	ReasonACLDeny:       "acl-deny",
	ReasonGroupLimit:    "group-limit",
	ReasonSenderDeny:    "sender-deny",
	ReasonTTLExceeded:   "ttl-exceeded",
	ReasonScopeBoundary: "scope-boundary",
	ReasonRateLimit:     "rate-limit",
	ReasonBadDst:        "bad-dst",
	ReasonACLEgress:     "acl-egress",
	ReasonHostLimit:     "host-limit",
}

// String returns r's stable name; an out-of-range value is "unknown".
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Reasons lists every drop reason (Pass excluded) in a stable order, for
// counters.
func Reasons() []Reason {
	rs := make([]Reason, 0, numReasons-1)
	for r := Pass + 1; r < numReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}
