package snoop_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/snoop"
)

// wireIGMPCase is an IGMP message (its checksum filled in by the builder)
// and what Parse must make of it.
type wireIGMPCase struct {
	name   string
	hex    string // the IGMP message; checksum octets are overwritten
	reason snoop.ParseReason
	typ    snoop.MessageType
	group  string         // reports, leave
	query  *snoop.Query   // queries
	recs   []snoop.Record // v3 reports
}

func TestIGMPMessages(t *testing.T) {
	q := func(q snoop.Query) *snoop.Query { return &q }
	for _, tc := range []wireIGMPCase{
		// RFC 3376 s7.1: the version of a query is its length.
		{name: "v1 query: 8 octets, code 0; the group field is ignored", hex: "11 00 0000 ef010101",
			typ: snoop.MsgIGMPQuery, query: q(snoop.Query{Version: 1, Group: wireAddr("0.0.0.0"), MaxResp: 10 * time.Second})},
		{name: "v2 general query", hex: "11 64 0000 00000000",
			typ: snoop.MsgIGMPQuery, query: q(snoop.Query{Version: 2, Group: wireAddr("0.0.0.0"), MaxResp: 10 * time.Second})},
		{name: "v2 group-specific query, max resp 25.5s", hex: "11 ff 0000 ef010203",
			typ: snoop.MsgIGMPQuery, query: q(snoop.Query{Version: 2, Group: wireAddr("239.1.2.3"), MaxResp: 25500 * time.Millisecond})},
		{name: "query of 9 octets", hex: "11 64 0000 00000000 00", reason: snoop.ReasonBadLength},
		{name: "query of 10 octets", hex: "11 64 0000 00000000 0000", reason: snoop.ReasonBadLength},
		{name: "query of 11 octets", hex: "11 64 0000 00000000 027d00", reason: snoop.ReasonBadLength},
		{name: "query of 4 octets", hex: "11 64 0000", reason: snoop.ReasonBadLength},
		{name: "v3 query of 12 octets, code 0", hex: "11 00 0000 00000000 00 00 0000",
			typ: snoop.MsgIGMPQuery, query: q(snoop.Query{Version: 3, Group: wireAddr("0.0.0.0")})},
		{name: "v3 query, largest codes, S, QRV 7", hex: "11 ff 0000 ef010203 0f ff 0000",
			typ: snoop.MsgIGMPQuery, query: q(snoop.Query{Version: 3, Group: wireAddr("239.1.2.3"), MaxResp: 3174400 * time.Millisecond,
				SFlag: true, QRV: 7, QQI: 31744 * time.Second})},
		{name: "v3 query, reserved bits set", hex: "11 0a 0000 ef010203 f2 7d 0000",
			typ: snoop.MsgIGMPQuery, query: q(snoop.Query{Version: 3, Group: wireAddr("239.1.2.3"), MaxResp: time.Second, QRV: 2, QQI: 125 * time.Second})},
		{name: "v3 query with 10 octets past its sources (RFC 3376 s4.1.10)", hex: "11 0a 0000 e8010101 02 7d 0001 0a000001 00000000 00000000 0000",
			typ: snoop.MsgIGMPQuery, query: q(snoop.Query{Version: 3, Group: wireAddr("232.1.1.1"), Sources: []netip.Addr{wireAddr("10.0.0.1")},
				MaxResp: time.Second, QRV: 2, QQI: 125 * time.Second})},
		{name: "v3 query, 2 sources announced, 1 present", hex: "11 0a 0000 e8010101 02 7d 0002 0a000001", reason: snoop.ReasonBadLength},
		{name: "v3 query, 1 source announced, 3 octets present", hex: "11 0a 0000 e8010101 02 7d 0001 0a0000", reason: snoop.ReasonBadLength},
		{name: "v3 general query with a source", hex: "11 0a 0000 00000000 02 7d 0001 0a000001", reason: snoop.ReasonBadType},
		{name: "v2 query for a unicast address", hex: "11 0a 0000 0a010101", reason: snoop.ReasonBadType},
		{name: "v3 query for a unicast address", hex: "11 0a 0000 0a010101 02 7d 0000", reason: snoop.ReasonBadType},

		{name: "v1 report", hex: "12 00 0000 ef010101", typ: snoop.MsgIGMPv1Report, group: "239.1.1.1"},
		{name: "v2 report", hex: "16 00 0000 ef010101", typ: snoop.MsgIGMPv2Report, group: "239.1.1.1"},
		{name: "v2 report with 4 more octets (RFC 2236 s2.5)", hex: "16 00 0000 ef010101 deadbeef", typ: snoop.MsgIGMPv2Report, group: "239.1.1.1"},
		{name: "v2 report with an odd octet more", hex: "16 00 0000 ef010101 ff", typ: snoop.MsgIGMPv2Report, group: "239.1.1.1"},
		{name: "v2 leave", hex: "17 00 0000 ef010101", typ: snoop.MsgIGMPv2Leave, group: "239.1.1.1"},
		{name: "v2 report for a unicast address", hex: "16 00 0000 0a010101", reason: snoop.ReasonBadType},
		{name: "v1 report for 0.0.0.0", hex: "12 00 0000 00000000", reason: snoop.ReasonBadType},
		{name: "leave for 255.255.255.255", hex: "17 00 0000 ffffffff", reason: snoop.ReasonBadType},
		{name: "v2 report of 7 octets", hex: "16 00 0000 ef0101", reason: snoop.ReasonBadLength},
		{name: "3 octets", hex: "16 00 00", reason: snoop.ReasonBadLength},

		{name: "v3 report without records", hex: "22 00 0000 0000 0000", typ: snoop.MsgIGMPv3Report},
		{name: "v3 report of 6 octets", hex: "22 00 0000 0000", reason: snoop.ReasonBadLength},
		{name: "v3 report, aux data skipped", hex: `22 00 0000 0000 0002
			01 02 0001 ef010101 0a000001 11111111 22222222
			06 00 0000 ef010102`,
			typ: snoop.MsgIGMPv3Report, recs: []snoop.Record{
				wireRecord(snoop.ModeIsInclude, "239.1.1.1", "10.0.0.1"),
				wireRecord(snoop.BlockOldSources, "239.1.1.2"),
			}},
		{name: "v3 report, aux data beyond the message", hex: "22 00 0000 0000 0001 01 02 0001 ef010101 0a000001 11111111", reason: snoop.ReasonBadLength},
		{name: "v3 report, unknown record types 0 and 7 ignored (RFC 3376 s4.2.12)", hex: `22 00 0000 0000 0003
			07 00 0001 0a010101 0a000001
			02 00 0000 ef010101
			00 00 0000 00000000`,
			typ: snoop.MsgIGMPv3Report, recs: []snoop.Record{wireRecord(snoop.ModeIsExclude, "239.1.1.1")}},
		{name: "v3 report, unknown record type whose sources run past the end", hex: "22 00 0000 0000 0001 07 00 0002 ef010101 0a000001", reason: snoop.ReasonBadLength},
		{name: "v3 report, record for a unicast address", hex: "22 00 0000 0000 0002 02 00 0000 ef010101 04 00 0000 0a010101", reason: snoop.ReasonBadType},
		{name: "v3 report, extra octets after the last record (RFC 3376 s4.2.11)", hex: "22 00 0000 0000 0001 05 00 0001 ef010101 0a000001 000000000000",
			typ: snoop.MsgIGMPv3Report, recs: []snoop.Record{wireRecord(snoop.AllowNewSources, "239.1.1.1", "10.0.0.1")}},

		// RFC 4541 s2.1.2: unknown types are flooded, so they decode.
		{name: "DVMRP", hex: "13 01 0000 00000000", typ: snoop.MsgUnknown},
		{name: "PIMv1", hex: "14 00 0000 00000000", typ: snoop.MsgUnknown},
		{name: "mtrace", hex: "1f 01 0000 ef010101 0a000001 0a000002 0a000003 00000000", typ: snoop.MsgUnknown},
		{name: "unknown type of 4 octets", hex: "42 00 0000", typ: snoop.MsgUnknown},

		// RFC 4286 s4.
		{name: "MRD advertisement", hex: "30 14 0000 007d 0002", typ: snoop.MsgMRDAdvertisement},
		{name: "MRD advertisement of 4 octets", hex: "30 14 0000", reason: snoop.ReasonBadLength},
		{name: "MRD solicitation", hex: "31 00 0000", typ: snoop.MsgMRDSolicitation},
		{name: "MRD termination", hex: "32 00 0000", typ: snoop.MsgMRDTermination},
	} {
		pkt := wireIP4{src: "10.0.0.2", dst: "224.0.0.22", opts: wireRA4, upper: wireHex(t, tc.hex)}.bytes()
		wireCheckCase(t, wireIPv4, pkt, tc)
	}
}

func wireCheckCase(t *testing.T, etherType uint16, pkt []byte, tc wireIGMPCase) {
	t.Helper()
	var m snoop.Message
	r := wireParse(t, etherType, pkt, &m)
	if r != tc.reason {
		t.Errorf("%s: reason %q, want %q", tc.name, r, tc.reason)
		return
	}
	if r == 0 && !snoop.IsControl(etherType, pkt) {
		t.Errorf("%s: IsControl false", tc.name)
	}
	if r != 0 {
		return
	}
	if m.Type != tc.typ {
		t.Errorf("%s: type %v, want %v", tc.name, m.Type, tc.typ)
	}
	if tc.group != "" && m.Group != wireAddr(tc.group) {
		t.Errorf("%s: group %v, want %s", tc.name, m.Group, tc.group)
	}
	if tc.query != nil && !wireQueryEqual(m.Query, *tc.query) {
		t.Errorf("%s: query %+v, want %+v", tc.name, m.Query, *tc.query)
	}
	if (m.Type == snoop.MsgIGMPv3Report || m.Type == snoop.MsgMLDv2Report) && !wireRecordsEqual(m.Records, tc.recs) {
		t.Errorf("%s: records %v, want %v", tc.name, m.Records, tc.recs)
	}
}

func TestIGMPChecksum(t *testing.T) {
	for _, h := range []string{"16 00 0000 ef010101", "22 00 0000 0000 0001 02 00 0000 ef010101", "11 0a 0000 ef010203 02 7d 0000 00"} {
		pkt := wireIP4{src: "10.0.0.2", dst: "224.0.0.22", opts: wireRA4, upper: wireHex(t, h)}.bytes()
		for i := 24; i < len(pkt); i++ {
			bad := append([]byte(nil), pkt...)
			bad[i] ^= 0x10
			var m snoop.Message
			if r := wireParse(t, wireIPv4, bad, &m); r != snoop.ReasonBadChecksum {
				t.Errorf("%s with octet %d flipped: reason %q, want bad-checksum", h, i-24, r)
			}
		}
	}
}
