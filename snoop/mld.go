package snoop

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// ICMPv6 types of MLD (RFC 2710 s3, RFC 3810 s5) and Multicast Router
// Discovery (RFC 4286 s5).
const (
	icmpv6MLDQuery         = 130
	icmpv6MLDv1Report      = 131
	icmpv6MLDv1Done        = 132
	icmpv6MLDv2Report      = 143
	icmpv6MRDAdvertisement = 151
	icmpv6MRDSolicitation  = 152
	icmpv6MRDTermination   = 153
)

const (
	icmpv6HeaderLen         = 4  // type, code, checksum
	mldV1Len                = 24 // MLDv1 query, report, done
	mldV2QueryMinLen        = 28 // MLDv2 query without sources
	mldV2QuerySourcesOffset = mldV2QueryMinLen
	mldV2ReportHdr          = 8
	mldV2RecordHdr          = 20 // type, aux data len, number of sources, group
	mldMRDAdvLen            = 8  // RFC 4286 s5.1
	ipv6AddrLen             = 16
	// mldMaxRespUnit: the MLDv1 Maximum Response Delay and the MLDv2
	// Maximum Response Code count milliseconds (RFC 2710 s3.4, RFC 3810
	// s5.1.3).
	mldMaxRespUnit = time.Millisecond
)

// isControlICMPv6 reports whether an ICMPv6 type is MLD or MRD.
func isControlICMPv6(t uint8) bool {
	switch t {
	case icmpv6MLDQuery, icmpv6MLDv1Report, icmpv6MLDv1Done, icmpv6MLDv2Report,
		icmpv6MRDAdvertisement, icmpv6MRDSolicitation, icmpv6MRDTermination:
		return true
	}
	return false
}

// isIPv6Multicast reports whether a is in ff00::/8. netip's IsMulticast
// also says yes for an IPv4-mapped IPv4 group (::ffff:239.1.1.1), which is
// no IPv6 group.
func isIPv6Multicast(a netip.Addr) bool {
	return a.Is6() && a.As16()[0] == 0xff
}

// parseICMPv6 decodes the ICMPv6 message b; pseudo is the unfolded sum of
// its IPv6 pseudo-header.
func parseICMPv6(b []byte, pseudo uint64, m *Message) *ParseError {
	if len(b) < icmpv6HeaderLen {
		return errShortMLD
	}
	if foldChecksum(onesSum(pseudo, b)) != 0 {
		return errICMPv6Checksum
	}
	switch b[0] {
	case icmpv6MLDQuery:
		return parseMLDQuery(b, m)
	case icmpv6MLDv1Report, icmpv6MLDv1Done:
		if len(b) < mldV1Len {
			return errShortMLD
		}
		group := netip.AddrFrom16([16]byte(b[8:24]))
		if !isIPv6Multicast(group) {
			return errMLDGroup
		}
		m.Type = MsgMLDv1Report
		if b[0] == icmpv6MLDv1Done {
			m.Type = MsgMLDv1Done
		}
		m.Group = group
	case icmpv6MLDv2Report:
		return parseMLDv2Report(b, m)
	case icmpv6MRDAdvertisement:
		if len(b) < mldMRDAdvLen {
			return errShortMLD
		}
		m.Type = MsgMRDAdvertisement
	case icmpv6MRDSolicitation:
		m.Type = MsgMRDSolicitation
	case icmpv6MRDTermination:
		m.Type = MsgMRDTermination
	default:
		m.Type = MsgUnknown
	}
	return nil
}

// parseMLDQuery decodes a multicast listener query; its version is told by
// its length (RFC 3810 s8.1).
func parseMLDQuery(b []byte, m *Message) *ParseError {
	q := &m.Query
	switch {
	case len(b) == mldV1Len:
		q.Version = 1
		q.MaxResp = time.Duration(binary.BigEndian.Uint16(b[4:6])) * mldMaxRespUnit
	case len(b) >= mldV2QueryMinLen:
		// Octets beyond the sources are ignored (RFC 3810 s5.1.12).
		n := int(binary.BigEndian.Uint16(b[26:28]))
		if mldV2QuerySourcesOffset+ipv6AddrLen*n > len(b) {
			return errMLDQuerySources
		}
		q.Version = 2
		q.MaxResp = time.Duration(decodeCode16(binary.BigEndian.Uint16(b[4:6]))) * mldMaxRespUnit
		q.SFlag = b[24]&0x08 != 0
		q.QRV = int(b[24] & 0x07)
		q.QQI = time.Duration(decodeCode8(b[25])) * time.Second
		for i := range n {
			off := mldV2QuerySourcesOffset + ipv6AddrLen*i
			q.Sources = append(q.Sources, netip.AddrFrom16([16]byte(b[off:off+ipv6AddrLen])))
		}
	default:
		return errMLDQueryLength
	}
	group := netip.AddrFrom16([16]byte(b[8:24]))
	if !group.IsUnspecified() && !isIPv6Multicast(group) {
		return errMLDQueryGroup
	}
	if len(q.Sources) > 0 && group.IsUnspecified() {
		return errMLDGeneralSources
	}
	q.Group = group
	m.Type = MsgMLDQuery
	return nil
}

// parseMLDv2Report decodes an MLDv2 report (RFC 3810 s5.2). Every record, its
// sources and its auxiliary data must lie within b, or the whole report is
// rejected.
func parseMLDv2Report(b []byte, m *Message) *ParseError {
	if len(b) < mldV2ReportHdr {
		return errShortMLD
	}
	n := int(binary.BigEndian.Uint16(b[6:8]))
	off := mldV2ReportHdr
	for range n {
		if off+mldV2RecordHdr > len(b) {
			return errMLDv2Records
		}
		typ := RecordType(b[off])
		aux := int(b[off+1]) // in 32-bit words (RFC 3810 s5.2.6)
		ns := int(binary.BigEndian.Uint16(b[off+2 : off+4]))
		end := off + mldV2RecordHdr + ipv6AddrLen*ns + 4*aux
		if end > len(b) {
			return errMLDv2Records
		}
		if knownRecordType(typ) {
			group := netip.AddrFrom16([16]byte(b[off+4 : off+20]))
			if !isIPv6Multicast(group) {
				return errMLDv2RecordGroup
			}
			m.Records = appendRecord(m.Records, typ, group)
			r := &m.Records[len(m.Records)-1]
			for i := range ns {
				s := off + mldV2RecordHdr + ipv6AddrLen*i
				r.Sources = append(r.Sources, netip.AddrFrom16([16]byte(b[s:s+ipv6AddrLen])))
			}
		}
		off = end
	}
	m.Type = MsgMLDv2Report
	return nil
}
