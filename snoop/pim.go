package snoop

import (
	"encoding/binary"
	"net/netip"
)

// PIM (RFC 7761 s4.9). Only the hello matters to a snooping switch: it
// marks the port it arrives on as a multicast router port (RFC 4541 s2.1.1).
const (
	pimVersion      = 2
	pimTypeHello    = 0
	pimTypeRegister = 1
	pimHeaderLen    = 4 // version/type, reserved, checksum
	pimHelloOptHdr  = 4 // option type, option length
)

var (
	pimAllRoutersV4 = netip.AddrFrom4([4]byte{224, 0, 0, 13})
	pimAllRoutersV6 = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x0d})
)

// parsePIM decodes the PIM message b; pseudo is the unfolded sum of the IPv6
// pseudo-header (0 for IPv4). A hello sent to ALL-PIM-ROUTERS is
// MsgPIMHello; any other PIM message is MsgUnknown.
func parsePIM(b []byte, pseudo uint64, m *Message) *ParseError {
	if len(b) < pimHeaderLen {
		return errShortPIM
	}
	// A version this switch does not speak is not a hello it can read; a
	// Register's checksum covers only its header and it is unicast anyway.
	if b[0]>>4 != pimVersion || b[0]&0x0f == pimTypeRegister {
		m.Type = MsgUnknown
		return nil
	}
	if foldChecksum(onesSum(pseudo, b)) != 0 {
		return errPIMChecksum
	}
	// RFC 7761 s4.3.1: hellos go to ALL-PIM-ROUTERS.
	if b[0]&0x0f != pimTypeHello || (m.Dst != pimAllRoutersV4 && m.Dst != pimAllRoutersV6) {
		m.Type = MsgUnknown
		return nil
	}
	// RFC 7761 s4.9.2: the hello body is a list of type-length-value
	// options; one running past the message makes the hello unreadable.
	opts := b[pimHeaderLen:]
	for len(opts) > 0 {
		if len(opts) < pimHelloOptHdr {
			return errPIMHelloOptions
		}
		n := pimHelloOptHdr + int(binary.BigEndian.Uint16(opts[2:4]))
		if n > len(opts) {
			return errPIMHelloOptions
		}
		opts = opts[n:]
	}
	m.Type = MsgPIMHello
	return nil
}
