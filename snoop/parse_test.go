package snoop_test

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/snoopswitch/snoopswitch/internal/testutil"
	"github.com/snoopswitch/snoopswitch/snoop"
)

// This file holds the wire tests' shared helpers (a reference checksum, a
// packet builder, a capture reader) and the tests of Parse as a whole:
// captures, truncation, errors, allocations.

const (
	wireIPv4 = 0x0800
	wireIPv6 = 0x86dd
)

// wireHex decodes hex written with spaces, newlines and comments ("# ..." to
// the end of a line) for layout.
func wireHex(t testing.TB, s string) []byte {
	t.Helper()
	var clean strings.Builder
	for line := range strings.Lines(s) {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		clean.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func wireAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// wireIP4 builds an IPv4 packet. Its header checksum is set, and so is the
// checksum at upper[2:4] (IGMP, PIM) unless keepSum.
type wireIP4 struct {
	src, dst string
	ttl      uint8 // 0 means 1
	opts     []byte
	proto    uint8 // 0 means IGMP
	frag     uint16
	upper    []byte
	keepSum  bool
}

func (p wireIP4) bytes() []byte {
	ttl, proto := p.ttl, p.proto
	if ttl == 0 {
		ttl = 1
	}
	if proto == 0 {
		proto = 2
	}
	upper := slices.Clone(p.upper)
	if !p.keepSum && len(upper) >= 4 {
		upper[2], upper[3] = 0, 0
		binary.BigEndian.PutUint16(upper[2:], testutil.Checksum(upper))
	}
	hl := 20 + len(p.opts)
	b := make([]byte, hl, hl+len(upper))
	b[0] = 0x40 | byte(hl/4)
	b[1] = 0xc0
	binary.BigEndian.PutUint16(b[2:], uint16(hl+len(upper)))
	binary.BigEndian.PutUint16(b[6:], p.frag)
	b[8], b[9] = ttl, proto
	s, d := wireAddr(p.src).As4(), wireAddr(p.dst).As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	copy(b[20:], p.opts)
	binary.BigEndian.PutUint16(b[10:], testutil.Checksum(b[:hl]))
	return append(b, upper...)
}

// wireIP6 builds an IPv6 packet: the header, the extension headers ext as
// given (their next-header fields are the caller's), then upper, whose
// checksum at [2:4] is set with the pseudo-header for proto unless keepSum.
type wireIP6 struct {
	src, dst string
	hops     uint8 // 0 means 1
	nh       uint8 // first next header; ignored when ext is empty
	ext      []byte
	proto    uint8 // 0 means ICMPv6
	upper    []byte
	keepSum  bool
}

func (p wireIP6) bytes() []byte {
	hops, proto, nh := p.hops, p.proto, p.nh
	if hops == 0 {
		hops = 1
	}
	if proto == 0 {
		proto = 58
	}
	if len(p.ext) == 0 {
		nh = proto
	}
	src, dst := wireAddr(p.src).As16(), wireAddr(p.dst).As16()
	upper := slices.Clone(p.upper)
	if !p.keepSum && len(upper) >= 4 {
		upper[2], upper[3] = 0, 0
		var l [4]byte
		binary.BigEndian.PutUint32(l[:], uint32(len(upper)))
		sum := testutil.Checksum(src[:], dst[:], l[:], []byte{0, 0, 0, proto}, upper)
		binary.BigEndian.PutUint16(upper[2:], sum)
	}
	b := make([]byte, 40, 40+len(p.ext)+len(upper))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(p.ext)+len(upper)))
	b[6], b[7] = nh, hops
	copy(b[8:], src[:])
	copy(b[24:], dst[:])
	b = append(b, p.ext...)
	return append(b, upper...)
}

var (
	// wireRA4 is the IPv4 Router Alert option (RFC 2113).
	wireRA4 = []byte{0x94, 4, 0, 0}
)

// wireHopByHopRA is a hop-by-hop header holding Router Alert (MLD), then
// PadN, followed by next.
func wireHopByHopRA(next byte) []byte { return []byte{next, 0, 5, 2, 0, 0, 1, 0} }

// wirePacket is one IP packet from a capture.
type wirePacket struct {
	etherType uint16
	ip        []byte
}

// wireCapture reads the IP packets of testdata/name: Ethernet frames (any
// 802.1Q tags skipped) or raw IPv6.
func wireCapture(t testing.TB, name string) []wirePacket {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var pkts []wirePacket
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		switch r.LinkType() {
		case layers.LinkTypeEthernet:
			et, off := binary.BigEndian.Uint16(data[12:14]), 14
			for et == 0x8100 {
				et, off = binary.BigEndian.Uint16(data[off+2:off+4]), off+4
			}
			pkts = append(pkts, wirePacket{et, data[off:]})
		case layers.LinkTypeIPv6:
			pkts = append(pkts, wirePacket{wireIPv6, data})
		default:
			t.Fatalf("%s: link type %v", name, r.LinkType())
		}
	}
	if len(pkts) == 0 {
		t.Fatalf("%s: no packets", name)
	}
	return pkts
}

// wireReason returns the ParseError reason of err (zero for nil).
func wireReason(t testing.TB, err error) snoop.ParseReason {
	t.Helper()
	if err == nil {
		return 0
	}
	var pe *snoop.ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *snoop.ParseError", err, err)
	}
	if !slices.Contains(snoop.ParseReasons(), pe.Reason) {
		t.Fatalf("error %v: unknown reason %q", err, pe.Reason)
	}
	return pe.Reason
}

// wireParse parses and checks Parse's contract on errors: a *ParseError with
// a known reason, and m left zero.
func wireParse(t testing.TB, etherType uint16, ip []byte, m *snoop.Message) snoop.ParseReason {
	t.Helper()
	err := snoop.Parse(etherType, ip, m)
	reason := wireReason(t, err)
	if err != nil && !reflect.DeepEqual(*m, snoop.Message{}) {
		t.Fatalf("Parse failed (%v) but left m = %+v", err, *m)
	}
	return reason
}

// wireRecord is a Record in a form tests write in one line.
func wireRecord(typ snoop.RecordType, group string, sources ...string) snoop.Record {
	r := snoop.Record{Type: typ, Group: wireAddr(group)}
	for _, s := range sources {
		r.Sources = append(r.Sources, wireAddr(s))
	}
	return r
}

func wireRecordsEqual(a, b []snoop.Record) bool {
	return slices.EqualFunc(a, b, func(x, y snoop.Record) bool {
		return x.Type == y.Type && x.Group == y.Group && slices.Equal(x.Sources, y.Sources)
	})
}

func wireQueryEqual(a, b snoop.Query) bool {
	return a.Version == b.Version && a.Group == b.Group && slices.Equal(a.Sources, b.Sources) &&
		a.MaxResp == b.MaxResp && a.SFlag == b.SFlag && a.QRV == b.QRV && a.QQI == b.QQI
}

// wireSummary is what tests assert of a decoded message.
type wireSummary struct {
	Type     snoop.MessageType
	Src, Dst string
	TTL      uint8
	RA       bool
	Group    string // reports, leave, done
}

func wireSummarize(m *snoop.Message) wireSummary {
	s := wireSummary{Type: m.Type, Src: m.Src.String(), Dst: m.Dst.String(), TTL: m.TTL, RA: m.RouterAlert}
	if m.Group.IsValid() {
		s.Group = m.Group.String()
	}
	return s
}

func TestCaptureIGMP(t *testing.T) {
	// igmp.pcap: a Linux host's IGMPv3 joins of SSDP, then IGMPv2 reports
	// and leaves for mDNS, every packet with Router Alert and TTL 1.
	pkts := wireCapture(t, "igmp.pcap")
	v3 := wireSummary{Type: snoop.MsgIGMPv3Report, Src: "192.168.1.150", Dst: "224.0.0.22", TTL: 1, RA: true}
	v2 := wireSummary{Type: snoop.MsgIGMPv2Report, Src: "192.168.1.222", Dst: "224.0.0.251", TTL: 1, RA: true, Group: "224.0.0.251"}
	leave := wireSummary{Type: snoop.MsgIGMPv2Leave, Src: "192.168.1.222", Dst: "224.0.0.2", TTL: 1, RA: true, Group: "224.0.0.251"}
	want := []wireSummary{v3, v3, v3, v3, v2, v2, leave, v2, v2, v2, leave, v2}
	if len(pkts) != len(want) {
		t.Fatalf("%d packets, want %d", len(pkts), len(want))
	}
	var m snoop.Message
	for i, p := range pkts {
		if r := wireParse(t, p.etherType, p.ip, &m); r != 0 {
			t.Fatalf("packet %d: %s", i, r)
		}
		if got := wireSummarize(&m); got != want[i] {
			t.Errorf("packet %d: %+v, want %+v", i, got, want[i])
		}
		if m.Type == snoop.MsgIGMPv3Report {
			wantRecs := []snoop.Record{wireRecord(snoop.ChangeToExclude, "239.255.255.250")}
			if !wireRecordsEqual(m.Records, wantRecs) {
				t.Errorf("packet %d: records %v, want %v", i, m.Records, wantRecs)
			}
		}
		if !snoop.IsControl(p.etherType, p.ip) {
			t.Errorf("packet %d: IsControl false", i)
		}
	}
}

func TestCaptureIGMPBadChecksum(t *testing.T) {
	// The same traffic as igmp.pcap, but the fifth packet's IGMP checksum
	// is one off (tcpdump: "bad igmp cksum 905!").
	pkts := wireCapture(t, "igmp-bad-checksum.pcap")
	var m snoop.Message
	for i, p := range pkts {
		r := wireParse(t, p.etherType, p.ip, &m)
		var want snoop.ParseReason
		if i == 4 {
			want = snoop.ReasonBadChecksum
		}
		if r != want {
			t.Errorf("packet %d: reason %q, want %q", i, r, want)
		}
	}
}

func TestCaptureIGMPManyGroups(t *testing.T) {
	// 450 IGMPv2 reports without Router Alert: three hosts, 150 groups.
	pkts := wireCapture(t, "igmp-many-groups.pcap")
	if len(pkts) != 450 {
		t.Fatalf("%d packets, want 450", len(pkts))
	}
	groups := map[netip.Addr]int{}
	hosts := map[netip.Addr]int{}
	var m snoop.Message
	for i, p := range pkts {
		if r := wireParse(t, p.etherType, p.ip, &m); r != 0 {
			t.Fatalf("packet %d: %s", i, r)
		}
		if m.Type != snoop.MsgIGMPv2Report || m.RouterAlert || m.Dst != m.Group || m.TTL != 1 {
			t.Fatalf("packet %d: %+v", i, wireSummarize(&m))
		}
		groups[m.Group]++
		hosts[m.Src]++
	}
	if len(groups) != 150 || len(hosts) != 3 {
		t.Errorf("%d groups, %d hosts; want 150, 3", len(groups), len(hosts))
	}
	for g, n := range groups {
		if n != 3 || !netip.MustParsePrefix("239.0.0.0/24").Contains(g) {
			t.Errorf("group %v: %d reports", g, n)
		}
	}
}

func TestCaptureIGMPManySources(t *testing.T) {
	// 150 hosts report 239.1.1.1 with IGMPv2, without Router Alert.
	pkts := wireCapture(t, "igmp-many-sources.pcap")
	hosts := map[netip.Addr]bool{}
	var m snoop.Message
	for i, p := range pkts {
		if r := wireParse(t, p.etherType, p.ip, &m); r != 0 {
			t.Fatalf("packet %d: %s", i, r)
		}
		if m.Type != snoop.MsgIGMPv2Report || m.Group != wireAddr("239.1.1.1") || m.RouterAlert {
			t.Fatalf("packet %d: %+v", i, wireSummarize(&m))
		}
		hosts[m.Src] = true
	}
	if len(pkts) != 150 || len(hosts) != 150 {
		t.Errorf("%d packets from %d hosts, want 150 from 150", len(pkts), len(hosts))
	}
}

func TestCaptureIGMPv1(t *testing.T) {
	// IGMPv1 queries (8 octets, code 0, no Router Alert, in a frame padded
	// past the IP total length) and IGMPv1 reports (with Router Alert).
	pkts := wireCapture(t, "multicast-igmp-version-membership-query-and-report.pcap")
	if len(pkts) != 16 {
		t.Fatalf("%d packets, want 16", len(pkts))
	}
	var m snoop.Message
	for i, p := range pkts {
		if r := wireParse(t, p.etherType, p.ip, &m); r != 0 {
			t.Fatalf("packet %d: %s", i, r)
		}
		if i%2 == 0 {
			want := wireSummary{Type: snoop.MsgIGMPQuery, Src: "192.168.1.1", Dst: "224.0.0.1", TTL: 1}
			wantQ := snoop.Query{Version: 1, Group: wireAddr("0.0.0.0"), MaxResp: 10 * time.Second}
			if got := wireSummarize(&m); got != want || !wireQueryEqual(m.Query, wantQ) {
				t.Errorf("packet %d: %+v %+v, want %+v %+v", i, got, m.Query, want, wantQ)
			}
		} else {
			want := wireSummary{Type: snoop.MsgIGMPv1Report, Src: "192.168.1.101", Dst: "239.1.1.1", TTL: 1, RA: true, Group: "239.1.1.1"}
			if got := wireSummarize(&m); got != want {
				t.Errorf("packet %d: %+v, want %+v", i, got, want)
			}
		}
	}
}

func TestCaptureHomeNetwork(t *testing.T) {
	// A home router's 22-octet IGMPv3 query and a 22-octet IGMPv3 report,
	// both a valid message followed by zero octets inside the IP payload
	// (tcpdump calls them invalid). RFC 3376 s4.1.10 and s4.2.11: extra
	// octets count in the checksum and are otherwise ignored. Then a
	// two-record report, then mDNS and SSDP data.
	pkts := wireCapture(t, "home-multicast-short.pcap")
	if len(pkts) != 6 {
		t.Fatalf("%d packets, want 6", len(pkts))
	}
	var m snoop.Message

	if r := wireParse(t, pkts[0].etherType, pkts[0].ip, &m); r != 0 {
		t.Fatalf("22-octet query: %s", r)
	}
	wantQ := snoop.Query{Version: 3, Group: wireAddr("0.0.0.0"), MaxResp: 10 * time.Second, QRV: 2, QQI: 125 * time.Second}
	if m.Type != snoop.MsgIGMPQuery || !m.RouterAlert || m.Src != wireAddr("192.168.0.1") || !wireQueryEqual(m.Query, wantQ) {
		t.Errorf("22-octet query: %+v %+v, want %+v", wireSummarize(&m), m.Query, wantQ)
	}

	if r := wireParse(t, pkts[1].etherType, pkts[1].ip, &m); r != 0 {
		t.Fatalf("22-octet report: %s", r)
	}
	want := []snoop.Record{wireRecord(snoop.ModeIsExclude, "224.0.0.251")}
	if m.Type != snoop.MsgIGMPv3Report || m.Src != wireAddr("192.168.0.26") || !wireRecordsEqual(m.Records, want) {
		t.Errorf("22-octet report: %+v %v, want %v", wireSummarize(&m), m.Records, want)
	}

	if r := wireParse(t, pkts[2].etherType, pkts[2].ip, &m); r != 0 {
		t.Fatalf("two-record report: %s", r)
	}
	want = []snoop.Record{
		wireRecord(snoop.ModeIsExclude, "239.255.255.250"),
		wireRecord(snoop.ModeIsExclude, "224.0.0.251"),
	}
	if m.Type != snoop.MsgIGMPv3Report || !wireRecordsEqual(m.Records, want) {
		t.Errorf("two-record report: %+v %v, want %v", wireSummarize(&m), m.Records, want)
	}

	for i, p := range pkts[3:] {
		if snoop.IsControl(p.etherType, p.ip) {
			t.Errorf("data packet %d: IsControl true", i+3)
		}
		if r := wireParse(t, p.etherType, p.ip, &m); r != snoop.ReasonBadIP {
			t.Errorf("data packet %d: Parse reason %q, want bad-ip", i+3, r)
		}
	}
}

func TestCaptureMLDv1(t *testing.T) {
	// MLDv1 report and done for a solicited-node group, first without a
	// hop-by-hop header, then with one holding Router Alert and PadN.
	pkts := wireCapture(t, "icmp6-mldv1.pcap")
	base := wireSummary{Src: "fe80::1c8c:7488:34cf:cbdb", Dst: "ff02::1:ff9a:3b7c", TTL: 1, Group: "ff02::1:ff9a:3b7c"}
	var want []wireSummary
	for _, ra := range []bool{false, true} {
		for _, typ := range []snoop.MessageType{snoop.MsgMLDv1Report, snoop.MsgMLDv1Done} {
			w := base
			w.Type, w.RA = typ, ra
			want = append(want, w)
		}
	}
	if len(pkts) != len(want) {
		t.Fatalf("%d packets, want %d", len(pkts), len(want))
	}
	var m snoop.Message
	for i, p := range pkts {
		if r := wireParse(t, p.etherType, p.ip, &m); r != 0 {
			t.Fatalf("packet %d: %s", i, r)
		}
		if got := wireSummarize(&m); got != want[i] || m.Family != 6 {
			t.Errorf("packet %d: %+v, want %+v", i, got, want[i])
		}
		if !snoop.IsControl(p.etherType, p.ip) {
			t.Errorf("packet %d: IsControl false", i)
		}
	}
}

func TestCaptureMLDv2(t *testing.T) {
	// Raw IPv6 link type. Crafted MLDv2 reports: four records of four types;
	// no records; a record claiming 3 sources with room for 2 (tcpdump:
	// "invalid number of sources"); a record with 2 words of aux data,
	// skipped; a record claiming 2 words of aux data that are not there
	// (tcpdump does not notice: it never reads aux data).
	pkts := wireCapture(t, "icmp6-mldv2.pcap")
	h1, h2 := "fe80::f16d:891:6486", "fe80::794d:737e:8532"
	cases := []struct {
		src    string
		reason snoop.ParseReason
		recs   []snoop.Record
	}{
		{src: h1, recs: []snoop.Record{
			wireRecord(snoop.ModeIsInclude, "ff02::480e:413c", h1, h2),
			wireRecord(snoop.ModeIsExclude, "ff02::e785:33ce", h1),
			wireRecord(snoop.ChangeToInclude, "ff02::3c05:cd57"),
			wireRecord(snoop.ChangeToExclude, "ff02::a8c9:5e9c", h2),
		}},
		{src: h2, recs: nil},
		{reason: snoop.ReasonBadLength},
		{src: "fe80::4e56:e0aa:955f", recs: []snoop.Record{wireRecord(snoop.ModeIsExclude, "ff02::d4a4:fca", h1)}},
		{reason: snoop.ReasonBadLength},
	}
	if len(pkts) != len(cases) {
		t.Fatalf("%d packets, want %d", len(pkts), len(cases))
	}
	var m snoop.Message
	for i, c := range cases {
		p := pkts[i]
		if !snoop.IsControl(p.etherType, p.ip) {
			t.Errorf("packet %d: IsControl false", i)
		}
		if r := wireParse(t, p.etherType, p.ip, &m); r != c.reason {
			t.Errorf("packet %d: reason %q, want %q", i, r, c.reason)
			continue
		}
		if c.reason != 0 {
			continue
		}
		want := wireSummary{Type: snoop.MsgMLDv2Report, Src: c.src, Dst: "ff02::16", TTL: 64}
		if got := wireSummarize(&m); got != want || !wireRecordsEqual(m.Records, c.recs) {
			t.Errorf("packet %d: %+v %v, want %+v %v", i, got, m.Records, want, c.recs)
		}
	}
}

func TestCaptureMLDQuery(t *testing.T) {
	// An MLDv1 general query (24 octets) from a global address, with a
	// hop-by-hop Router Alert. RFC 3810 s5.1.14 says to discard queries
	// from sources that are not link-local: Parse decodes and reports the
	// source, and the guard decides.
	pkts := wireCapture(t, "icmp6-mld-query.pcap")
	var m snoop.Message
	if r := wireParse(t, pkts[0].etherType, pkts[0].ip, &m); r != 0 {
		t.Fatal(r)
	}
	want := wireSummary{Type: snoop.MsgMLDQuery, Src: "2001:db8::527:cdf4", Dst: "ff02::1", TTL: 1, RA: true}
	wantQ := snoop.Query{Version: 1, Group: wireAddr("::"), MaxResp: 10 * time.Second}
	if got := wireSummarize(&m); got != want || !wireQueryEqual(m.Query, wantQ) || !m.Query.IsGeneral() {
		t.Errorf("%+v %+v, want %+v %+v", got, m.Query, want, wantQ)
	}
	if m.Src.IsLinkLocalUnicast() {
		t.Error("source reported as link-local")
	}
}

// wireReport3 is an IGMPv3 report of 10 records with 2 sources each, the
// first record with aux data, as IP packet.
func wireReport3(t testing.TB) []byte {
	t.Helper()
	b := wireHex(t, "22 00 0000 0000 000a")
	for i := range 10 {
		aux := 0
		if i == 0 {
			aux = 1
		}
		rec := []byte{byte(i%6 + 1), byte(aux), 0, 2, 239, 1, 0, byte(i), 10, 0, 0, byte(i), 10, 0, 1, byte(i)}
		b = append(b, rec...)
		b = append(b, make([]byte, 4*aux)...)
	}
	return wireIP4{src: "10.0.0.9", dst: "224.0.0.22", opts: wireRA4, upper: b}.bytes()
}

// wireReport6 is an MLDv2 report of 3 records (1 source, 0 sources with 1
// word of aux data, 2 sources), as IP packet with a hop-by-hop Router Alert.
func wireReport6(t testing.TB) []byte {
	t.Helper()
	upper := wireHex(t, `
		8f 00 0000 0000 0003
		01 00 0001 ff05 0000 0000 0000 0000 0000 0001 0001  2001 0db8 0000 0000 0000 0000 0000 0001
		04 01 0000 ff05 0000 0000 0000 0000 0000 0001 0002  aaaa aaaa
		06 00 0002 ff3e 0000 0000 0000 0000 0000 8000 0001  2001 0db8 0000 0000 0000 0000 0000 0002
		                                                    2001 0db8 0000 0000 0000 0000 0000 0003`)
	return wireIP6{src: "fe80::9", dst: "ff02::16", nh: 0, ext: wireHopByHopRA(58), upper: upper}.bytes()
}

func TestReportsDecode(t *testing.T) {
	var m snoop.Message
	if r := wireParse(t, wireIPv4, wireReport3(t), &m); r != 0 {
		t.Fatal(r)
	}
	if m.Type != snoop.MsgIGMPv3Report || len(m.Records) != 10 {
		t.Fatalf("%v with %d records", m.Type, len(m.Records))
	}
	for i, r := range m.Records {
		want := wireRecord(snoop.RecordType(i%6+1), fmt.Sprintf("239.1.0.%d", i), fmt.Sprintf("10.0.0.%d", i), fmt.Sprintf("10.0.1.%d", i))
		if !wireRecordsEqual([]snoop.Record{r}, []snoop.Record{want}) {
			t.Errorf("record %d: %v, want %v", i, r, want)
		}
	}

	if r := wireParse(t, wireIPv6, wireReport6(t), &m); r != 0 {
		t.Fatal(r)
	}
	want := []snoop.Record{
		wireRecord(snoop.ModeIsInclude, "ff05::1:1", "2001:db8::1"),
		wireRecord(snoop.ChangeToExclude, "ff05::1:2"),
		wireRecord(snoop.BlockOldSources, "ff3e::8000:1", "2001:db8::2", "2001:db8::3"),
	}
	if m.Type != snoop.MsgMLDv2Report || !m.RouterAlert || !wireRecordsEqual(m.Records, want) {
		t.Errorf("%+v %v, want %v", wireSummarize(&m), m.Records, want)
	}
}

// Every prefix of a valid report is rejected, never decoded to fewer records:
// cut as it comes (the IP length no longer matches), and cut with the IP
// length and checksums made consistent, so that only the record and source
// counts can tell.
func TestTruncatedReports(t *testing.T) {
	for _, tc := range []struct {
		name      string
		etherType uint16
		pkt       []byte
		hdr       int // IP and extension headers
	}{
		{"IGMPv3", wireIPv4, wireReport3(t), 24},
		{"MLDv2", wireIPv6, wireReport6(t), 48},
		{"MLDv2 capture", wireIPv6, wireCapture(t, "icmp6-mldv2.pcap")[0].ip, 40},
		{"IGMPv3 capture", wireIPv4, wireCapture(t, "igmp.pcap")[0].ip, 24},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m snoop.Message
			if r := wireParse(t, tc.etherType, tc.pkt, &m); r != 0 {
				t.Fatalf("whole packet: %s", r)
			}
			for n := range len(tc.pkt) {
				r := wireParse(t, tc.etherType, tc.pkt[:n], &m)
				if r != snoop.ReasonBadLength && r != snoop.ReasonBadChecksum {
					t.Errorf("raw prefix %d: reason %q", n, r)
				}
			}
			for n := tc.hdr; n < len(tc.pkt); n++ {
				p := slices.Clone(tc.pkt[:n])
				upper := p[tc.hdr:]
				if tc.etherType == wireIPv4 {
					binary.BigEndian.PutUint16(p[2:], uint16(n))
					p[10], p[11] = 0, 0
					binary.BigEndian.PutUint16(p[10:], testutil.Checksum(p[:tc.hdr]))
					if len(upper) >= 4 {
						upper[2], upper[3] = 0, 0
						binary.BigEndian.PutUint16(upper[2:], testutil.Checksum(upper))
					}
				} else {
					binary.BigEndian.PutUint16(p[4:], uint16(n-40))
					if len(upper) >= 4 {
						upper[2], upper[3] = 0, 0
						var l [4]byte
						binary.BigEndian.PutUint32(l[:], uint32(len(upper)))
						binary.BigEndian.PutUint16(upper[2:], testutil.Checksum(p[8:40], l[:], []byte{0, 0, 0, 58}, upper))
					}
				}
				if r := wireParse(t, tc.etherType, p, &m); r != snoop.ReasonBadLength {
					t.Errorf("consistent prefix %d: reason %q, want bad-length", n, r)
				}
			}
		})
	}
}

// A record count one larger than the records present fails the whole report.
func TestRecordCountBeyondPayload(t *testing.T) {
	p4 := wireReport3(t)
	p4[24+7]++ // 11 records announced, 10 present
	p4 = wireIP4{src: "10.0.0.9", dst: "224.0.0.22", opts: wireRA4, upper: p4[24:]}.bytes()
	p6 := wireReport6(t)
	p6[48+7]++
	p6 = wireIP6{src: "fe80::9", dst: "ff02::16", ext: wireHopByHopRA(58), upper: p6[48:]}.bytes()
	var m snoop.Message
	if r := wireParse(t, wireIPv4, p4, &m); r != snoop.ReasonBadLength {
		t.Errorf("IGMPv3: reason %q, want bad-length", r)
	}
	if r := wireParse(t, wireIPv6, p6, &m); r != snoop.ReasonBadLength {
		t.Errorf("MLDv2: reason %q, want bad-length", r)
	}
}

// A failed Parse after a good one leaves nothing of the good one behind, and
// a good one after a failure starts from scratch.
func TestParseErrorZeroesMessage(t *testing.T) {
	var m snoop.Message
	good := wireReport3(t)
	bad := slices.Clone(good)
	bad[len(bad)-1] ^= 0xff // IGMP checksum
	if r := wireParse(t, wireIPv4, good, &m); r != 0 {
		t.Fatal(r)
	}
	if r := wireParse(t, wireIPv4, bad, &m); r != snoop.ReasonBadChecksum {
		t.Fatalf("reason %q, want bad-checksum", r)
	}
	if r := wireParse(t, wireIPv4, good, &m); r != 0 || len(m.Records) != 10 {
		t.Fatalf("after an error: %q, %d records", r, len(m.Records))
	}
	err := snoop.Parse(0x0806, good, &m)
	if r := wireReason(t, err); r != snoop.ReasonBadIP || !reflect.DeepEqual(m, snoop.Message{}) {
		t.Errorf("ARP EtherType: %q, m %+v", r, m)
	}
	if !strings.HasPrefix(err.Error(), "snoop: bad-ip: ") || errors.Unwrap(err) == nil {
		t.Errorf("error text %q, cause %v", err, errors.Unwrap(err))
	}
}

// A message of another type after a report leaves no records, group or query
// behind, though Parse reuses the arrays.
func TestParseReuseClearsFields(t *testing.T) {
	var m snoop.Message
	if r := wireParse(t, wireIPv4, wireReport3(t), &m); r != 0 {
		t.Fatal(r)
	}
	q, err := snoop.AppendIGMPQuery(nil, wireAddr("10.0.0.1"), snoop.Query{Version: 3, Group: wireAddr("239.1.1.1"),
		Sources: []netip.Addr{wireAddr("10.9.9.9")}, MaxResp: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r := wireParse(t, wireIPv4, q, &m); r != 0 {
		t.Fatal(r)
	}
	if len(m.Records) != 0 || m.Group.IsValid() || len(m.Query.Sources) != 1 {
		t.Errorf("query after report: %d records, group %v, %d sources", len(m.Records), m.Group, len(m.Query.Sources))
	}
	if r := wireParse(t, wireIPv4, wireCapture(t, "igmp.pcap")[4].ip, &m); r != 0 {
		t.Fatal(r)
	}
	if len(m.Records) != 0 || m.Query.Version != 0 || len(m.Query.Sources) != 0 || m.Type != snoop.MsgIGMPv2Report {
		t.Errorf("v2 report after query: %+v", m)
	}
	// Reports with fewer records, then fewer sources, reuse what is there.
	if r := wireParse(t, wireIPv4, wireReport3(t), &m); r != 0 {
		t.Fatal(r)
	}
	if r := wireParse(t, wireIPv4, wireCapture(t, "igmp.pcap")[0].ip, &m); r != 0 {
		t.Fatal(r)
	}
	if len(m.Records) != 1 || len(m.Records[0].Sources) != 0 {
		t.Errorf("1-record report after a 10-record one: %v", m.Records)
	}
}

// wireAllocPackets are the packets whose steady-state Parse must not
// allocate: every capture packet and the crafted reports.
func wireAllocPackets(t testing.TB) []wirePacket {
	var pkts []wirePacket
	for _, name := range []string{"igmp.pcap", "igmp-bad-checksum.pcap", "home-multicast-short.pcap",
		"multicast-igmp-version-membership-query-and-report.pcap", "icmp6-mldv1.pcap", "icmp6-mldv2.pcap",
		"icmp6-mld-query.pcap"} {
		pkts = append(pkts, wireCapture(t, name)...)
	}
	return append(pkts, wirePacket{wireIPv4, wireReport3(t)}, wirePacket{wireIPv6, wireReport6(t)})
}

func TestParseAllocs(t *testing.T) {
	for i, p := range wireAllocPackets(t) {
		var m snoop.Message
		snoop.Parse(p.etherType, p.ip, &m) // warm up: grow m's arrays
		if n := testing.AllocsPerRun(100, func() { snoop.Parse(p.etherType, p.ip, &m) }); n != 0 {
			t.Errorf("packet %d: Parse allocates %v times", i, n)
		}
		if n := testing.AllocsPerRun(100, func() { snoop.IsControl(p.etherType, p.ip) }); n != 0 {
			t.Errorf("packet %d: IsControl allocates %v times", i, n)
		}
	}
}

// Rejecting a packet allocates nothing either: a flood of malformed packets
// costs no garbage.
func TestParseErrorAllocs(t *testing.T) {
	bad := wireReport3(t)
	bad[len(bad)-1] ^= 0xff
	var m snoop.Message
	if n := testing.AllocsPerRun(100, func() { snoop.Parse(wireIPv4, bad, &m) }); n != 0 {
		t.Errorf("Parse of a bad packet allocates %v times", n)
	}
}

func BenchmarkParseIGMPv3Report10(b *testing.B) {
	pkt := wireReport3(b)
	var m snoop.Message
	if err := snoop.Parse(wireIPv4, pkt, &m); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if err := snoop.Parse(wireIPv4, pkt, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseMLDv2Report(b *testing.B) {
	pkt := wireReport6(b)
	var m snoop.Message
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if err := snoop.Parse(wireIPv6, pkt, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseReasonNames pins the counter names: they appear in show, metrics
// and replay output, and the switch counts drops under the same names.
func TestParseReasonNames(t *testing.T) {
	var got []string
	for _, r := range snoop.ParseReasons() {
		got = append(got, r.String())
	}
	want := []string{"bad-checksum", "bad-length", "bad-ip", "bad-type"}
	if !slices.Equal(got, want) {
		t.Errorf("ParseReasons names %q, want %q", got, want)
	}
	if s := snoop.ParseReason(0).String(); s != "" {
		t.Errorf("zero ParseReason is %q, want \"\"", s)
	}
}
