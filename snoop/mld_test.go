package snoop_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/testutil"
	"github.com/snoopswitch/snoopswitch/snoop"
)

func TestMLDMessages(t *testing.T) {
	q := func(q snoop.Query) *snoop.Query { return &q }
	const (
		grp  = "ff050000000000000000000000010003" // ff05::1:3
		zero = "00000000000000000000000000000000"
		src1 = "20010db8000000000000000000000001"
	)
	for _, tc := range []wireIGMPCase{
		// RFC 3810 s8.1: the version of a query is its length.
		{name: "v1 general query", hex: "82 00 0000 2710 0000" + zero,
			typ: snoop.MsgMLDQuery, query: q(snoop.Query{Version: 1, Group: wireAddr("::"), MaxResp: 10 * time.Second})},
		{name: "v1 address-specific query, max resp 65.535s", hex: "82 00 0000 ffff 0000" + grp,
			typ: snoop.MsgMLDQuery, query: q(snoop.Query{Version: 1, Group: wireAddr("ff05::1:3"), MaxResp: 65535 * time.Millisecond})},
		{name: "query of 25 octets", hex: "82 00 0000 2710 0000" + zero + "00", reason: snoop.ReasonBadLength},
		{name: "query of 27 octets", hex: "82 00 0000 2710 0000" + zero + "027d00", reason: snoop.ReasonBadLength},
		{name: "query of 23 octets", hex: "82 00 0000 2710 0000" + zero[:30], reason: snoop.ReasonBadLength},
		{name: "v2 general query", hex: "82 00 0000 2710 0000" + zero + "02 7d 0000",
			typ: snoop.MsgMLDQuery, query: q(snoop.Query{Version: 2, Group: wireAddr("::"), MaxResp: 10 * time.Second, QRV: 2, QQI: 125 * time.Second})},
		{name: "v2 query, largest codes, S, QRV 7", hex: "82 00 0000 ffff 0000" + grp + "0f ff 0000",
			typ: snoop.MsgMLDQuery, query: q(snoop.Query{Version: 2, Group: wireAddr("ff05::1:3"), MaxResp: 8387584 * time.Millisecond,
				SFlag: true, QRV: 7, QQI: 31744 * time.Second})},
		{name: "v2 query, first float max resp code", hex: "82 00 0000 8000 0000" + grp + "02 7d 0000",
			typ: snoop.MsgMLDQuery, query: q(snoop.Query{Version: 2, Group: wireAddr("ff05::1:3"), MaxResp: 32768 * time.Millisecond, QRV: 2, QQI: 125 * time.Second})},
		{name: "v2 query with a source and 4 octets more (RFC 3810 s5.1.12)", hex: "82 00 0000 03e8 0000" + grp + "02 7d 0001" + src1 + "00000000",
			typ: snoop.MsgMLDQuery, query: q(snoop.Query{Version: 2, Group: wireAddr("ff05::1:3"), Sources: []netip.Addr{wireAddr("2001:db8::1")},
				MaxResp: time.Second, QRV: 2, QQI: 125 * time.Second})},
		{name: "v2 query, 2 sources announced, 1 present", hex: "82 00 0000 03e8 0000" + grp + "02 7d 0002" + src1, reason: snoop.ReasonBadLength},
		{name: "v2 general query with a source", hex: "82 00 0000 03e8 0000" + zero + "02 7d 0001" + src1, reason: snoop.ReasonBadType},
		{name: "v1 query for a unicast address", hex: "82 00 0000 03e8 0000" + src1, reason: snoop.ReasonBadType},
		{name: "v2 query for an IPv4-mapped group", hex: "82 00 0000 03e8 0000 00000000000000000000ffffef010101 02 7d 0000", reason: snoop.ReasonBadType},

		{name: "v1 report", hex: "83 00 0000 0000 0000" + grp, typ: snoop.MsgMLDv1Report, group: "ff05::1:3"},
		{name: "v1 done", hex: "84 00 0000 0000 0000" + grp, typ: snoop.MsgMLDv1Done, group: "ff05::1:3"},
		{name: "v1 report with 4 more octets", hex: "83 00 0000 0000 0000" + grp + "01020304", typ: snoop.MsgMLDv1Report, group: "ff05::1:3"},
		{name: "v1 report of 23 octets", hex: "83 00 0000 0000 0000" + grp[:30], reason: snoop.ReasonBadLength},
		{name: "v1 report for a unicast address", hex: "83 00 0000 0000 0000" + src1, reason: snoop.ReasonBadType},
		{name: "v1 report for an IPv4-mapped group", hex: "83 00 0000 0000 0000 00000000000000000000ffffef010101", reason: snoop.ReasonBadType},

		{name: "v2 report without records", hex: "8f 00 0000 0000 0000", typ: snoop.MsgMLDv2Report},
		{name: "v2 report of 7 octets", hex: "8f 00 0000 0000 00", reason: snoop.ReasonBadLength},
		{name: "v2 report, aux data skipped, unknown record type ignored", hex: "8f 00 0000 0000 0003" +
			"01 01 0001" + grp + src1 + "aaaaaaaa" +
			"09 00 0000" + grp +
			"03 00 0000" + grp,
			typ: snoop.MsgMLDv2Report, recs: []snoop.Record{
				wireRecord(snoop.ModeIsInclude, "ff05::1:3", "2001:db8::1"),
				wireRecord(snoop.ChangeToInclude, "ff05::1:3"),
			}},
		{name: "v2 report, record header cut", hex: "8f 00 0000 0000 0001 01 00 0000" + grp[:28], reason: snoop.ReasonBadLength},
		{name: "v2 report, record for a unicast address", hex: "8f 00 0000 0000 0001 01 00 0000" + src1, reason: snoop.ReasonBadType},

		{name: "echo request", hex: "80 00 0000 1234 0001", typ: snoop.MsgUnknown},
		{name: "ICMPv6 of 3 octets", hex: "83 00 00", reason: snoop.ReasonBadLength},

		// RFC 4286 s5.
		{name: "MRD advertisement", hex: "97 14 0000 007d 0002", typ: snoop.MsgMRDAdvertisement},
		{name: "MRD advertisement of 4 octets", hex: "97 14 0000", reason: snoop.ReasonBadLength},
		{name: "MRD solicitation", hex: "98 00 0000", typ: snoop.MsgMRDSolicitation},
		{name: "MRD termination", hex: "99 00 0000", typ: snoop.MsgMRDTermination},
	} {
		pkt := wireIP6{src: "fe80::2", dst: "ff02::16", nh: 0, ext: wireHopByHopRA(58), upper: wireHex(t, tc.hex)}.bytes()
		if tc.typ == snoop.MsgUnknown && tc.reason == 0 {
			// Not MLD: Parse decodes it, but the data plane keeps it.
			var m snoop.Message
			if r := wireParse(t, wireIPv6, pkt, &m); r != 0 || m.Type != snoop.MsgUnknown {
				t.Errorf("%s: %q %v", tc.name, r, m.Type)
			}
			if snoop.IsControl(wireIPv6, pkt) {
				t.Errorf("%s: IsControl true", tc.name)
			}
			continue
		}
		wireCheckCase(t, wireIPv6, pkt, tc)
	}
}

// A non-link-local or unspecified source, hop limit 255, no Router Alert:
// Parse decodes and reports them all (RFC 3810 s5.1.14 discards such
// queries; which rule applies is the guard's to decide).
func TestMLDReportsWhatGuardChecks(t *testing.T) {
	q := wireHex(t, "82 00 0000 03e8 0000 ff050000000000000000000000010003 02 7d 0000")
	for _, tc := range []struct {
		src  string
		hops uint8
		ra   bool
	}{
		{"2001:db8::1", 1, true},
		{"::", 1, true},
		{"fe80::1", 255, false},
	} {
		p := wireIP6{src: tc.src, dst: "ff05::1:3", hops: tc.hops, upper: q}
		if tc.ra {
			p.nh, p.ext = 0, wireHopByHopRA(58)
		}
		var m snoop.Message
		if r := wireParse(t, wireIPv6, p.bytes(), &m); r != 0 {
			t.Fatalf("%s: %s", tc.src, r)
		}
		if m.Type != snoop.MsgMLDQuery || m.Src != wireAddr(tc.src) || m.TTL != tc.hops || m.RouterAlert != tc.ra {
			t.Errorf("%s: %+v", tc.src, wireSummarize(&m))
		}
	}
}

func TestICMPv6Checksum(t *testing.T) {
	pkt := wireReport6(t)
	for i := 48; i < len(pkt); i++ {
		bad := append([]byte(nil), pkt...)
		bad[i] ^= 0x01
		var m snoop.Message
		if r := wireParse(t, wireIPv6, bad, &m); r != snoop.ReasonBadChecksum {
			t.Errorf("octet %d flipped: reason %q, want bad-checksum", i-48, r)
		}
	}
	// An ICMPv6 checksum computed without the pseudo-header is wrong.
	upper := wireHex(t, "83 00 0000 0000 0000 ff050000000000000000000000010003")
	pkt = wireIP6{src: "fe80::2", dst: "ff05::1:3", upper: upper, keepSum: true}.bytes()
	s := testutil.Checksum(upper)
	pkt[42], pkt[43] = byte(s>>8), byte(s)
	var m snoop.Message
	if r := wireParse(t, wireIPv6, pkt, &m); r != snoop.ReasonBadChecksum {
		t.Errorf("checksum without pseudo-header: reason %q", r)
	}
}

func TestParseErrorText(t *testing.T) {
	var m snoop.Message
	err := snoop.Parse(wireIPv6, wireCapture(t, "icmp6-mldv2.pcap")[2].ip, &m)
	if err == nil || !strings.Contains(err.Error(), "snoop: bad-length: MLDv2 report") {
		t.Errorf("error %v", err)
	}
}
