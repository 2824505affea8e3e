package snoop

import (
	"encoding/binary"
	"net/netip"
)

// EtherTypes and IP protocol numbers of the packets this package reads.
const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd

	ipProtoIGMP   = 2
	ipProtoICMPv6 = 58
	ipProtoPIM    = 103

	ipv4HeaderLen = 20
	ipv6HeaderLen = 40

	// IPv4 Router Alert option (RFC 2113): type 148, length 4, value 0
	// ("every router examines the packet").
	ipv4OptEOL         = 0
	ipv4OptNOP         = 1
	ipv4OptRouterAlert = 0x94
)

// IPv6 extension headers (RFC 8200 s4) that IsControl and Parse walk.
const (
	ipv6HopByHop = 0
	ipv6Routing  = 43
	ipv6Fragment = 44
	ipv6AH       = 51 // RFC 4302: its length is in 4-octet units, not 8
	ipv6DestOpts = 60

	// maxIPv6ExtHeaders bounds the extension-header walk. Real MLD carries
	// one (hop-by-hop); a longer chain is an attack on the walk, and both
	// IsControl and Parse stop at the same depth so that they agree.
	maxIPv6ExtHeaders = 8

	// IPv6 hop-by-hop options (RFC 8200 s4.2, RFC 2711).
	ipv6OptPad1        = 0
	ipv6OptRouterAlert = 5
	// ipv6RouterAlertMLD is the Router Alert value for MLD (RFC 2711 s2.1).
	ipv6RouterAlertMLD = 0
)

// onesSum adds b to the running one's-complement sum s (RFC 1071) and
// returns it unfolded. Adding 32-bit words and folding later gives the same
// result as adding 16-bit words, because 2^16 = 1 modulo 0xffff. An odd
// trailing byte is padded with a zero byte.
func onesSum(s uint64, b []byte) uint64 {
	for len(b) >= 4 {
		s += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return s
}

// Checksum returns the Internet checksum of b (RFC 1071): the value of a
// checksum field, zero while summing, that makes b's sum 0. The tools that
// build packets of their own (internal/bench) use it for IP headers.
func Checksum(b []byte) uint16 { return foldChecksum(onesSum(0, b)) }

// foldChecksum folds an unfolded sum into the Internet checksum (its
// complement). Over data that contains a correct checksum field it is 0.
func foldChecksum(s uint64) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// ipv6PseudoSum is the unfolded sum of the IPv6 pseudo-header (RFC 8200
// s8.1) that ICMPv6 (RFC 4443 s2.3) and PIM (RFC 7761 s4.9) checksums cover.
// A Routing header would change the destination to use; Parse rejects control
// packets whose Routing header has segments left, so the IPv6 destination is
// the final one.
func ipv6PseudoSum(ip []byte, upperLen int, proto uint8) uint64 {
	s := onesSum(0, ip[8:40])
	return s + uint64(upperLen) + uint64(proto)
}

// ipv4RouterAlert walks the IPv4 options (RFC 791 s3.1). It reports whether
// a Router Alert option with value 0 is present, and ok false when the
// options are malformed (an option running past the header, a bad length).
func ipv4RouterAlert(opts []byte) (ra, ok bool) {
	for len(opts) > 0 {
		switch opts[0] {
		case ipv4OptEOL:
			return ra, true
		case ipv4OptNOP:
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || opts[1] < 2 || int(opts[1]) > len(opts) {
			return false, false
		}
		if opts[0] == ipv4OptRouterAlert {
			// RFC 2113 s2.1: length 4; value 0 is the only one defined.
			if opts[1] != 4 {
				return false, false
			}
			if opts[2] == 0 && opts[3] == 0 {
				ra = true
			}
		}
		opts = opts[opts[1]:]
	}
	return ra, true
}

// ipv6RouterAlert walks the options of a hop-by-hop header (the bytes after
// its next-header and length octets). It reports whether a Router Alert with
// the MLD value is present; ok false when the options are malformed. Unknown
// options are skipped whatever their action bits say: the switch is not the
// packet's destination, it watches it go by.
func ipv6RouterAlert(opts []byte) (ra, ok bool) {
	for len(opts) > 0 {
		if opts[0] == ipv6OptPad1 {
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || 2+int(opts[1]) > len(opts) {
			return false, false
		}
		if opts[0] == ipv6OptRouterAlert {
			// RFC 2711 s2.1: Opt Data Len 2.
			if opts[1] != 2 {
				return false, false
			}
			if binary.BigEndian.Uint16(opts[2:4]) == ipv6RouterAlertMLD {
				ra = true
			}
		}
		opts = opts[2+int(opts[1]):]
	}
	return ra, true
}

// ipv6ExtLen returns the length in octets of the extension header nh at the
// start of b, and ok false when b is too short to hold it.
func ipv6ExtLen(nh uint8, b []byte) (int, bool) {
	if len(b) < 8 {
		return 0, false
	}
	var n int
	switch nh {
	case ipv6AH:
		n = (int(b[1]) + 2) * 4 // RFC 4302 s2.2
	case ipv6Fragment:
		n = 8
	default:
		n = (int(b[1]) + 1) * 8 // RFC 8200 s4.3-4.6
	}
	if n > len(b) {
		return 0, false
	}
	return n, true
}

// parseIPv4 checks an IPv4 header (RFC 791) and hands its payload to the
// IGMP or PIM decoder.
func parseIPv4(ip []byte, m *Message) *ParseError {
	if len(ip) < ipv4HeaderLen {
		return errShortIP
	}
	if ip[0]>>4 != 4 {
		return errIPVersion
	}
	ihl := int(ip[0]&0x0f) * 4
	if ihl < ipv4HeaderLen {
		return errIPv4IHL
	}
	if len(ip) < ihl {
		return errShortIP
	}
	if foldChecksum(onesSum(0, ip[:ihl])) != 0 {
		return errIPv4Checksum
	}
	// Bytes beyond the total length are Ethernet padding (a 28-byte IGMPv1
	// query arrives in a 46-byte payload); fewer bytes are a truncation.
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if total < ihl || total > len(ip) {
		return errIPv4TotalLength
	}
	// MF set or a fragment offset: control messages are never fragmented,
	// and a fragment cannot be checked whole.
	if binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 {
		return errFragment
	}
	ra, ok := ipv4RouterAlert(ip[ipv4HeaderLen:ihl])
	if !ok {
		return errIPv4Options
	}
	m.Family = 4
	m.Src = netip.AddrFrom4([4]byte(ip[12:16]))
	m.Dst = netip.AddrFrom4([4]byte(ip[16:20]))
	m.TTL = ip[8]
	m.RouterAlert = ra
	payload := ip[ihl:total]
	switch ip[9] {
	case ipProtoIGMP:
		return parseIGMP(payload, m)
	case ipProtoPIM:
		return parsePIM(payload, 0, m)
	}
	return errNotControl
}

// parseIPv6 checks an IPv6 header (RFC 8200), walks its extension headers
// and hands the upper-layer message to the ICMPv6 (MLD, MRD) or PIM decoder.
func parseIPv6(ip []byte, m *Message) *ParseError {
	if len(ip) < ipv6HeaderLen {
		return errShortIP
	}
	if ip[0]>>4 != 6 {
		return errIPVersion
	}
	// A payload length of 0 means a jumbogram (RFC 2675), which no control
	// message needs; more than the frame holds is a truncation.
	plen := int(binary.BigEndian.Uint16(ip[4:6]))
	if plen == 0 || ipv6HeaderLen+plen > len(ip) {
		return errIPv6PayloadLength
	}
	pkt := ip[:ipv6HeaderLen+plen]
	m.Family = 6
	m.Src = netip.AddrFrom16([16]byte(ip[8:24]))
	m.Dst = netip.AddrFrom16([16]byte(ip[24:40]))
	m.TTL = ip[7]
	nh, off := ip[6], ipv6HeaderLen
	// The same walk as IsControl, with the same bound.
	for i := 0; i <= maxIPv6ExtHeaders; i++ {
		switch nh {
		case ipv6HopByHop, ipv6DestOpts, ipv6Routing, ipv6AH:
			// RFC 8200 s4.1: hop-by-hop only right after the IPv6 header.
			if nh == ipv6HopByHop && i != 0 {
				return errExtHeader
			}
			n, ok := ipv6ExtLen(nh, pkt[off:])
			if !ok {
				return errExtHeader
			}
			switch nh {
			case ipv6HopByHop:
				ra, ok := ipv6RouterAlert(pkt[off+2 : off+n])
				if !ok {
					return errExtHeader
				}
				m.RouterAlert = ra
			case ipv6Routing:
				// Segments left: the packet is still on its way to another
				// destination, which the checksum would cover instead.
				if pkt[off+3] != 0 {
					return errRoutingHeader
				}
			}
			nh = pkt[off]
			off += n
		case ipv6Fragment:
			return errFragment
		case ipProtoICMPv6:
			return parseICMPv6(pkt[off:], ipv6PseudoSum(pkt, len(pkt)-off, ipProtoICMPv6), m)
		case ipProtoPIM:
			return parsePIM(pkt[off:], ipv6PseudoSum(pkt, len(pkt)-off, ipProtoPIM), m)
		default:
			return errNotControl
		}
	}
	return errExtHeaderLimit
}

// IsControl reports whether an IP packet (starting at its IP header;
// etherType 0x0800 or 0x86dd) is IGMP, MLD, PIM or MRD that snoop must see.
// It is on the data plane's path for every IP multicast frame: no allocation,
// no checksum, a bounded walk of IPv6 extension headers.
//
// It fails closed: a packet is "not control" only when it clearly is not.
// A header too short to read, a malformed or overlong extension-header chain,
// a hop-by-hop header out of place, or an IPv4 fragment of IGMP or PIM is
// reported as control, so that Parse rejects it and the drop is counted
// rather than the packet being forwarded as data. IPv6 fragments that are not
// the first carry no upper-layer header and are not control; a first fragment
// is judged by what follows its fragment header.
func IsControl(etherType uint16, ip []byte) bool {
	switch etherType {
	case etherTypeIPv4:
		if len(ip) < ipv4HeaderLen || ip[0]>>4 != 4 {
			return true
		}
		return ip[9] == ipProtoIGMP || ip[9] == ipProtoPIM
	case etherTypeIPv6:
		if len(ip) < ipv6HeaderLen || ip[0]>>4 != 6 {
			return true
		}
		nh, off := ip[6], ipv6HeaderLen
		for i := 0; i <= maxIPv6ExtHeaders; i++ {
			switch nh {
			case ipv6HopByHop, ipv6DestOpts, ipv6Routing, ipv6AH, ipv6Fragment:
				if nh == ipv6HopByHop && i != 0 {
					return true
				}
				n, ok := ipv6ExtLen(nh, ip[off:])
				if !ok {
					return true
				}
				if nh == ipv6Fragment && binary.BigEndian.Uint16(ip[off+2:off+4])>>3 != 0 {
					return false
				}
				nh = ip[off]
				off += n
			case ipProtoICMPv6:
				if off >= len(ip) {
					return true
				}
				return isControlICMPv6(ip[off])
			case ipProtoPIM:
				return true
			default:
				return false
			}
		}
		return true
	}
	return false
}
