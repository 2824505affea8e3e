package bench

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/snoopswitch/snoopswitch/snoop"
)

// ethHeaderLen is the length of an untagged Ethernet header.
const ethHeaderLen = 14

// fcsLen is the frame check sequence that frame sizes on a wire include
// (RFC 2544 counts 64 to 1518 bytes with it) but veth never carries.
const fcsLen = 4

// Lengths of the IPv4 datagram a Frame may carry.
const (
	ipv4HeaderLen = 20 // no options
	udpHeaderLen  = 8
	// etherTypeIPv4 is the EtherType of an IPv4 frame.
	etherTypeIPv4 = 0x0800
	// udpDiscardPort is the port the datagrams go to and come from (RFC
	// 863's discard service): nobody listens to it in the lab.
	udpDiscardPort = 9
	// udpTTL is the datagrams' TTL: well above 1, so that no guard policy
	// or router mistakes them for link-local traffic.
	udpTTL = 16
)

// Frame is the one frame a stream's sender sends over and over: an
// Ethernet header and zeros, or, with DstIP set, an IPv4 UDP datagram of
// zeros, which is what a multicast flow needs for the switches to snoop it.
type Frame struct {
	Dst, Src  net.HardwareAddr
	EtherType uint16
	// SrcIP and DstIP are valid iff the frame carries an IPv4 UDP datagram
	// (EtherType must then be 0x0800): an IPv4 header without options and
	// a UDP header from and to the discard port, with no UDP checksum,
	// follow the Ethernet header.
	SrcIP, DstIP netip.Addr
	// Len is the frame's length as written to the interface, from the
	// destination MAC on, without an FCS: a "64-byte frame" is Len 60.
	Len int
}

// headerLen is the length of the frame's headers, which precede the zeros.
func (f Frame) headerLen() int {
	if f.DstIP.IsValid() {
		return ethHeaderLen + ipv4HeaderLen + udpHeaderLen
	}
	return ethHeaderLen
}

// Check reports what makes f a frame that cannot be sent: addresses
// that are not MACs, IP addresses that are not both IPv4 or with another
// EtherType, a length shorter than the headers.
func (f Frame) Check() error {
	if len(f.Dst) != 6 || len(f.Src) != 6 {
		return fmt.Errorf("bench: frame: addresses %q and %q must be 6-byte MACs", f.Dst, f.Src)
	}
	if f.DstIP.IsValid() || f.SrcIP.IsValid() {
		if !f.DstIP.Is4() || !f.SrcIP.Is4() {
			return fmt.Errorf("bench: frame: IP addresses %v and %v must both be IPv4", f.SrcIP, f.DstIP)
		}
		if f.EtherType != etherTypeIPv4 {
			return fmt.Errorf("bench: frame: EtherType 0x%04x with IP addresses, want 0x%04x", f.EtherType, etherTypeIPv4)
		}
	}
	if f.Len < f.headerLen() {
		return fmt.Errorf("bench: frame: length %d is shorter than its headers (%d)", f.Len, f.headerLen())
	}
	return nil
}

// Bytes returns the frame itself.
func (f Frame) Bytes() []byte {
	b := make([]byte, max(f.Len, f.headerLen()))
	copy(b, f.Dst)
	copy(b[6:], f.Src)
	binary.BigEndian.PutUint16(b[12:], f.EtherType)
	if f.DstIP.IsValid() {
		putIPv4Header(b[ethHeaderLen:], f.SrcIP, f.DstIP, 17, udpTTL, len(b)-ethHeaderLen, nil)
		udp := b[ethHeaderLen+ipv4HeaderLen:]
		binary.BigEndian.PutUint16(udp[0:], udpDiscardPort)
		binary.BigEndian.PutUint16(udp[2:], udpDiscardPort)
		binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
		// A zero checksum: none computed (RFC 768).
	}
	return b
}

// putIPv4Header writes an IPv4 header with options into b, which must hold
// it: total length totalLen, no fragmentation, and the header checksum.
func putIPv4Header(b []byte, src, dst netip.Addr, protocol, ttl uint8, totalLen int, options []byte) {
	hl := ipv4HeaderLen + len(options)
	b[0] = 0x40 | byte(hl/4)
	b[1] = 0
	binary.BigEndian.PutUint16(b[2:], uint16(totalLen))
	clear(b[4:8]) // identification, flags, fragment offset
	b[8], b[9] = ttl, protocol
	clear(b[10:12])
	s, d := src.As4(), dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	copy(b[20:], options)
	binary.BigEndian.PutUint16(b[10:], snoop.Checksum(b[:hl]))
}
