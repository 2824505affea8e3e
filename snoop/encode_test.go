package snoop_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/testutil"
	"github.com/snoopswitch/snoopswitch/snoop"
)

// wireGolden is a query the switch sends, and its packet written out by hand
// from the layouts of RFC 791/2113 (IPv4 with Router Alert), RFC 2236 s2 and
// RFC 3376 s4.1 (IGMP), RFC 8200/2711 (IPv6, hop-by-hop Router Alert),
// RFC 2710 s3 and RFC 3810 s5.1 (MLD). The checksums in the hex were computed
// apart from this package; TestGoldenChecksums checks them with
// testutil.Checksum.
type wireGolden struct {
	name string
	src  string
	q    snoop.Query
	hex  string
}

var wireGoldens = []wireGolden{
	{
		name: "IGMPv1 general", src: "192.0.2.1",
		q: snoop.Query{Version: 1, MaxResp: 10 * time.Second},
		hex: `46 c0 0020 0000 4000 01 02 4215 c0000201 e0000001 94040000 # IPv4, RA, to 224.0.0.1
		      11 00 eeff 00000000                                       # query, code 0 = v1`,
	},
	{
		name: "IGMPv2 general", src: "192.0.2.1",
		q: snoop.Query{Version: 2, MaxResp: 10 * time.Second},
		hex: `46 c0 0020 0000 4000 01 02 4215 c0000201 e0000001 94040000
		      11 64 ee9b 00000000                                       # max resp 100 tenths`,
	},
	{
		name: "IGMPv2 group-specific", src: "192.0.2.1",
		q: snoop.Query{Version: 2, Group: wireAddr("239.1.2.3"), MaxResp: time.Second},
		hex: `46 c0 0020 0000 4000 01 02 3112 c0000201 ef010203 94040000 # to the group
		      11 0a fdf0 ef010203                                       # max resp 10 tenths`,
	},
	{
		name: "IGMPv3 general", src: "192.0.2.1",
		q: snoop.Query{Version: 3, Group: wireAddr("0.0.0.0"), MaxResp: 10 * time.Second, QRV: 2, QQI: 125 * time.Second},
		hex: `46 c0 0024 0000 4000 01 02 4211 c0000201 e0000001 94040000
		      11 64 ec1e 00000000 02 7d 0000                            # S 0, QRV 2, QQIC 125, no sources`,
	},
	{
		name: "IGMPv3 group-specific", src: "192.0.2.1",
		q: snoop.Query{Version: 3, Group: wireAddr("239.1.2.3"), MaxResp: time.Second, SFlag: true, QRV: 2, QQI: 125 * time.Second},
		hex: `46 c0 0024 0000 4000 01 02 310e c0000201 ef010203 94040000
		      11 0a f373 ef010203 0a 7d 0000                            # S 1, QRV 2`,
	},
	{
		name: "IGMPv3 group-and-source-specific", src: "192.0.2.1",
		q: snoop.Query{Version: 3, Group: wireAddr("232.1.1.1"), Sources: []netip.Addr{wireAddr("10.0.0.1"), wireAddr("10.0.0.2")},
			MaxResp: 20 * time.Second, SFlag: true, QRV: 3, QQI: 256 * time.Second},
		hex: `46 c0 002c 0000 4000 01 02 3908 c0000201 e8010101 94040000
		      11 89 e5de e8010101                # max resp code 1|000|1001: (0x19 << 3) = 200 tenths
		      0b 90 0002                         # S 1, QRV 3, QQIC 1|001|0000: (0x10 << 4) = 256 s, 2 sources
		      0a000001 0a000002`,
	},
	{
		name: "MLDv1 general", src: "fe80::1",
		q: snoop.Query{Version: 1, MaxResp: 10 * time.Second},
		hex: `6c000000 0020 00 01                  # TC 0xc0, payload 32, hop-by-hop, hop limit 1
		      fe800000000000000000000000000001 ff020000000000000000000000000001
		      3a 00 05 02 0000 01 00             # next ICMPv6, Router Alert 0 (MLD), PadN
		      82 00 5917 2710 0000               # max resp delay 10000 ms
		      00000000000000000000000000000000`,
	},
	{
		name: "MLDv1 address-specific", src: "fe80::1",
		q: snoop.Query{Version: 1, Group: wireAddr("ff05::1:3"), MaxResp: time.Second},
		hex: `6c000000 0020 00 01
		      fe800000000000000000000000000001 ff050000000000000000000000010003
		      3a 00 05 02 0000 01 00
		      82 00 7d2f 03e8 0000
		      ff050000000000000000000000010003`,
	},
	{
		name: "MLDv2 general", src: "fe80::1",
		q: snoop.Query{Version: 2, Group: wireAddr("::"), MaxResp: 10 * time.Second, QRV: 2, QQI: 125 * time.Second},
		hex: `6c000000 0024 00 01
		      fe800000000000000000000000000001 ff020000000000000000000000000001
		      3a 00 05 02 0000 01 00
		      82 00 5696 2710 0000               # max resp code 10000 (literal below 32768)
		      00000000000000000000000000000000
		      02 7d 0000`,
	},
	{
		name: "MLDv2 address-specific", src: "fe80::1",
		q: snoop.Query{Version: 2, Group: wireAddr("ff05::1:3"), MaxResp: time.Second, SFlag: true, QRV: 2, QQI: 125 * time.Second},
		hex: `6c000000 0024 00 01
		      fe800000000000000000000000000001 ff050000000000000000000000010003
		      3a 00 05 02 0000 01 00
		      82 00 72ae 03e8 0000
		      ff050000000000000000000000010003
		      0a 7d 0000`,
	},
	{
		name: "MLDv2 address-and-source-specific", src: "fe80::1",
		q: snoop.Query{Version: 2, Group: wireAddr("ff3e::8000:1"), Sources: []netip.Addr{wireAddr("2001:db8::1"), wireAddr("2001:db8::2")},
			MaxResp: 65536 * time.Millisecond, QRV: 7, QQI: 256 * time.Second},
		hex: `6c000000 0044 00 01
		      fe800000000000000000000000000001 ff3e0000000000000000000080000001
		      3a 00 05 02 0000 01 00
		      82 00 8d7e 9000 0000               # max resp code 1|001|0x000: (0x1000 << 4) = 65536 ms
		      ff3e0000000000000000000080000001
		      07 90 0002                         # QRV 7, QQIC 256 s, 2 sources
		      20010db8000000000000000000000001 20010db8000000000000000000000002`,
	},
}

func wireAppendQuery(b []byte, src netip.Addr, q snoop.Query) ([]byte, error) {
	if src.Is4() {
		return snoop.AppendIGMPQuery(b, src, q)
	}
	return snoop.AppendMLDQuery(b, src, q)
}

// The checksums written into the goldens are right by the reference
// implementation, and so are the IP header's lengths.
func TestGoldenChecksums(t *testing.T) {
	for _, g := range wireGoldens {
		b := wireHex(t, g.hex)
		if b[0]>>4 == 4 {
			if s := testutil.Checksum(b[:24]); s != 0 {
				t.Errorf("%s: IPv4 header checksum off by %#04x", g.name, s)
			}
			if s := testutil.Checksum(b[24:]); s != 0 {
				t.Errorf("%s: IGMP checksum off by %#04x", g.name, s)
			}
			if int(binary.BigEndian.Uint16(b[2:])) != len(b) {
				t.Errorf("%s: total length", g.name)
			}
			continue
		}
		var l [4]byte
		binary.BigEndian.PutUint32(l[:], uint32(len(b)-48))
		if s := testutil.Checksum(b[8:40], l[:], []byte{0, 0, 0, 58}, b[48:]); s != 0 {
			t.Errorf("%s: ICMPv6 checksum off by %#04x", g.name, s)
		}
		if int(binary.BigEndian.Uint16(b[4:]))+40 != len(b) {
			t.Errorf("%s: payload length", g.name)
		}
	}
}

// Encode, compare with the golden bytes, parse, compare with the query.
func TestGoldenQueries(t *testing.T) {
	for _, g := range wireGoldens {
		t.Run(g.name, func(t *testing.T) {
			want := wireHex(t, g.hex)
			src := wireAddr(g.src)
			got, err := wireAppendQuery(nil, src, g.q)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encoded\n%s\nwant\n%s", hex.Dump(got), hex.Dump(want))
			}
			etherType := uint16(wireIPv4)
			if !src.Is4() {
				etherType = wireIPv6
			}
			if !snoop.IsControl(etherType, got) {
				t.Error("IsControl false")
			}
			var m snoop.Message
			if r := wireParse(t, etherType, got, &m); r != 0 {
				t.Fatal(r)
			}
			wantQ := g.q
			if !wantQ.Group.IsValid() {
				wantQ.Group = netip.IPv4Unspecified()
				if !src.Is4() {
					wantQ.Group = netip.IPv6Unspecified()
				}
			}
			dst := wantQ.Group
			if wantQ.IsGeneral() {
				dst = wireAddr("224.0.0.1")
				if !src.Is4() {
					dst = wireAddr("ff02::1")
				}
			}
			wantType := snoop.MsgIGMPQuery
			if !src.Is4() {
				wantType = snoop.MsgMLDQuery
			}
			if m.Type != wantType || m.Src != src || m.Dst != dst || m.TTL != 1 || !m.RouterAlert {
				t.Errorf("decoded %+v", wireSummarize(&m))
			}
			if !wireQueryEqual(m.Query, wantQ) {
				t.Errorf("decoded query %+v, want %+v", m.Query, wantQ)
			}
		})
	}
}

// Appending keeps what b held, writes every byte of the new packet even over
// stale capacity, and allocates nothing when b has room.
func TestAppendQueryReusesBuffer(t *testing.T) {
	for _, g := range wireGoldens {
		want := wireHex(t, g.hex)
		buf := bytes.Repeat([]byte{0xa5}, 512)
		b, err := wireAppendQuery(buf[:3], wireAddr(g.src), g.q)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b[:3], []byte{0xa5, 0xa5, 0xa5}) || !bytes.Equal(b[3:], want) {
			t.Errorf("%s: appended over stale bytes: %x", g.name, b)
		}
		if n := testing.AllocsPerRun(50, func() { wireAppendQuery(buf[:0], wireAddr(g.src), g.q) }); n != 0 {
			t.Errorf("%s: %v allocations with room in b", g.name, n)
		}
	}
}

// Intervals the codes cannot express are rounded up to the next one they
// can: a host is never asked to answer sooner than the switch meant.
func TestQueryRounding(t *testing.T) {
	for _, tc := range []struct {
		name         string
		src          string
		q            snoop.Query
		maxResp, qqi time.Duration
	}{
		{name: "IGMPv2 150ms to 2 tenths", src: "10.0.0.1", q: snoop.Query{Version: 2, MaxResp: 150 * time.Millisecond}, maxResp: 200 * time.Millisecond},
		{name: "IGMPv2 1ns to 1 tenth", src: "10.0.0.1", q: snoop.Query{Version: 2, MaxResp: 1}, maxResp: 100 * time.Millisecond},
		{name: "IGMPv3 12.7s literal", src: "10.0.0.1", q: snoop.Query{Version: 3, MaxResp: 12700 * time.Millisecond}, maxResp: 12700 * time.Millisecond},
		{name: "IGMPv3 12.8s first float", src: "10.0.0.1", q: snoop.Query{Version: 3, MaxResp: 12800 * time.Millisecond}, maxResp: 12800 * time.Millisecond},
		{name: "IGMPv3 13s up to 13.6s", src: "10.0.0.1", q: snoop.Query{Version: 3, MaxResp: 13 * time.Second, QQI: 130 * time.Second}, maxResp: 13600 * time.Millisecond, qqi: 136 * time.Second},
		{name: "IGMPv3 QQI 125.5s up to 126s", src: "10.0.0.1", q: snoop.Query{Version: 3, QQI: 125500 * time.Millisecond}, qqi: 126 * time.Second},
		{name: "IGMPv3 largest", src: "10.0.0.1", q: snoop.Query{Version: 3, MaxResp: 3174400 * time.Millisecond, QQI: 31744 * time.Second}, maxResp: 3174400 * time.Millisecond, qqi: 31744 * time.Second},
		{name: "IGMPv3 just above a float step", src: "10.0.0.1", q: snoop.Query{Version: 3, MaxResp: 24900 * time.Millisecond, QQI: 249 * time.Second}, maxResp: 25600 * time.Millisecond, qqi: 256 * time.Second},
		{name: "MLDv1 1.5ms to 2ms", src: "fe80::1", q: snoop.Query{Version: 1, MaxResp: 1500 * time.Microsecond}, maxResp: 2 * time.Millisecond},
		{name: "MLDv2 32.767s literal", src: "fe80::1", q: snoop.Query{Version: 2, MaxResp: 32767 * time.Millisecond}, maxResp: 32767 * time.Millisecond},
		{name: "MLDv2 32.769s up to 32.776s", src: "fe80::1", q: snoop.Query{Version: 2, MaxResp: 32769 * time.Millisecond}, maxResp: 32776 * time.Millisecond},
		{name: "MLDv2 largest", src: "fe80::1", q: snoop.Query{Version: 2, MaxResp: 8387584 * time.Millisecond, QQI: 31744 * time.Second}, maxResp: 8387584 * time.Millisecond, qqi: 31744 * time.Second},
	} {
		b, err := wireAppendQuery(nil, wireAddr(tc.src), tc.q)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var m snoop.Message
		et := uint16(wireIPv4)
		if !wireAddr(tc.src).Is4() {
			et = wireIPv6
		}
		if r := wireParse(t, et, b, &m); r != 0 {
			t.Fatalf("%s: %s", tc.name, r)
		}
		if m.Query.MaxResp != tc.maxResp || m.Query.QQI != tc.qqi {
			t.Errorf("%s: max resp %v, QQI %v; want %v, %v", tc.name, m.Query.MaxResp, m.Query.QQI, tc.maxResp, tc.qqi)
		}
	}
}

// RFC 3376 s4.1.6, RFC 3810 s5.1.8: a robustness above 7 is sent as QRV 0.
func TestQueryQRVAboveSeven(t *testing.T) {
	for _, tc := range []struct {
		src string
		et  uint16
		q   snoop.Query
	}{
		{"10.0.0.1", wireIPv4, snoop.Query{Version: 3, QRV: 8, SFlag: true}},
		{"fe80::1", wireIPv6, snoop.Query{Version: 2, QRV: 8, SFlag: true}},
	} {
		b, err := wireAppendQuery(nil, wireAddr(tc.src), tc.q)
		if err != nil {
			t.Fatal(err)
		}
		var m snoop.Message
		if r := wireParse(t, tc.et, b, &m); r != 0 || m.Query.QRV != 0 || !m.Query.SFlag {
			t.Errorf("%s: %q, QRV %d, S %v; want QRV 0 with S", tc.src, r, m.Query.QRV, m.Query.SFlag)
		}
	}
}

func TestQueryEncodeErrors(t *testing.T) {
	v4, v6 := wireAddr("10.0.0.1"), wireAddr("fe80::1")
	many4 := make([]netip.Addr, 16380)
	for i := range many4 {
		many4[i] = netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
	}
	many6 := make([]netip.Addr, 4094)
	for i := range many6 {
		many6[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 14: byte(i >> 8), 15: byte(i)})
	}
	for _, tc := range []struct {
		name string
		src  netip.Addr
		q    snoop.Query
		want string
	}{
		{"IGMP version 0", v4, snoop.Query{}, "version 0"},
		{"IGMP version 4", v4, snoop.Query{Version: 4}, "version 4"},
		{"IGMP from IPv6", v6, snoop.Query{Version: 2, MaxResp: time.Second}, "not an IPv4 address"},
		{"IGMP from nothing", netip.Addr{}, snoop.Query{Version: 2, MaxResp: time.Second}, "not an IPv4 address"},
		{"IGMP unicast group", v4, snoop.Query{Version: 2, Group: wireAddr("10.1.1.1"), MaxResp: time.Second}, "not an IPv4 multicast"},
		{"IGMP IPv6 group", v4, snoop.Query{Version: 3, Group: wireAddr("ff05::1")}, "not an IPv4 multicast"},
		{"IGMPv1 group-specific", v4, snoop.Query{Version: 1, Group: wireAddr("239.1.1.1")}, "only general"},
		{"IGMPv2 max resp 0 (a v1 query)", v4, snoop.Query{Version: 2}, "outside 100ms..25.5s"},
		{"IGMPv2 max resp 25.6s", v4, snoop.Query{Version: 2, MaxResp: 25600 * time.Millisecond}, "outside 100ms..25.5s"},
		{"IGMPv2 negative max resp", v4, snoop.Query{Version: 2, MaxResp: -time.Second}, "outside"},
		{"IGMPv2 sources", v4, snoop.Query{Version: 2, Group: wireAddr("239.1.1.1"), MaxResp: time.Second, Sources: []netip.Addr{v4}}, "no source-specific"},
		{"IGMPv3 general with sources", v4, snoop.Query{Version: 3, Sources: []netip.Addr{v4}}, "general query has no sources"},
		{"IGMPv3 IPv6 source", v4, snoop.Query{Version: 3, Group: wireAddr("239.1.1.1"), Sources: []netip.Addr{v6}}, "source fe80::1"},
		{"IGMPv3 max resp beyond 3174.4s", v4, snoop.Query{Version: 3, MaxResp: 3174401 * time.Millisecond}, "max resp"},
		{"IGMPv3 negative max resp", v4, snoop.Query{Version: 3, MaxResp: -1}, "max resp"},
		{"IGMPv3 QQI beyond 31744s", v4, snoop.Query{Version: 3, QQI: 31745 * time.Second}, "QQI"},
		{"IGMPv3 negative QQI", v4, snoop.Query{Version: 3, QQI: -time.Second}, "QQI"},
		{"IGMPv3 negative QRV", v4, snoop.Query{Version: 3, QRV: -1}, "QRV"},
		{"IGMPv3 beyond 64 KiB", v4, snoop.Query{Version: 3, Group: wireAddr("239.1.1.1"), Sources: many4}, "do not fit"},
		{"MLD version 3", v6, snoop.Query{Version: 3}, "version 3"},
		{"MLD from IPv4", v4, snoop.Query{Version: 1}, "not an IPv6 address"},
		{"MLD from IPv4-mapped", wireAddr("::ffff:10.0.0.1"), snoop.Query{Version: 1}, "not an IPv6 address"},
		{"MLD IPv4-mapped group", v6, snoop.Query{Version: 1, Group: wireAddr("::ffff:239.1.1.1")}, "not an IPv6 multicast"},
		{"MLD unicast group", v6, snoop.Query{Version: 2, Group: wireAddr("2001:db8::1")}, "not an IPv6 multicast"},
		{"MLDv1 max resp beyond 65.535s", v6, snoop.Query{Version: 1, MaxResp: 65536 * time.Millisecond}, "outside 0..65.535s"},
		{"MLDv1 sources", v6, snoop.Query{Version: 1, Group: wireAddr("ff05::1"), Sources: []netip.Addr{v6}}, "no source-specific"},
		{"MLDv2 general with sources", v6, snoop.Query{Version: 2, Sources: []netip.Addr{v6}}, "general query has no sources"},
		{"MLDv2 IPv4 source", v6, snoop.Query{Version: 2, Group: wireAddr("ff05::1"), Sources: []netip.Addr{v4}}, "source 10.0.0.1"},
		{"MLDv2 max resp beyond 8387.584s", v6, snoop.Query{Version: 2, MaxResp: 8387585 * time.Millisecond}, "max resp"},
		{"MLDv2 negative max resp", v6, snoop.Query{Version: 2, MaxResp: -1}, "max resp"},
		{"MLDv2 QQI beyond 31744s", v6, snoop.Query{Version: 2, QQI: 31745 * time.Second}, "QQI"},
		{"MLDv2 negative QRV", v6, snoop.Query{Version: 2, QRV: -3}, "QRV"},
		{"MLDv2 beyond 64 KiB", v6, snoop.Query{Version: 2, Group: wireAddr("ff05::1"), Sources: many6}, "do not fit"},
	} {
		in := []byte{1, 2, 3}
		var (
			b   []byte
			err error
		)
		if strings.HasPrefix(tc.name, "IGMP") {
			b, err = snoop.AppendIGMPQuery(in, tc.src, tc.q)
		} else {
			b, err = snoop.AppendMLDQuery(in, tc.src, tc.q)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "snoop: ") {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
		if !bytes.Equal(b, in) {
			t.Errorf("%s: b changed to %x on error", tc.name, b)
		}
	}
}

// The largest source lists that fit one packet encode and parse.
func TestQueryLargestSourceLists(t *testing.T) {
	s4 := make([]netip.Addr, (65535-24-12)/4)
	for i := range s4 {
		s4[i] = netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
	}
	s6 := make([]netip.Addr, (65535-8-28)/16)
	for i := range s6 {
		s6[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 14: byte(i >> 8), 15: byte(i)})
	}
	for _, tc := range []struct {
		src netip.Addr
		q   snoop.Query
		et  uint16
	}{
		{wireAddr("10.0.0.1"), snoop.Query{Version: 3, Group: wireAddr("239.1.1.1"), Sources: s4}, wireIPv4},
		{wireAddr("fe80::1"), snoop.Query{Version: 2, Group: wireAddr("ff05::1"), Sources: s6}, wireIPv6},
	} {
		b, err := wireAppendQuery(nil, tc.src, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		var m snoop.Message
		if r := wireParse(t, tc.et, b, &m); r != 0 || !wireQueryEqual(m.Query, tc.q) {
			t.Errorf("%d sources: %q, %d sources back", len(tc.q.Sources), r, len(m.Query.Sources))
		}
	}
}

func TestMulticastMAC(t *testing.T) {
	for _, tc := range []struct {
		group string
		want  string
	}{
		// ARCHITECTURE.md: 32 IPv4 groups share one MAC.
		{"224.1.1.1", "01005e010101"},
		{"225.1.1.1", "01005e010101"},
		{"239.129.1.1", "01005e010101"},
		{"239.255.255.250", "01005e7ffffa"},
		{"224.0.0.251", "01005e0000fb"},
		{"::ffff:239.1.2.3", "01005e010203"},
		{"ff02::1", "333300000001"},
		{"ff02::1:ff9a:3b7c", "3333ff9a3b7c"},
		{"ff3e::8000:1", "333380000001"},
	} {
		got := snoop.MulticastMAC(wireAddr(tc.group))
		if hex.EncodeToString(got[:]) != tc.want {
			t.Errorf("%s: %x, want %s", tc.group, got, tc.want)
		}
	}
	if got := snoop.MulticastMAC(netip.Addr{}); got != [6]byte{} {
		t.Errorf("zero Addr: %x", got)
	}
}

// TestAppendReportMatchesTheWire re-encodes every IGMPv3 and MLDv2 report of
// the captures: the message is the one the host sent, byte for byte, and
// the packet parses back to the same report.
func TestAppendReportMatchesTheWire(t *testing.T) {
	var n int
	for _, name := range []string{"igmp.pcap", "igmp-many-groups.pcap", "igmp-many-sources.pcap", "icmp6-mldv2.pcap",
		"home-multicast-short.pcap", "multicast-igmp-version-membership-query-and-report.pcap"} {
		for i, p := range wireCapture(t, name) {
			var m snoop.Message
			if snoop.Parse(p.etherType, p.ip, &m) != nil || (m.Type != snoop.MsgIGMPv3Report && m.Type != snoop.MsgMLDv2Report) {
				continue
			}
			n++
			b, err := snoop.AppendReport(nil, &m)
			if err != nil {
				t.Fatalf("%s #%d: %v", name, i, err)
			}
			// Some hosts pad the message with zeros within the IP length.
			got, want := wireMessage(b), wireMessage(p.ip)
			if len(want) > len(got) && !bytes.ContainsFunc(want[len(got):], func(r rune) bool { return r != 0 }) {
				want = want[:len(got)]
			}
			if !hasAuxData(want, m.Type == snoop.MsgMLDv2Report) && !bytes.Equal(got, want) {
				t.Errorf("%s #%d: re-encoded\n%x\nwant\n%x", name, i, got, want)
			}
			var back snoop.Message
			if err := snoop.Parse(p.etherType, b, &back); err != nil {
				t.Fatalf("%s #%d: the re-encoded report does not parse: %v", name, i, err)
			}
			if back.Src != m.Src || back.Dst != m.Dst || back.TTL != 1 || !back.RouterAlert || len(back.Records) != len(m.Records) {
				t.Errorf("%s #%d: parsed back as %+v, want %+v", name, i, back, m)
			}
		}
	}
	if n < 5 {
		t.Fatalf("only %d IGMPv3/MLDv2 reports in the captures", n)
	}
}

// wireMessage returns the IGMP or MLD message of an IPv4 or IPv6 packet
// (after one hop-by-hop header, as MLD packets have), without the link
// layer's padding.
func wireMessage(ip []byte) []byte {
	if ip[0]>>4 == 4 {
		return ip[int(ip[0]&0x0f)*4 : binary.BigEndian.Uint16(ip[2:4])]
	}
	b := ip[40 : 40+binary.BigEndian.Uint16(ip[4:6])]
	if ip[6] == 0 {
		b = b[(int(b[1])+1)*8:]
	}
	return b
}

// hasAuxData reports whether a report's records carry auxiliary data, which
// AppendReport leaves out.
func hasAuxData(report []byte, v6 bool) bool {
	addrLen, recordHdr := 4, 8
	if v6 {
		addrLen, recordHdr = 16, 20
	}
	off := 8
	for range binary.BigEndian.Uint16(report[6:8]) {
		aux := int(report[off+1])
		if aux > 0 {
			return true
		}
		off += recordHdr + addrLen*int(binary.BigEndian.Uint16(report[off+2:off+4]))
	}
	return false
}

func TestAppendReportErrors(t *testing.T) {
	for _, m := range []snoop.Message{
		{Type: snoop.MsgIGMPv2Report, Src: wireAddr("198.18.0.1"), Dst: wireAddr("239.1.1.1")},
		{Type: snoop.MsgIGMPv3Report, Src: wireAddr("fe80::1"), Dst: wireAddr("224.0.0.22")},
		{Type: snoop.MsgMLDv2Report, Src: wireAddr("fe80::1"), Dst: wireAddr("ff02::16"),
			Records: []snoop.Record{{Type: snoop.ModeIsInclude, Group: wireAddr("ff0e::1"), Sources: []netip.Addr{wireAddr("198.18.0.1")}}}},
	} {
		if b, err := snoop.AppendReport([]byte{1}, &m); err == nil || len(b) != 1 {
			t.Errorf("AppendReport(%+v) = %x, %v; want an error and b unchanged", m, b, err)
		}
	}
}
