package snoop_test

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/snoopswitch/snoopswitch/internal/testutil"
	"github.com/snoopswitch/snoopswitch/snoop"
)

// wireCaptureSeeds names what each capture brings to the fuzzers.
var wireCaptureSeeds = []struct{ file, covers string }{
	{"igmp.pcap", "IGMPv3 TO_EX report and IGMPv2 report/leave, IPv4 Router Alert"},
	{"igmp-bad-checksum.pcap", "an IGMPv2 report whose checksum is one off"},
	{"home-multicast-short.pcap", "22-octet IGMPv3 query and report with trailing octets; UDP data"},
	{"multicast-igmp-version-membership-query-and-report.pcap", "IGMPv1 query padded past the total length; IGMPv1 report"},
	{"icmp6-mldv1.pcap", "MLDv1 report/done with and without a hop-by-hop Router Alert"},
	{"icmp6-mldv2.pcap", "MLDv2 records of four types, aux data, a source count and an aux length beyond the payload"},
	{"icmp6-mld-query.pcap", "MLDv1 query from a global source, hop-by-hop Router Alert with PadN"},
}

// wireFuzzSeeds adds the golden queries, the captures and crafted edge cases,
// each as it is (fix false) and with its lengths and checksums made right by
// wireFixup (fix true).
func wireFuzzSeeds(f *testing.F) {
	add := func(v6 bool, b []byte) {
		f.Add(v6, false, b)
		f.Add(v6, true, b)
	}
	// Every query the switch sends (encode_test.go).
	for _, g := range wireGoldens {
		add(!wireAddr(g.src).Is4(), wireHex(f, g.hex))
	}
	for _, c := range wireCaptureSeeds {
		for _, p := range wireCapture(f, c.file) {
			add(p.etherType == wireIPv6, p.ip)
		}
	}
	mld := wireMLDv1Report(f)
	seed6 := func(exts ...wireExt) []byte {
		nh, ext := wireChain(58, exts...)
		return wireIP6{src: "fe80::1", dst: "ff05::1:3", nh: nh, ext: ext, upper: mld}.bytes()
	}
	// A 10-record IGMPv3 report, the first record with aux data.
	add(false, wireReport3(f))
	// An MLDv2 report behind a hop-by-hop header, a record with aux data.
	add(true, wireReport6(f))
	// The longest extension-header chain walked: 8 destination options.
	add(true, seed6(slices.Repeat([]wireExt{wireDest}, 8)...))
	// One header too many.
	add(true, seed6(slices.Repeat([]wireExt{wireDest}, 9)...))
	// Hop-by-hop after another header.
	add(true, seed6(wireDest, wireHBH))
	// First and later fragments of MLD.
	add(true, seed6(wireFrag0))
	add(true, seed6(wireFrag8))
	// Authentication header (its length in 4-octet units) and routing with
	// segments left.
	add(true, seed6(wireHBH, wireAH))
	add(true, seed6(wireRouting1))
	// Hop-by-hop option running past its header.
	add(true, seed6(wireHBHOver))
	// IPv6 payload length 0 (jumbogram).
	jumbo := seed6(wireHBH)
	jumbo[4], jumbo[5] = 0, 0
	add(true, jumbo)
	// PIM hellos over IPv4 and IPv6 (pseudo-header checksum), and a PIM
	// join/prune.
	hello := wireHex(f, "20 00 0000 0001 0002 0069")
	add(false, wireIP4{src: "10.0.0.1", dst: "224.0.0.13", proto: 103, upper: hello}.bytes())
	add(true, wireIP6{src: "fe80::1", dst: "ff02::d", proto: 103, upper: hello}.bytes())
	add(false, wireIP4{src: "10.0.0.1", dst: "224.0.0.13", proto: 103, upper: wireHex(f, "23 00 0000 01 00 0a000001")}.bytes())
	// MRD advertisement over IPv4 and solicitation over IPv6.
	add(false, wireIP4{src: "10.0.0.1", dst: "224.0.0.106", opts: wireRA4, upper: wireHex(f, "30 14 0000 007d 0002")}.bytes())
	add(true, wireIP6{src: "fe80::1", dst: "ff02::2", nh: 0, ext: wireHopByHopRA(58), upper: wireHex(f, "98 00 0000")}.bytes())
	// The longest IPv4 header: IHL 15, NOPs around the Router Alert.
	opts := slices.Repeat([]byte{1}, 40)
	copy(opts[20:], wireRA4)
	add(false, wireIP4{src: "10.0.0.1", dst: "239.1.1.1", opts: opts, upper: wireV2Report}.bytes())
	// IPv4 fragment of IGMP.
	add(false, wireIP4{src: "10.0.0.1", dst: "239.1.1.1", frag: 0x2000, upper: wireV2Report}.bytes())
	// A query of 10 octets, no version's length.
	add(false, wireIP4{src: "10.0.0.1", dst: "224.0.0.1", upper: wireHex(f, "11 64 0000 00000000 0000")}.bytes())
	// mtrace, an IGMP type flooded as unknown.
	add(false, wireIP4{src: "10.0.0.1", dst: "224.0.0.2", upper: wireHex(f, "1f 01 0000 ef010101 0a000001 0a000002 0a000003 00000000")}.bytes())
	// ICMPv6 echo to a group: not control.
	add(true, wireIP6{src: "fe80::1", dst: "ff02::1", upper: wireHex(f, "80 00 0000 1234 0001")}.bytes())
	// An IGMPv3 report with an unknown record type.
	add(false, wireIP4{src: "10.0.0.1", dst: "224.0.0.22", upper: wireHex(f, "22 00 0000 0000 0002 07 00 0000 ef010101 01 00 0000 ef010102")}.bytes())
	// IGMP behind an IPv6 routing header: not control (IGMP is IPv4's).
	add(true, wireIP6{src: "fe80::1", dst: "ff02::16", nh: 43, ext: []byte{2, 0, 0, 0, 0, 0, 0, 0}, proto: 2, upper: wireV2Report}.bytes())
	// Runts.
	add(false, []byte{0x45})
	add(true, []byte{0x60, 0, 0, 0})
}

// wireFixup returns a copy of data with its IP length field, its IPv4 header
// checksum and its IGMP, ICMPv6 or PIM checksum made right where it can find
// them, so that the fuzzer gets past the checks a random mutation fails and
// reaches the message bodies.
func wireFixup(v6 bool, data []byte) []byte {
	b := slices.Clone(data)
	if !v6 {
		if len(b) < 20 || b[0]>>4 != 4 {
			return b
		}
		hl := int(b[0]&0x0f) * 4
		if hl < 20 || hl > len(b) || len(b) > 0xffff {
			return b
		}
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		b[10], b[11] = 0, 0
		binary.BigEndian.PutUint16(b[10:], testutil.Checksum(b[:hl]))
		if up := b[hl:]; len(up) >= 4 && (b[9] == 2 || b[9] == 103) {
			up[2], up[3] = 0, 0
			binary.BigEndian.PutUint16(up[2:], testutil.Checksum(up))
		}
		return b
	}
	if len(b) < 40 || b[0]>>4 != 6 || len(b)-40 > 0xffff {
		return b
	}
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
	nh, off := b[6], 40
	for range 16 {
		switch nh {
		case 0, 43, 60, 51:
			if off+2 > len(b) {
				return b
			}
			n := (int(b[off+1]) + 1) * 8
			if nh == 51 {
				n = (int(b[off+1]) + 2) * 4
			}
			nh, off = b[off], off+n
			if off > len(b) {
				return b
			}
		case 58, 103:
			up := b[off:]
			if len(up) < 4 {
				return b
			}
			up[2], up[3] = 0, 0
			var l [4]byte
			binary.BigEndian.PutUint32(l[:], uint32(len(up)))
			binary.BigEndian.PutUint16(up[2:], testutil.Checksum(b[8:40], l[:], []byte{0, 0, 0, nh}, up))
			return b
		default:
			return b
		}
	}
	return b
}

func wireEtherType(v6 bool) uint16 {
	if v6 {
		return wireIPv6
	}
	return wireIPv4
}

// wireIsGroup reports whether a is a group address of the family: 224/4, or
// ff00::/8 (and not IPv4-mapped).
func wireIsGroup(a netip.Addr, v6 bool) bool {
	if v6 {
		return a.Is6() && !a.Is4In6() && a.As16()[0] == 0xff
	}
	return a.Is4() && a.As4()[0]&0xf0 == 0xe0
}

// FuzzParse: Parse never panics; on error m is zero and the error a
// *ParseError with a known reason; on success the message is consistent
// (families, multicast groups, known record types), IsControl agrees, and a
// decoded query re-encodes to a packet that decodes to the same query.
// recordsOf returns records with empty source lists as nil, for comparing.
func recordsOf(recs []snoop.Record) []snoop.Record {
	out := make([]snoop.Record, len(recs))
	for i, r := range recs {
		out[i] = r
		if len(r.Sources) == 0 {
			out[i].Sources = nil
		}
	}
	return out
}

func FuzzParse(f *testing.F) {
	wireFuzzSeeds(f)
	var m, m2 snoop.Message
	f.Fuzz(func(t *testing.T, v6, fix bool, data []byte) {
		et := wireEtherType(v6)
		if fix {
			data = wireFixup(v6, data)
		}
		err := snoop.Parse(et, data, &m)
		if err != nil {
			var pe *snoop.ParseError
			if !errors.As(err, &pe) || !slices.Contains(snoop.ParseReasons(), pe.Reason) {
				t.Fatalf("error %v is not a ParseError with a known reason", err)
			}
			if !reflect.DeepEqual(m, snoop.Message{}) {
				t.Fatalf("error %v left m = %+v", err, m)
			}
			return
		}
		if m.Type != snoop.MsgUnknown && !snoop.IsControl(et, data) {
			t.Fatalf("Parse decodes %v, IsControl says data", m.Type)
		}
		want := 4
		if v6 {
			want = 6
		}
		if m.Family != want || m.Src.Is4() != !v6 || m.Dst.Is4() != !v6 {
			t.Fatalf("family %d, src %v, dst %v", m.Family, m.Src, m.Dst)
		}
		switch m.Type {
		case snoop.MsgIGMPv1Report, snoop.MsgIGMPv2Report, snoop.MsgIGMPv2Leave, snoop.MsgMLDv1Report, snoop.MsgMLDv1Done:
			if !wireIsGroup(m.Group, v6) {
				t.Fatalf("%v for group %v", m.Type, m.Group)
			}
		case snoop.MsgIGMPv3Report, snoop.MsgMLDv2Report:
			for _, r := range m.Records {
				if r.Type < snoop.ModeIsInclude || r.Type > snoop.BlockOldSources || !wireIsGroup(r.Group, v6) {
					t.Fatalf("record %v %v", r.Type, r.Group)
				}
				for _, s := range r.Sources {
					if s.Is4() == v6 {
						t.Fatalf("record %v: source %v", r.Group, s)
					}
				}
			}
			// What the guard forwards after its ACL filtered a report:
			// every report that parses encodes, and parses back the same.
			b, err := snoop.AppendReport(nil, &m)
			if err != nil {
				t.Fatalf("AppendReport of a parsed report: %v", err)
			}
			if err := snoop.Parse(et, b, &m2); err != nil || m2.Type != m.Type || m2.Src != m.Src || m2.Dst != m.Dst ||
				!reflect.DeepEqual(recordsOf(m2.Records), recordsOf(m.Records)) {
				t.Fatalf("AppendReport then Parse: %v, %+v; want %+v", err, m2, m)
			}
		case snoop.MsgIGMPQuery, snoop.MsgMLDQuery:
			if m.Query.Group.Is4() == v6 || (!m.Query.IsGeneral() && !wireIsGroup(m.Query.Group, v6)) {
				t.Fatalf("query for %v", m.Query.Group)
			}
			if m.Src.Is4In6() {
				return // an IPv4-mapped IPv6 source: no MLD query can be sent from it
			}
			var b []byte
			if v6 {
				b, err = snoop.AppendMLDQuery(nil, m.Src, m.Query)
			} else {
				b, err = snoop.AppendIGMPQuery(nil, m.Src, m.Query)
			}
			if err != nil {
				if v6 && len(m.Query.Sources) == (65535-28)/16 {
					return // fits 64 KiB without a hop-by-hop header, not with ours
				}
				t.Fatalf("decoded query %+v does not encode: %v", m.Query, err)
			}
			if err := snoop.Parse(et, b, &m2); err != nil {
				t.Fatalf("re-encoded query does not parse: %v", err)
			}
			if m2.Type != m.Type || m2.Src != m.Src || !wireQueryEqual(m2.Query, m.Query) {
				t.Fatalf("query %+v re-encodes to %+v", m.Query, m2.Query)
			}
		}
	})
}

// FuzzIsControl: IsControl never panics, agrees with Parse (a decoded
// control message is control), and with gopacket: what gopacket decodes as
// IGMP, or as an MLD or MRD ICMPv6 message, is control.
func FuzzIsControl(f *testing.F) {
	wireFuzzSeeds(f)
	var m snoop.Message
	f.Fuzz(func(t *testing.T, v6, fix bool, data []byte) {
		et := wireEtherType(v6)
		if fix {
			data = wireFixup(v6, data)
		}
		ctl := snoop.IsControl(et, data)
		if err := snoop.Parse(et, data, &m); err == nil && m.Type != snoop.MsgUnknown && !ctl {
			t.Fatalf("Parse decodes %v, IsControl says data", m.Type)
		}
		if ctl {
			return
		}
		first := layers.LayerTypeIPv4
		if v6 {
			first = layers.LayerTypeIPv6
		}
		p := gopacket.NewPacket(data, first, gopacket.DecodeOptions{NoCopy: true})
		// gopacket decodes IGMP inside IPv6 too, which no host sends and
		// Parse rejects: only IGMP over IPv4 and ICMPv6 over IPv6 count.
		if !v6 && p.Layer(layers.LayerTypeIGMP) != nil {
			t.Fatal("gopacket decodes IGMP, IsControl says data")
		}
		if icmp, ok := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); v6 && ok {
			switch icmp.TypeCode.Type() {
			case 130, 131, 132, 143, 151, 152, 153:
				t.Fatalf("gopacket decodes ICMPv6 type %d, IsControl says data", icmp.TypeCode.Type())
			}
		}
	})
}
