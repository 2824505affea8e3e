package snoop

import "errors"

// ParseReason says why Parse rejected a packet. Its string is a stable
// counter name: the same name appears in the port's parse errors, in
// metrics, in show and in replay output, and the switch counts the packet
// under the drop reason of the same name. The zero value is no reason.
type ParseReason uint8

const (
	// ReasonBadChecksum: the IPv4 header, IGMP, ICMPv6 or PIM checksum is
	// wrong.
	ReasonBadChecksum ParseReason = iota + 1
	// ReasonBadLength: a truncated packet, an IHL or total/payload length
	// that disagrees with the packet, a record or source count beyond the
	// payload, a query whose length matches no version.
	ReasonBadLength
	// ReasonBadIP: not IPv4/IPv6, not IGMP/ICMPv6/PIM, a fragment, malformed
	// IPv4 options or IPv6 extension headers.
	ReasonBadIP
	// ReasonBadType: a known message type whose body is impossible (a
	// report for a group that is not multicast, a general query with
	// sources).
	ReasonBadType
	numParseReasons
)

var parseReasonNames = [numParseReasons]string{
	ReasonBadChecksum: "bad-checksum",
	ReasonBadLength:   "bad-length",
	ReasonBadIP:       "bad-ip",
	ReasonBadType:     "bad-type",
}

// String returns the reason's stable counter name, "" for the zero value.
func (r ParseReason) String() string {
	if r < numParseReasons {
		return parseReasonNames[r]
	}
	return "unknown"
}

// ParseReasons lists every ParseError reason in a stable order, for counters.
func ParseReasons() []ParseReason {
	rs := make([]ParseReason, 0, numParseReasons-1)
	for r := ReasonBadChecksum; r < numParseReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}

// ParseError says why Parse rejected a packet. Reason is a stable counter
// name; Err says what exactly was wrong.
type ParseError struct {
	Reason ParseReason
	Err    error
}

func (e *ParseError) Error() string { return "snoop: " + e.Reason.String() + ": " + e.Err.Error() }

func (e *ParseError) Unwrap() error { return e.Err }

// The errors Parse returns are fixed values, so that rejecting a flood of
// malformed packets allocates nothing.
func newParseError(reason ParseReason, text string) *ParseError {
	return &ParseError{Reason: reason, Err: errors.New(text)}
}

var (
	errIPv4Checksum   = newParseError(ReasonBadChecksum, "IPv4 header checksum")
	errIGMPChecksum   = newParseError(ReasonBadChecksum, "IGMP checksum")
	errICMPv6Checksum = newParseError(ReasonBadChecksum, "ICMPv6 checksum (with the IPv6 pseudo-header)")
	errPIMChecksum    = newParseError(ReasonBadChecksum, "PIM checksum")

	errShortIP           = newParseError(ReasonBadLength, "packet shorter than its IP header")
	errIPv4IHL           = newParseError(ReasonBadLength, "IPv4 IHL below 5 words")
	errIPv4TotalLength   = newParseError(ReasonBadLength, "IPv4 total length shorter than the header or longer than the packet")
	errIPv6PayloadLength = newParseError(ReasonBadLength, "IPv6 payload length zero (jumbogram) or longer than the packet")
	errShortIGMP         = newParseError(ReasonBadLength, "IGMP message truncated")
	errIGMPQueryLength   = newParseError(ReasonBadLength, "IGMP query of a length no version has (RFC 3376 s7.1: 8, or 12 and more)")
	errIGMPQuerySources  = newParseError(ReasonBadLength, "IGMPv3 query source count beyond the message")
	errIGMPv3Records     = newParseError(ReasonBadLength, "IGMPv3 report record or source count beyond the message")
	errShortMLD          = newParseError(ReasonBadLength, "ICMPv6 message truncated")
	errMLDQueryLength    = newParseError(ReasonBadLength, "MLD query of a length no version has (RFC 3810 s8.1: 24, or 28 and more)")
	errMLDQuerySources   = newParseError(ReasonBadLength, "MLDv2 query source count beyond the message")
	errMLDv2Records      = newParseError(ReasonBadLength, "MLDv2 report record or source count beyond the message")
	errShortPIM          = newParseError(ReasonBadLength, "PIM message truncated")
	errPIMHelloOptions   = newParseError(ReasonBadLength, "PIM hello option beyond the message")

	errNotIP          = newParseError(ReasonBadIP, "EtherType is not IPv4 or IPv6")
	errIPVersion      = newParseError(ReasonBadIP, "IP version disagrees with the EtherType")
	errFragment       = newParseError(ReasonBadIP, "fragmented control packet")
	errIPv4Options    = newParseError(ReasonBadIP, "malformed IPv4 options")
	errExtHeader      = newParseError(ReasonBadIP, "malformed or misplaced IPv6 extension header")
	errExtHeaderLimit = newParseError(ReasonBadIP, "too many IPv6 extension headers")
	errRoutingHeader  = newParseError(ReasonBadIP, "IPv6 routing header with segments left")
	errNotControl     = newParseError(ReasonBadIP, "IP protocol is not IGMP, ICMPv6 or PIM")

	errIGMPGroup          = newParseError(ReasonBadType, "IGMP report or leave for an address that is not multicast")
	errIGMPQueryGroup     = newParseError(ReasonBadType, "IGMP query for an address that is neither multicast nor 0.0.0.0")
	errIGMPGeneralSources = newParseError(ReasonBadType, "IGMPv3 general query with sources")
	errIGMPv3RecordGroup  = newParseError(ReasonBadType, "IGMPv3 group record for an address that is not multicast")
	errMLDGroup           = newParseError(ReasonBadType, "MLD report or done for an address that is not multicast")
	errMLDQueryGroup      = newParseError(ReasonBadType, "MLD query for an address that is neither multicast nor ::")
	errMLDGeneralSources  = newParseError(ReasonBadType, "MLDv2 general query with sources")
	errMLDv2RecordGroup   = newParseError(ReasonBadType, "MLDv2 group record for an address that is not multicast")
)

// Parse decodes an IGMP, MLD, PIM or MRD packet starting at its IP header
// (etherType 0x0800 or 0x86dd) into m, reusing m's slices.
//
// It verifies what a decoding library does not: the IPv4 header checksum, the
// IGMP checksum, the ICMPv6 and PIM checksums with the IPv6 pseudo-header,
// IHL and total length (IPv4) or payload length (IPv6) against the packet,
// and that every record and source count fits the message. A truncated
// IGMPv3/MLDv2 report is rejected whole, never decoded to fewer records.
// Fragments are rejected. Bytes beyond the IP total/payload length (Ethernet
// padding) are ignored, and so are octets beyond the last source of a v3
// query or the last record of a v3 report, after the checksum has covered
// them (RFC 3376 s4.1.10, s4.2.11; RFC 3810 s5.1.12, s5.2.11).
//
// Parse decodes; it does not judge. A query from a source that is not
// link-local, a report without Router Alert or with a TTL above 1 decodes
// normally: Src, TTL and RouterAlert carry what the guard needs to decide.
// IGMP and ICMPv6 types it does not know decode as MsgUnknown (RFC 4541
// s2.1.2: flood them), and so do PIM messages other than a hello to
// ALL-PIM-ROUTERS. Group records of unknown types are left out of Records
// (RFC 3376 s4.2.12: silently ignored) after their length is checked.
//
// On error m is the zero Message and the error is a *ParseError. Records,
// their Sources and Query.Sources share backing arrays with earlier results:
// they are valid until the next Parse into m, so a caller that keeps them
// copies them. Once those arrays have grown, Parse allocates nothing;
// an error releases them.
func Parse(etherType uint16, ip []byte, m *Message) error {
	recs, srcs := m.Records[:0], m.Query.Sources[:0]
	*m = Message{Records: recs, Query: Query{Sources: srcs}}
	var perr *ParseError
	switch etherType {
	case etherTypeIPv4:
		perr = parseIPv4(ip, m)
	case etherTypeIPv6:
		perr = parseIPv6(ip, m)
	default:
		perr = errNotIP
	}
	if perr != nil {
		*m = Message{}
		return perr
	}
	return nil
}
