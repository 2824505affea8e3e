package snoop_test

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/snoopswitch/snoopswitch/internal/testutil"
	"github.com/snoopswitch/snoopswitch/snoop"
)

// An IGMPv2 report for 239.1.1.1, the upper layer of the IPv4 cases.
var wireV2Report = []byte{0x16, 0, 0, 0, 239, 1, 1, 1}

// wireMLDv1Report is an MLDv1 report for ff05::1:3.
func wireMLDv1Report(t testing.TB) []byte {
	return wireHex(t, "83 00 0000 0000 0000 ff050000000000000000000000010003")
}

func TestIPv4Header(t *testing.T) {
	good := wireIP4{src: "10.0.0.1", dst: "239.1.1.1", opts: wireRA4, upper: wireV2Report}
	// refix recomputes the IPv4 header checksum after an edit.
	refix := func(b []byte) []byte {
		hl := int(b[0]&0x0f) * 4
		if hl >= 20 && hl <= len(b) {
			b[10], b[11] = 0, 0
			binary.BigEndian.PutUint16(b[10:], testutil.Checksum(b[:hl]))
		}
		return b
	}
	edit := func(p wireIP4, f func(b []byte)) []byte {
		b := p.bytes()
		f(b)
		return refix(b)
	}
	corrupt := func(p wireIP4, f func(b []byte)) []byte {
		b := p.bytes()
		f(b)
		return b
	}
	for _, tc := range []struct {
		name   string
		pkt    []byte
		reason snoop.ParseReason
		ra     bool
	}{
		{"Router Alert", good.bytes(), 0, true},
		{"no options", wireIP4{src: "10.0.0.1", dst: "239.1.1.1", upper: wireV2Report}.bytes(), 0, false},
		{"NOPs then Router Alert", wireIP4{src: "10.0.0.1", dst: "239.1.1.1", opts: []byte{1, 1, 1, 1, 0x94, 4, 0, 0}, upper: wireV2Report}.bytes(), 0, true},
		{"Router Alert after End of Options is not read", wireIP4{src: "10.0.0.1", dst: "239.1.1.1", opts: []byte{0, 0, 0, 0, 0x94, 4, 0, 0}, upper: wireV2Report}.bytes(), 0, false},
		{"Router Alert with a reserved value", wireIP4{src: "10.0.0.1", dst: "239.1.1.1", opts: []byte{0x94, 4, 0, 1}, upper: wireV2Report}.bytes(), 0, false},
		{"Router Alert of length 2", wireIP4{src: "10.0.0.1", dst: "239.1.1.1", opts: []byte{0x94, 2, 1, 0}, upper: wireV2Report}.bytes(), snoop.ReasonBadIP, false},
		{"option of length 0", wireIP4{src: "10.0.0.1", dst: "239.1.1.1", opts: []byte{0x07, 0, 0, 0}, upper: wireV2Report}.bytes(), snoop.ReasonBadIP, false},
		{"option past the header", wireIP4{src: "10.0.0.1", dst: "239.1.1.1", opts: []byte{0x07, 8, 0, 0}, upper: wireV2Report}.bytes(), snoop.ReasonBadIP, false},
		{"unknown option skipped", wireIP4{src: "10.0.0.1", dst: "239.1.1.1", opts: []byte{0x07, 3, 0, 1, 0x94, 4, 0, 0}, upper: wireV2Report}.bytes(), 0, true},
		{"Ethernet padding after the total length", append(good.bytes(), 0, 0, 0, 0, 0, 0), 0, true},
		{"DF set", wireIP4{src: "10.0.0.1", dst: "239.1.1.1", frag: 0x4000, upper: wireV2Report}.bytes(), 0, false},
		{"more fragments", wireIP4{src: "10.0.0.1", dst: "239.1.1.1", frag: 0x2000, upper: wireV2Report}.bytes(), snoop.ReasonBadIP, false},
		{"fragment offset", wireIP4{src: "10.0.0.1", dst: "239.1.1.1", frag: 0x0001, upper: wireV2Report}.bytes(), snoop.ReasonBadIP, false},
		{"header checksum", corrupt(good, func(b []byte) { b[10] ^= 1 }), snoop.ReasonBadChecksum, false},
		{"IHL 4", edit(good, func(b []byte) { b[0] = 0x44 }), snoop.ReasonBadLength, false},
		{"IHL beyond the packet", edit(good, func(b []byte) { b[0] = 0x4f }), snoop.ReasonBadLength, false},
		{"total length beyond the packet", edit(good, func(b []byte) { b[3]++ }), snoop.ReasonBadLength, false},
		{"total length inside the header", edit(good, func(b []byte) { b[2], b[3] = 0, 20 }), snoop.ReasonBadLength, false},
		// The IGMP checksum covers what the total length says: it fails first.
		{"total length cuts the IGMP message", edit(good, func(b []byte) { b[3] -= 4 }), snoop.ReasonBadChecksum, false},
		{"version 6 in an IPv4 EtherType", edit(good, func(b []byte) { b[0] = 0x66 }), snoop.ReasonBadIP, false},
		{"UDP", wireIP4{src: "10.0.0.1", dst: "239.1.1.1", proto: 17, upper: make([]byte, 12)}.bytes(), snoop.ReasonBadIP, false},
		{"19 octets", good.bytes()[:19], snoop.ReasonBadLength, false},
	} {
		var m snoop.Message
		r := wireParse(t, wireIPv4, tc.pkt, &m)
		if r != tc.reason {
			t.Errorf("%s: reason %q, want %q", tc.name, r, tc.reason)
			continue
		}
		if r == 0 && (m.RouterAlert != tc.ra || m.Family != 4 || m.Type != snoop.MsgIGMPv2Report) {
			t.Errorf("%s: %+v, want RA %v", tc.name, wireSummarize(&m), tc.ra)
		}
		// Whatever its header says, a packet with protocol IGMP is control.
		if tc.pkt[9] == 2 && !snoop.IsControl(wireIPv4, tc.pkt) {
			t.Errorf("%s: IsControl false", tc.name)
		}
	}
}

// wireExt is an extension header: its type (for the next-header field of
// the one before) and its bytes.
type wireExt struct {
	typ byte
	b   []byte
}

// wireChain joins extension headers, setting each one's next-header field to
// the type of the one after, the last to last.
func wireChain(last byte, exts ...wireExt) (first byte, b []byte) {
	for i, e := range exts {
		h := slices.Clone(e.b)
		h[0] = last
		if i+1 < len(exts) {
			h[0] = exts[i+1].typ
		}
		b = append(b, h...)
	}
	if len(exts) == 0 {
		return last, nil
	}
	return exts[0].typ, b
}

var (
	wireHBH      = wireExt{0, []byte{0, 0, 5, 2, 0, 0, 1, 0}}                             // Router Alert (MLD), PadN
	wireHBHPad1  = wireExt{0, []byte{0, 0, 0, 0, 5, 2, 0, 0}}                             // Pad1, Pad1, Router Alert
	wireHBHRSVP  = wireExt{0, []byte{0, 0, 5, 2, 0, 1, 1, 0}}                             // Router Alert value 1 (RSVP)
	wireHBHBadRA = wireExt{0, []byte{0, 0, 5, 1, 0, 1, 0, 0}}                             // Router Alert of length 1
	wireHBHOver  = wireExt{0, []byte{0, 0, 5, 2, 0, 0, 1, 3}}                             // PadN past the header
	wireHBHLong  = wireExt{0, []byte{0, 1, 0x1e, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 2}} // unknown option, then a Router Alert cut by the header's end
	wireDest     = wireExt{60, []byte{0, 0, 1, 4, 0, 0, 0, 0}}                            // destination options, PadN
	wireRouting0 = wireExt{43, []byte{0, 0, 0, 0, 0, 0, 0, 0}}                            // routing, segments left 0
	wireRouting1 = wireExt{43, []byte{0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}
	wireAH       = wireExt{51, []byte{0, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} // AH, 24 octets
	wireFrag0    = wireExt{44, []byte{0, 0, 0x00, 0x01, 0, 0, 0, 7}}                                           // first fragment, more follow
	wireFrag8    = wireExt{44, []byte{0, 0, 0x00, 0x40, 0, 0, 0, 7}}                                           // offset 8 octets
)

func TestIPv6ExtensionHeaders(t *testing.T) {
	mld := wireMLDv1Report(t)
	echo := wireHex(t, "80 00 0000 1234 0001 6162 6364")
	udp := wireHex(t, "1234 5678 000c 0000 6162 6364")
	for _, tc := range []struct {
		name      string
		exts      []wireExt
		proto     byte
		upper     []byte
		reason    snoop.ParseReason
		ra        bool
		isControl bool
	}{
		{"no extension header", nil, 58, mld, 0, false, true},
		{"hop-by-hop Router Alert", []wireExt{wireHBH}, 58, mld, 0, true, true},
		{"hop-by-hop Pad1s", []wireExt{wireHBHPad1}, 58, mld, 0, true, true},
		{"Router Alert for RSVP is not MLD's", []wireExt{wireHBHRSVP}, 58, mld, 0, false, true},
		{"Router Alert of length 1", []wireExt{wireHBHBadRA}, 58, mld, snoop.ReasonBadIP, false, true},
		{"hop-by-hop option past its header", []wireExt{wireHBHOver}, 58, mld, snoop.ReasonBadIP, false, true},
		{"hop-by-hop unknown option then a cut Router Alert", []wireExt{wireHBHLong}, 58, mld, snoop.ReasonBadIP, false, true},
		{"hop-by-hop, destination options", []wireExt{wireHBH, wireDest}, 58, mld, 0, true, true},
		{"destination options, then hop-by-hop", []wireExt{wireDest, wireHBH}, 58, mld, snoop.ReasonBadIP, false, true},
		{"routing, segments left 0", []wireExt{wireHBH, wireRouting0}, 58, mld, 0, true, true},
		{"routing, segments left 1", []wireExt{wireRouting1}, 58, mld, snoop.ReasonBadIP, false, true},
		{"authentication header", []wireExt{wireHBH, wireAH}, 58, mld, 0, true, true},
		{"first fragment of MLD", []wireExt{wireFrag0}, 58, mld, snoop.ReasonBadIP, false, true},
		{"later fragment of MLD", []wireExt{wireFrag8}, 58, mld, snoop.ReasonBadIP, false, false},
		{"first fragment of UDP", []wireExt{wireFrag0}, 17, udp, snoop.ReasonBadIP, false, false},
		{"8 destination options", slices.Repeat([]wireExt{wireDest}, 8), 58, mld, 0, false, true},
		{"9 destination options", slices.Repeat([]wireExt{wireDest}, 9), 58, mld, snoop.ReasonBadIP, false, true},
		{"ICMPv6 echo", []wireExt{wireHBH}, 58, echo, 0, true, false},
		{"UDP", []wireExt{wireDest}, 17, udp, snoop.ReasonBadIP, false, false},
		{"no next header", []wireExt{wireDest}, 59, nil, snoop.ReasonBadIP, false, false},
		{"PIM", []wireExt{wireDest}, 103, wireHex(t, "23 00 0000"), 0, false, true},
	} {
		nh, ext := wireChain(tc.proto, tc.exts...)
		pkt := wireIP6{src: "fe80::1", dst: "ff05::1:3", nh: nh, ext: ext, proto: tc.proto, upper: tc.upper}.bytes()
		var m snoop.Message
		r := wireParse(t, wireIPv6, pkt, &m)
		if r != tc.reason {
			t.Errorf("%s: reason %q, want %q", tc.name, r, tc.reason)
		} else if r == 0 && m.RouterAlert != tc.ra {
			t.Errorf("%s: RouterAlert %v, want %v", tc.name, m.RouterAlert, tc.ra)
		}
		if got := snoop.IsControl(wireIPv6, pkt); got != tc.isControl {
			t.Errorf("%s: IsControl %v, want %v", tc.name, got, tc.isControl)
		}
		// Each header cut short is malformed: never data, never decoded.
		for n := 40; n < 40+len(ext); n++ {
			cut := slices.Clone(pkt[:n])
			binary.BigEndian.PutUint16(cut[4:], uint16(n-40))
			if tc.isControl && !snoop.IsControl(wireIPv6, cut) {
				t.Errorf("%s cut at %d: IsControl false", tc.name, n)
			}
			if r := wireParse(t, wireIPv6, cut, &m); r == 0 {
				t.Errorf("%s cut at %d: decoded", tc.name, n)
			}
		}
	}
}

// gopacket, a decoder written apart from this one, reads the crafted
// extension-header chains the same way: the hop-by-hop options the test means
// to send are the ones on the wire, and the chain ends in the ICMPv6 message.
func TestIPv6ExtensionHeadersAgreeWithGopacket(t *testing.T) {
	mld := wireMLDv1Report(t)
	for _, exts := range [][]wireExt{
		{wireHBH}, {wireHBHPad1}, {wireHBHRSVP}, {wireHBH, wireDest}, {wireHBH, wireRouting0}, {wireHBH, wireDest, wireDest},
	} {
		nh, ext := wireChain(58, exts...)
		pkt := wireIP6{src: "fe80::1", dst: "ff05::1:3", nh: nh, ext: ext, upper: mld}.bytes()
		p := gopacket.NewPacket(pkt, layers.LayerTypeIPv6, gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("gopacket: %v", el.Error())
		}
		var gpRA bool
		if hbh, ok := p.Layer(layers.LayerTypeIPv6HopByHop).(*layers.IPv6HopByHop); ok {
			for _, o := range hbh.Options {
				if o.OptionType == 5 && len(o.OptionData) == 2 && binary.BigEndian.Uint16(o.OptionData) == 0 {
					gpRA = true
				}
			}
		}
		icmp, ok := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
		if !ok || icmp.TypeCode.Type() != 131 {
			t.Fatalf("gopacket finds no MLDv1 report in %x", pkt)
		}
		var m snoop.Message
		if r := wireParse(t, wireIPv6, pkt, &m); r != 0 || m.RouterAlert != gpRA || m.Type != snoop.MsgMLDv1Report {
			t.Errorf("chain %x: %q RA %v, gopacket RA %v", ext, r, m.RouterAlert, gpRA)
		}
	}
}

func TestIPv6Header(t *testing.T) {
	good := wireIP6{src: "fe80::1", dst: "ff05::1:3", upper: wireMLDv1Report(t)}
	for _, tc := range []struct {
		name   string
		edit   func(b []byte) []byte
		reason snoop.ParseReason
	}{
		{"as built", func(b []byte) []byte { return b }, 0},
		{"Ethernet padding after the payload", func(b []byte) []byte { return append(b, 0, 0, 0, 0) }, 0},
		{"payload length beyond the packet", func(b []byte) []byte { b[5]++; return b }, snoop.ReasonBadLength},
		// The ICMPv6 checksum covers what the payload length says: it fails first.
		{"payload length cuts the message", func(b []byte) []byte { b[5]--; return b }, snoop.ReasonBadChecksum},
		{"payload length 0 (jumbogram)", func(b []byte) []byte { b[4], b[5] = 0, 0; return b }, snoop.ReasonBadLength},
		{"39 octets", func(b []byte) []byte { return b[:39] }, snoop.ReasonBadLength},
		{"version 4 in an IPv6 EtherType", func(b []byte) []byte { b[0] = 0x40; return b }, snoop.ReasonBadIP},
		// The pseudo-header covers the addresses.
		{"another destination", func(b []byte) []byte { b[39]++; return b }, snoop.ReasonBadChecksum},
		{"another source", func(b []byte) []byte { b[23]++; return b }, snoop.ReasonBadChecksum},
	} {
		var m snoop.Message
		if r := wireParse(t, wireIPv6, tc.edit(good.bytes()), &m); r != tc.reason {
			t.Errorf("%s: reason %q, want %q", tc.name, r, tc.reason)
		}
	}
}

func TestIsControl(t *testing.T) {
	for _, tc := range []struct {
		name      string
		etherType uint16
		pkt       []byte
		want      bool
	}{
		{"ARP", 0x0806, make([]byte, 28), false},
		{"IPv4 UDP", wireIPv4, wireIP4{src: "10.0.0.1", dst: "239.1.1.1", proto: 17, upper: make([]byte, 8)}.bytes(), false},
		{"IPv4 IGMP", wireIPv4, wireIP4{src: "10.0.0.1", dst: "239.1.1.1", upper: wireV2Report}.bytes(), true},
		{"IPv4 PIM", wireIPv4, wireIP4{src: "10.0.0.1", dst: "224.0.0.13", proto: 103, upper: []byte{0x20, 0, 0, 0}}.bytes(), true},
		{"IPv4 fragment of IGMP", wireIPv4, wireIP4{src: "10.0.0.1", dst: "239.1.1.1", frag: 0x0010, upper: wireV2Report}.bytes(), true},
		{"IPv4 runt", wireIPv4, []byte{0x45, 0, 0, 20}, true},
		{"IPv4 EtherType, version 6", wireIPv4, wireIP6{src: "fe80::1", dst: "ff02::1", proto: 17, upper: make([]byte, 8)}.bytes(), true},
		{"IPv6 runt", wireIPv6, make([]byte, 39), true},
		{"IPv6 UDP", wireIPv6, wireIP6{src: "fe80::1", dst: "ff05::1", proto: 17, upper: make([]byte, 8)}.bytes(), false},
		{"IPv6 ICMPv6 with no type octet", wireIPv6, wireIP6{src: "fe80::1", dst: "ff05::1", proto: 58}.bytes(), true},
		{"IPv6 neighbor solicitation", wireIPv6, wireIP6{src: "fe80::1", dst: "ff02::1:ff00:1", upper: append([]byte{135}, make([]byte, 23)...)}.bytes(), false},
		{"IPv6 EtherType, version 4", wireIPv6, append(wireIP4{src: "10.0.0.1", dst: "239.1.1.1", proto: 17, upper: make([]byte, 8)}.bytes(), make([]byte, 20)...), true},
	} {
		if got := snoop.IsControl(tc.etherType, tc.pkt); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	for _, typ := range []byte{130, 131, 132, 143, 151, 152, 153} {
		pkt := wireIP6{src: "fe80::1", dst: "ff02::16", upper: []byte{typ, 0, 0, 0}}.bytes()
		if !snoop.IsControl(wireIPv6, pkt) {
			t.Errorf("ICMPv6 type %d: not control", typ)
		}
	}
	for typ := range 256 {
		pkt := wireIP6{src: "fe80::1", dst: "ff02::16", upper: []byte{byte(typ), 0, 0, 0}}.bytes()
		want := slices.Contains([]int{130, 131, 132, 143, 151, 152, 153}, typ)
		if snoop.IsControl(wireIPv6, pkt) != want {
			t.Errorf("ICMPv6 type %d: IsControl %v", typ, !want)
		}
	}
}

func BenchmarkIsControl(b *testing.B) {
	for _, bc := range []struct {
		name      string
		etherType uint16
		pkt       []byte
	}{
		{"IPv4 UDP", wireIPv4, wireIP4{src: "10.0.0.1", dst: "239.1.1.1", proto: 17, upper: make([]byte, 8)}.bytes()},
		{"IPv6 hop-by-hop MLD", wireIPv6, wireIP6{src: "fe80::1", dst: "ff02::16", nh: 0, ext: wireHopByHopRA(58), upper: wireMLDv1Report(b)}.bytes()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				snoop.IsControl(bc.etherType, bc.pkt)
			}
		})
	}
}
