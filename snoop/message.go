package snoop

import (
	"net/netip"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// MessageType is the kind of a decoded control packet. Its string is a
// stable counter name.
type MessageType uint8

const (
	// MsgUnknown is an IGMP type this switch does not know, or an ICMPv6
	// type that is neither MLD nor MRD. RFC 4541 s2.1.2: flood it.
	MsgUnknown MessageType = iota
	MsgIGMPQuery
	MsgIGMPv1Report
	MsgIGMPv2Report
	MsgIGMPv2Leave
	MsgIGMPv3Report
	MsgMLDQuery
	MsgMLDv1Report
	MsgMLDv1Done
	MsgMLDv2Report
	MsgPIMHello
	MsgMRDAdvertisement
	MsgMRDSolicitation
	MsgMRDTermination
	numMessageTypes
)

var messageTypeNames = [numMessageTypes]string{
	MsgUnknown:          "unknown",
	MsgIGMPQuery:        "igmp-query",
	MsgIGMPv1Report:     "igmpv1-report",
	MsgIGMPv2Report:     "igmpv2-report",
	MsgIGMPv2Leave:      "igmpv2-leave",
	MsgIGMPv3Report:     "igmpv3-report",
	MsgMLDQuery:         "mld-query",
	MsgMLDv1Report:      "mldv1-report",
	MsgMLDv1Done:        "mldv1-done",
	MsgMLDv2Report:      "mldv2-report",
	MsgPIMHello:         "pim-hello",
	MsgMRDAdvertisement: "mrd-advertisement",
	MsgMRDSolicitation:  "mrd-solicitation",
	MsgMRDTermination:   "mrd-termination",
}

func (t MessageType) String() string {
	if t < numMessageTypes {
		return messageTypeNames[t]
	}
	return "invalid"
}

// RecordType is an IGMPv3/MLDv2 group record type (RFC 3376 s4.2.12,
// RFC 3810 s5.2.12).
type RecordType uint8

const (
	ModeIsInclude   RecordType = 1
	ModeIsExclude   RecordType = 2
	ChangeToInclude RecordType = 3
	ChangeToExclude RecordType = 4
	AllowNewSources RecordType = 5
	BlockOldSources RecordType = 6
)

func (r RecordType) String() string {
	switch r {
	case ModeIsInclude:
		return "IS_IN"
	case ModeIsExclude:
		return "IS_EX"
	case ChangeToInclude:
		return "TO_IN"
	case ChangeToExclude:
		return "TO_EX"
	case AllowNewSources:
		return "ALLOW"
	case BlockOldSources:
		return "BLOCK"
	}
	return "invalid"
}

// Record is one group record of an IGMPv3 or MLDv2 report.
type Record struct {
	Type    RecordType
	Group   netip.Addr
	Sources []netip.Addr
}

// Query is an IGMP or MLD query, decoded or to be encoded.
type Query struct {
	// Version is 1, 2 or 3 for IGMP (RFC 3376 s7.1: by length), 1 or 2 for
	// MLD.
	Version int
	// Group is the unspecified address (0.0.0.0, ::) for a general query.
	Group netip.Addr
	// Sources are the sources of a group-and-source-specific query.
	Sources []netip.Addr
	// MaxResp is the decoded Max Resp Code (IGMPv1: 10 s, RFC 2236 s4).
	MaxResp time.Duration
	// SFlag is the Suppress Router-Side Processing flag (v3/MLDv2).
	SFlag bool
	// QRV is the querier's robustness variable (v3/MLDv2); 0 when not given.
	QRV int
	// QQI is the querier's query interval (v3/MLDv2); 0 when not given.
	QQI time.Duration
}

// IsGeneral reports whether q is a general query.
func (q *Query) IsGeneral() bool { return !q.Group.IsValid() || q.Group.IsUnspecified() }

// Message is one decoded IGMP, MLD, PIM or MRD packet. Parse reuses its
// slices.
type Message struct {
	Type   MessageType
	Family int // 4 or 6
	// Src and Dst are the IP source and destination.
	Src, Dst netip.Addr
	// TTL is the IPv4 TTL or the IPv6 hop limit.
	TTL uint8
	// RouterAlert says the IPv4 Router Alert option or the IPv6 hop-by-hop
	// Router Alert was present.
	RouterAlert bool
	// Query is valid iff Type is MsgIGMPQuery or MsgMLDQuery.
	Query Query
	// Group is valid for IGMPv1/v2 reports, the IGMPv2 leave and MLDv1
	// reports and dones.
	Group netip.Addr
	// Records is valid for MsgIGMPv3Report and MsgMLDv2Report.
	Records []Record
	// SrcMAC is the frame's source address. Parse does not set it (it sees
	// the IP packet only); the switch's worker does, after Parse, and it is
	// zero where nobody did. The querier election breaks ties between
	// queriers of the same address by it, and a query from a snoopswitch
	// MAC (IsSwitchMAC) is known for a fabric switch's querier.
	SrcMAC fdb.MAC
}

// Clone returns a deep copy of m, whose slices Parse will not reuse.
func (m *Message) Clone() *Message {
	c := *m
	c.Query.Sources = append([]netip.Addr(nil), m.Query.Sources...)
	c.Records = make([]Record, len(m.Records))
	for i, r := range m.Records {
		c.Records[i] = Record{Type: r.Type, Group: r.Group, Sources: append([]netip.Addr(nil), r.Sources...)}
	}
	return &c
}
