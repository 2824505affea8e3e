package snoop

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// IGMP message types (RFC 3376 s4, RFC 2236 s2.1, RFC 1112 app. I,
// RFC 4286 s4).
const (
	igmpQuery            = 0x11
	igmpV1Report         = 0x12
	igmpV2Report         = 0x16
	igmpV2Leave          = 0x17
	igmpV3Report         = 0x22
	igmpMRDAdvertisement = 0x30
	igmpMRDSolicitation  = 0x31
	igmpMRDTermination   = 0x32
)

const (
	igmpV12Len        = 8  // v1/v2 query, reports, leave
	igmpV3QueryMinLen = 12 // v3 query without sources
	igmpV3ReportHdr   = 8
	igmpV3RecordHdr   = 8
	igmpMRDAdvLen     = 8 // RFC 4286 s4.1
	igmpMRDMinLen     = 4 // solicitation, termination: type, reserved, checksum

	// igmpV1MaxResp: an IGMPv1 query has no Max Resp Code; hosts answer
	// within 10 s (RFC 2236 s4, RFC 1112 app. I).
	igmpV1MaxResp = 10 * time.Second
	// igmpMaxRespUnit: the IGMPv2/v3 Max Resp Time is in tenths of a second
	// (RFC 2236 s2.2, RFC 3376 s4.1.1).
	igmpMaxRespUnit = 100 * time.Millisecond
)

// parseIGMP decodes the IGMP message b (the whole IPv4 payload).
func parseIGMP(b []byte, m *Message) *ParseError {
	if len(b) < igmpMRDMinLen {
		return errShortIGMP
	}
	// RFC 3376 s4.1.2, s4.2.2: the checksum covers the whole IGMP message,
	// octets beyond the last field included.
	if foldChecksum(onesSum(0, b)) != 0 {
		return errIGMPChecksum
	}
	switch b[0] {
	case igmpQuery:
		return parseIGMPQuery(b, m)
	case igmpV1Report, igmpV2Report, igmpV2Leave:
		// RFC 2236 s2.5: ignore anything past the first 8 octets.
		if len(b) < igmpV12Len {
			return errShortIGMP
		}
		group := netip.AddrFrom4([4]byte(b[4:8]))
		if !group.IsMulticast() {
			return errIGMPGroup
		}
		switch b[0] {
		case igmpV1Report:
			m.Type = MsgIGMPv1Report
		case igmpV2Report:
			m.Type = MsgIGMPv2Report
		default:
			m.Type = MsgIGMPv2Leave
		}
		m.Group = group
	case igmpV3Report:
		return parseIGMPv3Report(b, m)
	case igmpMRDAdvertisement:
		if len(b) < igmpMRDAdvLen {
			return errShortIGMP
		}
		m.Type = MsgMRDAdvertisement
	case igmpMRDSolicitation:
		m.Type = MsgMRDSolicitation
	case igmpMRDTermination:
		m.Type = MsgMRDTermination
	default:
		m.Type = MsgUnknown
	}
	return nil
}

// parseIGMPQuery decodes a membership query; its version is told by its
// length (RFC 3376 s7.1).
func parseIGMPQuery(b []byte, m *Message) *ParseError {
	if len(b) < igmpV12Len {
		return errIGMPQueryLength
	}
	q := &m.Query
	group := netip.AddrFrom4([4]byte(b[4:8]))
	switch {
	case len(b) == igmpV12Len && b[1] == 0:
		// IGMPv1: the group field "is zeroed when sent, ignored when
		// received" (RFC 1112 app. I).
		q.Version = 1
		q.MaxResp = igmpV1MaxResp
		group = netip.IPv4Unspecified()
	case len(b) == igmpV12Len:
		q.Version = 2
		q.MaxResp = time.Duration(b[1]) * igmpMaxRespUnit
	case len(b) >= igmpV3QueryMinLen:
		// Octets beyond the sources are covered by the checksum and otherwise
		// ignored (RFC 3376 s4.1.10): a 22-byte query with no sources is a
		// valid IGMPv3 query.
		n := int(binary.BigEndian.Uint16(b[10:12]))
		if igmpV3QueryMinLen+4*n > len(b) {
			return errIGMPQuerySources
		}
		if n > 0 && group.IsUnspecified() {
			return errIGMPGeneralSources
		}
		q.Version = 3
		q.MaxResp = time.Duration(decodeCode8(b[1])) * igmpMaxRespUnit
		q.SFlag = b[8]&0x08 != 0
		q.QRV = int(b[8] & 0x07)
		q.QQI = time.Duration(decodeCode8(b[9])) * time.Second
		for i := range n {
			off := igmpV3QueryMinLen + 4*i
			q.Sources = append(q.Sources, netip.AddrFrom4([4]byte(b[off:off+4])))
		}
	default:
		return errIGMPQueryLength
	}
	if !group.IsUnspecified() && !group.IsMulticast() {
		return errIGMPQueryGroup
	}
	q.Group = group
	m.Type = MsgIGMPQuery
	return nil
}

// parseIGMPv3Report decodes an IGMPv3 membership report (RFC 3376 s4.2).
// Every record, its sources and its auxiliary data must lie within b, or the
// whole report is rejected.
func parseIGMPv3Report(b []byte, m *Message) *ParseError {
	if len(b) < igmpV3ReportHdr {
		return errShortIGMP
	}
	n := int(binary.BigEndian.Uint16(b[6:8]))
	off := igmpV3ReportHdr
	for range n {
		if off+igmpV3RecordHdr > len(b) {
			return errIGMPv3Records
		}
		typ := RecordType(b[off])
		aux := int(b[off+1]) // in 32-bit words (RFC 3376 s4.2.6)
		ns := int(binary.BigEndian.Uint16(b[off+2 : off+4]))
		end := off + igmpV3RecordHdr + 4*ns + 4*aux
		if end > len(b) {
			return errIGMPv3Records
		}
		if knownRecordType(typ) {
			group := netip.AddrFrom4([4]byte(b[off+4 : off+8]))
			if !group.IsMulticast() {
				return errIGMPv3RecordGroup
			}
			m.Records = appendRecord(m.Records, typ, group)
			r := &m.Records[len(m.Records)-1]
			for i := range ns {
				s := off + igmpV3RecordHdr + 4*i
				r.Sources = append(r.Sources, netip.AddrFrom4([4]byte(b[s:s+4])))
			}
		}
		off = end
	}
	m.Type = MsgIGMPv3Report
	return nil
}

// knownRecordType reports whether t is one of the six record types of RFC
// 3376 s4.2.12 / RFC 3810 s5.2.12; others "MUST be silently ignored".
func knownRecordType(t RecordType) bool {
	return t >= ModeIsInclude && t <= BlockOldSources
}

// appendRecord appends a record to recs, reusing the record (and its Sources
// array) that an earlier Parse left beyond len(recs).
func appendRecord(recs []Record, typ RecordType, group netip.Addr) []Record {
	if len(recs) < cap(recs) {
		recs = recs[:len(recs)+1]
		r := &recs[len(recs)-1]
		r.Type, r.Group, r.Sources = typ, group, r.Sources[:0]
		return recs
	}
	return append(recs, Record{Type: typ, Group: group})
}
