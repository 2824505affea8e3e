package snoop_test

import (
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/testutil"
	"github.com/snoopswitch/snoopswitch/snoop"
)

func TestPIM(t *testing.T) {
	// RFC 7761 s4.9.2: a hello with Holdtime 105 s (option 1), DR Priority 1
	// (option 19) and Generation ID (option 20).
	hello := "20 00 0000  0001 0002 0069  0013 0004 00000001  0014 0004 1a2b3c4d"
	for _, tc := range []struct {
		name   string
		v6     bool
		dst    string
		hex    string
		reason snoop.ParseReason
		typ    snoop.MessageType
	}{
		{"IPv4 hello", false, "224.0.0.13", hello, 0, snoop.MsgPIMHello},
		{"IPv6 hello (pseudo-header checksum)", true, "ff02::d", hello, 0, snoop.MsgPIMHello},
		{"hello without options", false, "224.0.0.13", "20 00 0000", 0, snoop.MsgPIMHello},
		{"hello to another group", false, "224.0.0.22", hello, 0, snoop.MsgUnknown},
		{"IPv6 hello to ff02::1", true, "ff02::1", hello, 0, snoop.MsgUnknown},
		{"join/prune", false, "224.0.0.13", "23 00 0000 01 00 0a000001 00 00 0001 00", 0, snoop.MsgUnknown},
		{"register, checksum not over the whole message", false, "10.0.0.9", "21 00 0000 00000000 45", 0, snoop.MsgUnknown},
		{"version 1", false, "224.0.0.13", "10 00 0000", 0, snoop.MsgUnknown},
		{"hello option past the end", false, "224.0.0.13", "20 00 0000 0001 0004 0069", snoop.ReasonBadLength, 0},
		{"hello with 2 stray octets", false, "224.0.0.13", "20 00 0000 0001 0002 0069 0000", snoop.ReasonBadLength, 0},
		{"3 octets", false, "224.0.0.13", "20 00 00", snoop.ReasonBadLength, 0},
	} {
		var pkt []byte
		et := uint16(wireIPv4)
		if tc.v6 {
			et = wireIPv6
			pkt = wireIP6{src: "fe80::1", dst: tc.dst, proto: 103, upper: wireHex(t, tc.hex)}.bytes()
		} else {
			pkt = wireIP4{src: "10.0.0.1", dst: tc.dst, proto: 103, upper: wireHex(t, tc.hex)}.bytes()
		}
		if !snoop.IsControl(et, pkt) {
			t.Errorf("%s: IsControl false", tc.name)
		}
		var m snoop.Message
		r := wireParse(t, et, pkt, &m)
		if r != tc.reason || m.Type != tc.typ {
			t.Errorf("%s: %q %v, want %q %v", tc.name, r, m.Type, tc.reason, tc.typ)
		}
	}

	// A wrong checksum; for IPv6 one without the pseudo-header.
	bad := wireIP4{src: "10.0.0.1", dst: "224.0.0.13", proto: 103, upper: wireHex(t, hello)}.bytes()
	bad[len(bad)-1]++
	pkt6 := wireIP6{src: "fe80::1", dst: "ff02::d", proto: 103, upper: wireHex(t, hello), keepSum: true}.bytes()
	s := testutil.Checksum(pkt6[40:])
	pkt6[42], pkt6[43] = byte(s>>8), byte(s)
	for _, c := range []struct {
		et  uint16
		pkt []byte
	}{{wireIPv4, bad}, {wireIPv6, pkt6}} {
		var m snoop.Message
		if r := wireParse(t, c.et, c.pkt, &m); r != snoop.ReasonBadChecksum {
			t.Errorf("EtherType %#x: reason %q, want bad-checksum", c.et, r)
		}
	}
}
