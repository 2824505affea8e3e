package snoop

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"
)

// The Max Resp Code and QQIC codecs.
//
// An 8-bit code (IGMPv3 Max Resp Code, RFC 3376 s4.1.1; IGMPv3 QQIC, s4.1.7;
// MLDv2 QQIC, RFC 3810 s5.1.9) below 128 is the value itself; from 128 it is
// a floating-point number
//
//	 0 1 2 3 4 5 6 7
//	+-+-+-+-+-+-+-+-+
//	|1| exp | mant  |   value = (mant | 0x10) << (exp + 3)
//	+-+-+-+-+-+-+-+-+
//
// The 16-bit MLDv2 Maximum Response Code (RFC 3810 s5.1.3) is the value
// itself below 32768, else 1|exp(3)|mant(12): value = (mant | 0x1000) << (exp + 3).
// Every value has at most one code, so an encoder that picks the smallest
// code whose value is at least the one asked for round-trips exactly whenever
// the value is representable.
const (
	maxCode8Value  = 0x1f << 10   // 31744: exp 7, mant 15
	maxCode16Value = 0x1fff << 10 // 8387584: exp 7, mant 4095
)

// decodeCode8 is the value of an 8-bit Max Resp Code or QQIC.
func decodeCode8(c uint8) uint32 {
	if c < 0x80 {
		return uint32(c)
	}
	exp, mant := (c>>4)&0x07, c&0x0f
	return (uint32(mant) | 0x10) << (exp + 3)
}

// encodeCode8 returns the smallest 8-bit code whose value is at least v; ok
// is false when v is beyond the largest value, 31744.
func encodeCode8(v uint64) (code uint8, ok bool) {
	if v < 0x80 {
		return uint8(v), true
	}
	if v > maxCode8Value {
		return 0, false
	}
	for exp := range uint(8) {
		// Rounding v up to a multiple of 2^(exp+3) gives mant|0x10 >= 0x10,
		// because the exponent below could not hold v.
		if mant := ceilShift(v, exp+3); mant <= 0x1f {
			return 0x80 | uint8(exp)<<4 | uint8(mant&0x0f), true
		}
	}
	panic("unreachable: v <= maxCode8Value fits exponent 7")
}

// decodeCode16 is the value of a 16-bit MLDv2 Maximum Response Code.
func decodeCode16(c uint16) uint32 {
	if c < 0x8000 {
		return uint32(c)
	}
	exp, mant := (c>>12)&0x07, c&0x0fff
	return (uint32(mant) | 0x1000) << (exp + 3)
}

// encodeCode16 returns the smallest 16-bit MLDv2 Maximum Response Code whose
// value is at least v; ok is false beyond the largest value, 8387584.
func encodeCode16(v uint64) (code uint16, ok bool) {
	if v < 0x8000 {
		return uint16(v), true
	}
	if v > maxCode16Value {
		return 0, false
	}
	for exp := range uint(8) {
		if mant := ceilShift(v, exp+3); mant <= 0x1fff {
			return 0x8000 | uint16(exp)<<12 | uint16(mant&0x0fff), true
		}
	}
	panic("unreachable: v <= maxCode16Value fits exponent 7")
}

// ceilShift is v / 2^s rounded up.
func ceilShift(v uint64, s uint) uint64 {
	return (v + 1<<s - 1) >> s
}

// ceilUnits is d in units of unit, rounded up so that the interval encoded is
// never shorter than the one asked for; ok false for a negative d.
func ceilUnits(d, unit time.Duration) (uint64, bool) {
	if d < 0 {
		return 0, false
	}
	n := d / unit
	if d%unit != 0 {
		n++
	}
	return uint64(n), true
}

// encodeDuration8 is the 8-bit code for d in units of unit, rounded up.
func encodeDuration8(d, unit time.Duration) (uint8, bool) {
	n, ok := ceilUnits(d, unit)
	if !ok {
		return 0, false
	}
	return encodeCode8(n)
}

var (
	allSystemsV4 = netip.AddrFrom4([4]byte{224, 0, 0, 1})
	allNodesV6   = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x01})

	errQueryGeneralSources = errors.New("a general query has no sources (set Group for a group-and-source-specific query)")
)

const (
	// queryTOS is DSCP CS6 (network control), as hosts and routers send
	// IGMP; the MLD queries use the same traffic class.
	queryTOS = 0xc0
	// queryTTL: IGMP and MLD messages never leave the link (RFC 3376 s4,
	// RFC 3810 s5).
	queryTTL = 1
	// igmpQueryIPHeaderLen is an IPv4 header with the 4-octet Router Alert
	// option (RFC 3376 s4: every IGMPv3 message carries it).
	igmpQueryIPHeaderLen = ipv4HeaderLen + 4
	// mldQueryHopByHopLen is a hop-by-hop header holding Router Alert (MLD)
	// and a 2-octet PadN (RFC 3810 s5).
	mldQueryHopByHopLen = 8
)

// AppendIGMPQuery appends to b a complete IPv4 packet holding the IGMP query
// q from src, checksums set, and returns the extended slice. The packet has
// the Router Alert option, TTL 1 and DSCP CS6, and goes to 224.0.0.1 for a
// general query or to the group for a group-specific one.
//
// Version 1 is the 8-octet query with Max Resp Code 0 (general only; MaxResp
// is not encoded: v1 hosts answer within 10 s). Version 2 is 8 octets; its
// MaxResp must be 100 ms to 25.5 s (0 would make it a v1 query, RFC 3376
// s7.1). Version 3 is 12 + 4*len(Sources) octets with S, QRV and QQIC; a QRV
// above 7 is sent as 0 (RFC 3376 s4.1.6). MaxResp and QQI are rounded up to
// the next interval the codes can express; one beyond the largest code
// (3174.4 s, 31744 s) is an error. The caller splits long source lists to
// fit the link MTU (366 sources in a 1500-octet packet).
//
// On error b is returned unchanged.
func AppendIGMPQuery(b []byte, src netip.Addr, q Query) ([]byte, error) {
	src = src.Unmap()
	if !src.Is4() {
		return b, fmt.Errorf("snoop: IGMP query source %v is not an IPv4 address", src)
	}
	group, dst := netip.IPv4Unspecified(), allSystemsV4
	if !q.IsGeneral() {
		group = q.Group.Unmap()
		if !group.Is4() || !group.IsMulticast() {
			return b, fmt.Errorf("snoop: IGMP query group %v is not an IPv4 multicast address", q.Group)
		}
		dst = group
	}
	var code, flags, qqic uint8
	igmpLen := igmpV12Len
	switch q.Version {
	case 1:
		if !group.IsUnspecified() || len(q.Sources) > 0 {
			return b, errors.New("snoop: IGMPv1 query: IGMPv1 has only general queries")
		}
	case 2:
		if len(q.Sources) > 0 {
			return b, errors.New("snoop: IGMPv2 query: IGMPv2 has no source-specific queries")
		}
		units, ok := ceilUnits(q.MaxResp, igmpMaxRespUnit)
		if !ok || units == 0 || units > math.MaxUint8 {
			return b, fmt.Errorf("snoop: IGMPv2 query: max resp %v outside 100ms..25.5s", q.MaxResp)
		}
		code = uint8(units)
	case 3:
		if len(q.Sources) > 0 && group.IsUnspecified() {
			return b, fmt.Errorf("snoop: IGMPv3 query: %w", errQueryGeneralSources)
		}
		var ok bool
		if code, ok = encodeDuration8(q.MaxResp, igmpMaxRespUnit); !ok {
			return b, fmt.Errorf("snoop: IGMPv3 query: max resp %v outside 0..3174.4s", q.MaxResp)
		}
		if qqic, ok = encodeDuration8(q.QQI, time.Second); !ok {
			return b, fmt.Errorf("snoop: IGMPv3 query: QQI %v outside 0..31744s", q.QQI)
		}
		if flags, ok = queryFlags(q); !ok {
			return b, fmt.Errorf("snoop: IGMPv3 query: negative QRV %d", q.QRV)
		}
		for _, s := range q.Sources {
			if !s.Unmap().Is4() {
				return b, fmt.Errorf("snoop: IGMPv3 query: source %v is not an IPv4 address", s)
			}
		}
		igmpLen = igmpV3QueryMinLen + 4*len(q.Sources)
	default:
		return b, fmt.Errorf("snoop: IGMP query version %d (want 1, 2 or 3)", q.Version)
	}
	if igmpQueryIPHeaderLen+igmpLen > math.MaxUint16 {
		return b, fmt.Errorf("snoop: IGMPv3 query: %d sources do not fit one IPv4 packet", len(q.Sources))
	}

	b, g := appendIPv4RouterAlert(b, src, dst, igmpLen)
	g[0] = igmpQuery
	g[1] = code
	a4 := group.As4()
	copy(g[4:8], a4[:])
	if q.Version == 3 {
		g[8] = flags
		g[9] = qqic
		binary.BigEndian.PutUint16(g[10:12], uint16(len(q.Sources)))
		for i, s := range q.Sources {
			a4 = s.Unmap().As4()
			copy(g[igmpV3QueryMinLen+4*i:], a4[:])
		}
	}
	binary.BigEndian.PutUint16(g[2:4], foldChecksum(onesSum(0, g)))
	return b, nil
}

// appendIPv4RouterAlert appends to b an IPv4 header with Router Alert, as
// IGMP goes (TTL 1, traffic class CS6, DF), from src to dst, and n zero
// octets for the IGMP message, which it returns with the extended slice.
// src and dst are IPv4; the total must fit 16 bits.
func appendIPv4RouterAlert(b []byte, src, dst netip.Addr, n int) (out, igmp []byte) {
	total := igmpQueryIPHeaderLen + n
	start := len(b)
	b = slices.Grow(b, total)[:start+total]
	p := b[start:]
	clear(p)
	p[0] = 0x40 | igmpQueryIPHeaderLen/4
	p[1] = queryTOS
	binary.BigEndian.PutUint16(p[2:4], uint16(total))
	p[6] = 0x40 // DF; ID 0 (RFC 6864 s4.1: an atomic datagram needs no ID)
	p[8] = queryTTL
	p[9] = ipProtoIGMP
	a4 := src.Unmap().As4()
	copy(p[12:16], a4[:])
	a4 = dst.Unmap().As4()
	copy(p[16:20], a4[:])
	p[20], p[21] = ipv4OptRouterAlert, 4 // value 0
	binary.BigEndian.PutUint16(p[10:12], foldChecksum(onesSum(0, p[:igmpQueryIPHeaderLen])))
	return b, p[igmpQueryIPHeaderLen:]
}

// appendIPv6RouterAlert appends to b an IPv6 header and a hop-by-hop header
// with Router Alert (MLD), as MLD goes (hop limit 1, traffic class CS6),
// from src to dst, and n zero octets for the MLD message. It returns the
// extended slice, the whole packet (for the checksum's pseudo-header) and
// the MLD message. The payload must fit 16 bits.
func appendIPv6RouterAlert(b []byte, src, dst netip.Addr, n int) (out, packet, mld []byte) {
	plen := mldQueryHopByHopLen + n
	total := ipv6HeaderLen + plen
	start := len(b)
	b = slices.Grow(b, total)[:start+total]
	p := b[start:]
	clear(p)
	p[0] = 0x60 | queryTOS>>4
	p[1] = (queryTOS & 0x0f) << 4
	binary.BigEndian.PutUint16(p[4:6], uint16(plen))
	p[6] = ipv6HopByHop
	p[7] = queryTTL
	a16 := src.As16()
	copy(p[8:24], a16[:])
	a16 = dst.As16()
	copy(p[24:40], a16[:])

	h := p[ipv6HeaderLen:]
	h[0] = ipProtoICMPv6
	h[1] = 0                           // 8 octets
	h[2], h[3] = ipv6OptRouterAlert, 2 // value 0: MLD
	h[6], h[7] = 1, 0                  // PadN, 2 octets
	return b, p, h[mldQueryHopByHopLen:]
}

// queryFlags is the Resv|S|QRV octet of an IGMPv3 or MLDv2 query. A
// robustness above 7 does not fit: RFC 3376 s4.1.6 and RFC 3810 s5.1.8 send
// it as 0.
func queryFlags(q Query) (uint8, bool) {
	if q.QRV < 0 {
		return 0, false
	}
	var f uint8
	if q.QRV <= 7 {
		f = uint8(q.QRV)
	}
	if q.SFlag {
		f |= 0x08
	}
	return f, true
}

// AppendMLDQuery appends to b a complete IPv6 packet holding the MLD query q
// from src, checksum set, and returns the extended slice. The packet has hop
// limit 1, traffic class CS6 and a hop-by-hop header with Router Alert (MLD),
// and goes to ff02::1 for a general query or to the group for a
// multicast-address-specific one.
//
// Version 1 is 24 octets, its MaxResp in milliseconds up to 65.535 s.
// Version 2 is 28 + 16*len(Sources) octets with S, QRV and QQIC; a QRV above
// 7 is sent as 0 (RFC 3810 s5.1.8). MaxResp and QQI are rounded up to the
// next interval the codes can express; one beyond the largest code
// (8387.584 s, 31744 s) is an error. MLD queries must come from a link-local
// address (RFC 3810 s5.1.14), which is the caller's to choose. The caller
// splits long source lists to fit the link MTU (89 sources in a 1500-octet
// packet).
//
// On error b is returned unchanged.
func AppendMLDQuery(b []byte, src netip.Addr, q Query) ([]byte, error) {
	if !src.Is6() || src.Is4In6() {
		return b, fmt.Errorf("snoop: MLD query source %v is not an IPv6 address", src)
	}
	group, dst := netip.IPv6Unspecified(), allNodesV6
	if !q.IsGeneral() {
		group = q.Group
		if !isIPv6Multicast(group) {
			return b, fmt.Errorf("snoop: MLD query group %v is not an IPv6 multicast address", q.Group)
		}
		dst = group
	}
	var mrc uint16
	var flags, qqic uint8
	mldLen := mldV1Len
	switch q.Version {
	case 1:
		if len(q.Sources) > 0 {
			return b, errors.New("snoop: MLDv1 query: MLDv1 has no source-specific queries")
		}
		ms, ok := ceilUnits(q.MaxResp, mldMaxRespUnit)
		if !ok || ms > math.MaxUint16 {
			return b, fmt.Errorf("snoop: MLDv1 query: max resp %v outside 0..65.535s", q.MaxResp)
		}
		mrc = uint16(ms)
	case 2:
		if len(q.Sources) > 0 && group.IsUnspecified() {
			return b, fmt.Errorf("snoop: MLDv2 query: %w", errQueryGeneralSources)
		}
		ms, ok := ceilUnits(q.MaxResp, mldMaxRespUnit)
		if ok {
			mrc, ok = encodeCode16(ms)
		}
		if !ok {
			return b, fmt.Errorf("snoop: MLDv2 query: max resp %v outside 0..8387.584s", q.MaxResp)
		}
		if qqic, ok = encodeDuration8(q.QQI, time.Second); !ok {
			return b, fmt.Errorf("snoop: MLDv2 query: QQI %v outside 0..31744s", q.QQI)
		}
		if flags, ok = queryFlags(q); !ok {
			return b, fmt.Errorf("snoop: MLDv2 query: negative QRV %d", q.QRV)
		}
		for _, s := range q.Sources {
			if !s.Is6() || s.Is4In6() {
				return b, fmt.Errorf("snoop: MLDv2 query: source %v is not an IPv6 address", s)
			}
		}
		mldLen = mldV2QueryMinLen + ipv6AddrLen*len(q.Sources)
	default:
		return b, fmt.Errorf("snoop: MLD query version %d (want 1 or 2)", q.Version)
	}
	if mldQueryHopByHopLen+mldLen > math.MaxUint16 {
		return b, fmt.Errorf("snoop: MLDv2 query: %d sources do not fit one IPv6 packet", len(q.Sources))
	}

	b, p, g := appendIPv6RouterAlert(b, src, dst, mldLen)
	g[0] = icmpv6MLDQuery
	binary.BigEndian.PutUint16(g[4:6], mrc)
	a16 := group.As16()
	copy(g[8:24], a16[:])
	if q.Version == 2 {
		g[24] = flags
		g[25] = qqic
		binary.BigEndian.PutUint16(g[26:28], uint16(len(q.Sources)))
		for i, s := range q.Sources {
			a16 = s.As16()
			copy(g[mldV2QuerySourcesOffset+ipv6AddrLen*i:], a16[:])
		}
	}
	binary.BigEndian.PutUint16(g[2:4], foldChecksum(onesSum(ipv6PseudoSum(p, mldLen, ipProtoICMPv6), g)))
	return b, nil
}

// MulticastMAC returns the Ethernet address a group maps to: 01:00:5e and the
// low 23 bits of an IPv4 group (RFC 1112 s6.4), 33:33 and the low 32 bits of
// an IPv6 group (RFC 2464 s7). The zero Addr maps to the zero MAC.
func MulticastMAC(group netip.Addr) [6]byte {
	switch {
	case group.Is4() || group.Is4In6():
		a := group.Unmap().As4()
		return [6]byte{0x01, 0x00, 0x5e, a[1] & 0x7f, a[2], a[3]}
	case group.Is6():
		a := group.As16()
		return [6]byte{0x33, 0x33, a[12], a[13], a[14], a[15]}
	}
	return [6]byte{}
}

// AppendReport appends to b a complete IP packet holding m, an IGMPv3 report
// (MsgIGMPv3Report, RFC 3376 s4.2) or an MLDv2 report (MsgMLDv2Report, RFC
// 3810 s5.2) from m.Src to m.Dst with m.Records, checksums set, and returns
// the extended slice. The IP header is the one every IGMP/MLD message has
// (see AppendIGMPQuery, AppendMLDQuery); records carry no auxiliary data.
// The guard uses it to forward a report without the records its ACL
// removed.
//
// On error b is returned unchanged.
func AppendReport(b []byte, m *Message) ([]byte, error) {
	var v6 bool
	switch m.Type {
	case MsgIGMPv3Report:
	case MsgMLDv2Report:
		v6 = true
	default:
		return b, fmt.Errorf("snoop: AppendReport: a %v is not an IGMPv3 or MLDv2 report", m.Type)
	}
	addrLen, recordHdr := 4, igmpV3RecordHdr
	if v6 {
		addrLen, recordHdr = ipv6AddrLen, mldV2RecordHdr
	}
	valid := func(a netip.Addr) bool {
		if v6 {
			return a.Is6() // ::ffff:a.b.c.d too: it encodes as it parsed
		}
		return a.Unmap().Is4()
	}
	if !valid(m.Src) || !valid(m.Dst) {
		return b, fmt.Errorf("snoop: AppendReport: %v to %v: not addresses of the report's family", m.Src, m.Dst)
	}
	n := igmpV3ReportHdr
	for _, r := range m.Records {
		if !valid(r.Group) || len(r.Sources) > math.MaxUint16 {
			return b, fmt.Errorf("snoop: AppendReport: record for %v with %d sources does not fit the report", r.Group, len(r.Sources))
		}
		for _, s := range r.Sources {
			if !valid(s) {
				return b, fmt.Errorf("snoop: AppendReport: source %v of %v is not of the report's family", s, r.Group)
			}
		}
		n += recordHdr + addrLen*len(r.Sources)
	}
	if len(m.Records) > math.MaxUint16 || n+mldQueryHopByHopLen > math.MaxUint16 {
		return b, fmt.Errorf("snoop: AppendReport: %d records do not fit one packet", len(m.Records))
	}

	var p, g []byte
	if v6 {
		b, p, g = appendIPv6RouterAlert(b, m.Src, m.Dst, n)
		g[0] = icmpv6MLDv2Report
	} else {
		b, g = appendIPv4RouterAlert(b, m.Src, m.Dst, n)
		g[0] = igmpV3Report
	}
	binary.BigEndian.PutUint16(g[6:8], uint16(len(m.Records)))
	off := igmpV3ReportHdr
	put := func(a netip.Addr) {
		if v6 {
			a16 := a.As16()
			copy(g[off:], a16[:])
		} else {
			a4 := a.Unmap().As4()
			copy(g[off:], a4[:])
		}
		off += addrLen
	}
	for _, r := range m.Records {
		g[off] = uint8(r.Type)
		binary.BigEndian.PutUint16(g[off+2:off+4], uint16(len(r.Sources)))
		off += recordHdr - addrLen
		put(r.Group)
		for _, s := range r.Sources {
			put(s)
		}
	}
	if v6 {
		binary.BigEndian.PutUint16(g[2:4], foldChecksum(onesSum(ipv6PseudoSum(p, n, ipProtoICMPv6), g)))
	} else {
		binary.BigEndian.PutUint16(g[2:4], foldChecksum(onesSum(0, g)))
	}
	return b, nil
}
