package switching

import (
	"sync/atomic"

	"github.com/snoopswitch/snoopswitch/snoop"
)

// DropReason says why a frame was not forwarded. Its string is stable: the
// same name appears in counters, metrics, logs and replay output.
type DropReason uint8

const (
	// DropMalformed: shorter than an Ethernet header, or a tag cut off.
	DropMalformed DropReason = iota
	// DropTruncated: the frame was larger than the receive ring's frame
	// space and arrived cut short; forwarding it would corrupt it.
	DropTruncated
	// DropInvalidSrcMAC: a multicast, broadcast or all-zero source address,
	// which no station may send (IEEE 802.1Q 8.6.2; the Linux bridge drops
	// them too).
	DropInvalidSrcMAC
	// DropReservedGroup: sent to an IEEE 802.1D reserved address
	// 01:80:c2:00:00:01-0f (pause, LACP, 802.1X, LLDP, ...), which is
	// link-constrained and must not cross a bridge. 01:80:c2:00:00:00 (STP)
	// is flooded: this switch runs no spanning tree, like a Linux bridge
	// with STP off.
	DropReservedGroup
	// DropSamePort: the destination is known on the port the frame came in
	// on; nothing goes back out of its ingress port.
	DropSamePort
	// DropPortDown: the egress port's link was down.
	DropPortDown
	// DropTxError: the kernel refused the frame on transmit.
	DropTxError
	// DropMACIPMismatch: an IP multicast frame whose destination MAC is not
	// the one its group maps to (RFC 1112 s6.4, RFC 2464 s7): forwarding it
	// by group would smuggle it past MAC filters.
	DropMACIPMismatch
	// Control packets that snoop rejected, by its reasons.
	DropBadChecksum // IPv4 header, IGMP or ICMPv6 checksum
	DropBadLength   // truncated, or counts beyond the payload
	DropBadIP       // not IP, fragments, malformed extension headers
	DropBadType     // a known type with an impossible body
	// DropGroupLimit: a join refused because the switch's group table is
	// full (Config.GroupEntryLimit). With a guard, the guard counts its
	// refusals itself, under the same name.
	DropGroupLimit
	// DropVLANNotAllowed: the frame's VLAN is not one the ingress port
	// carries (Engine.SetPortVLANs).
	DropVLANNotAllowed
	// DropHostLimit: a reporting host not tracked because the switch holds
	// twice Config.GroupEntryLimit host entries. With a guard, the guard
	// counts this and its per-port refusals under the same name. The report
	// itself was applied.
	DropHostLimit
	numDropReasons
)

// parseDropReason maps snoop's parse reasons to the drop reasons of the
// same name. Every snoop.ParseReason has a case of its own (a test walks
// snoop.ParseReasons), so a new one fails that test instead of being
// counted as another.
func parseDropReason(reason snoop.ParseReason) DropReason {
	switch reason {
	case snoop.ReasonBadChecksum:
		return DropBadChecksum
	case snoop.ReasonBadLength:
		return DropBadLength
	case snoop.ReasonBadIP:
		return DropBadIP
	case snoop.ReasonBadType:
		return DropBadType
	}
	// Rejected returns only the reasons above; a zero or unknown reason is
	// a packet not understood as IP, which is what bad-ip counts.
	return DropBadIP
}

var dropReasonNames = [numDropReasons]string{
	DropMalformed:      "malformed",
	DropTruncated:      "truncated",
	DropInvalidSrcMAC:  "invalid-src-mac",
	DropReservedGroup:  "reserved-group",
	DropSamePort:       "same-port",
	DropPortDown:       "port-down",
	DropTxError:        "tx-error",
	DropMACIPMismatch:  "mac-ip-mismatch",
	DropBadChecksum:    "bad-checksum",
	DropBadLength:      "bad-length",
	DropBadIP:          "bad-ip",
	DropBadType:        "bad-type",
	DropGroupLimit:     "group-limit",
	DropVLANNotAllowed: "vlan-not-allowed",
	DropHostLimit:      "host-limit",
}

func (r DropReason) String() string {
	if r < numDropReasons {
		return dropReasonNames[r]
	}
	return "unknown"
}

// Event is something the data plane counts that is not a drop: the frame
// still went somewhere.
type Event uint8

const (
	// EventFDBPortLimit: the ingress port had reached its limit of learned
	// addresses; the source was not learned (and frames to it are flooded).
	EventFDBPortLimit Event = iota
	// EventFDBMove: a learned address moved to this port.
	EventFDBMove
	// EventFDBFlap: an address moved back to the port it had just left.
	EventFDBFlap
	// EventFDBStaticConflict: a statically configured address was seen as a
	// source on another port.
	EventFDBStaticConflict
	// EventUnknownUnicast: a unicast frame to an unlearned address, flooded.
	EventUnknownUnicast
	// EventFlood: a broadcast or multicast frame, flooded.
	EventFlood
	// EventControl: an IGMP, MLD, PIM or MRD packet, handed to snooping.
	EventControl
	// EventControlOverload: a control packet forwarded but not applied to
	// the snooping state, because the control plane's queue was full.
	EventControlOverload
	// EventSnooped: multicast data forwarded by group membership.
	EventSnooped
	// EventNoListener: multicast data to a group nobody on another port
	// joined, with no router port to take it: not forwarded.
	EventNoListener
	// EventGroupReplaced: a join on a port at its group limit, with the
	// limit action replace, took the place of the port's least recently
	// reported group.
	EventGroupReplaced
	// EventMembershipRevoked: a group entry of the port removed because a
	// new policy's access list refuses it (SetPolicies).
	EventMembershipRevoked
	// EventLinkDownMACs: a learned address of the port forgotten because
	// its link went down.
	EventLinkDownMACs
	// EventLinkDownMemberships: a membership of the port removed because
	// its link went down.
	EventLinkDownMemberships
	numEvents
)

var eventNames = [numEvents]string{
	EventFDBPortLimit:        "fdb-port-limit",
	EventFDBMove:             "fdb-move",
	EventFDBFlap:             "fdb-flap",
	EventFDBStaticConflict:   "fdb-static-conflict",
	EventUnknownUnicast:      "unknown-unicast",
	EventFlood:               "flood",
	EventControl:             "control",
	EventControlOverload:     "control-overload",
	EventSnooped:             "snooped",
	EventNoListener:          "no-listener",
	EventGroupReplaced:       "group-replaced",
	EventMembershipRevoked:   "membership-revoked",
	EventLinkDownMACs:        "link-down-macs",
	EventLinkDownMemberships: "link-down-memberships",
}

func (e Event) String() string {
	if e < numEvents {
		return eventNames[e]
	}
	return "unknown"
}

// rxCounters are written only by the port's own receive worker; atomics make
// them safe to read from elsewhere without a lock on the fast path.
type rxCounters struct {
	frames atomic.Uint64
	bytes  atomic.Uint64
	drops  [numDropReasons]atomic.Uint64
	events [numEvents]atomic.Uint64
}

// txCounters belong to one (receive worker, egress port) pair, so no two
// goroutines ever write the same cache line.
type txCounters struct {
	frames atomic.Uint64
	bytes  atomic.Uint64
	errors atomic.Uint64
}

// PortStats is a snapshot of one port's counters.
type PortStats struct {
	Name string `json:"name"`
	Up   bool   `json:"up"`
	// Removed: the port was taken out of the switch (reload); its counters
	// are kept.
	Removed  bool   `json:"removed,omitempty"`
	RxFrames uint64 `json:"rx_frames"`
	RxBytes  uint64 `json:"rx_bytes"`
	TxFrames uint64 `json:"tx_frames"`
	TxBytes  uint64 `json:"tx_bytes"`
	TxErrors uint64 `json:"tx_errors"`
	// Drops counts frames that arrived on this port and were not forwarded
	// (for DropPortDown and DropTxError: not forwarded to some port), by
	// reason.
	Drops map[string]uint64 `json:"drops"`
	// Events counts what happened to frames that arrived on this port.
	Events map[string]uint64 `json:"events"`
	// Kernel holds the counters the kernel keeps for the port's sockets.
	Kernel KernelStats `json:"kernel"`
	// FlowCache is the part of the Rx and Tx counters that the flow cache
	// forwarded without the engine; nil without one.
	FlowCache *FlowCounters `json:"flow_cache,omitempty"`
}

// KernelStats are the kernel's own counters for a port's packet sockets
// (PACKET_STATISTICS), accumulated over the port's life.
type KernelStats struct {
	// Packets the kernel saw for the switch, the dropped ones included.
	Packets uint64 `json:"packets"`
	// ExpressPackets is the part of Packets that came through the express
	// socket rather than the ring (see afpacket.Port).
	ExpressPackets uint64 `json:"express_packets"`
	// Drops the kernel made because the switch's ring or socket buffer was
	// full.
	Drops uint64 `json:"drops"`
	// QueueFreezes counts how often every block of the ring was full at once
	// (TPACKET_V3 freezes the queue then).
	QueueFreezes uint64 `json:"queue_freezes"`
}

// add adds o's counters to k's.
func (k *KernelStats) add(o KernelStats) {
	k.Packets += o.Packets
	k.ExpressPackets += o.ExpressPackets
	k.Drops += o.Drops
	k.QueueFreezes += o.QueueFreezes
}
