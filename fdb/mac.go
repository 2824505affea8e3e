package fdb

import (
	"fmt"
	"net"
)

// MAC is an Ethernet address held by value, so it can be copied out of a frame
// and used as a map key without allocating.
type MAC [6]byte

// String formats m as six colon-separated lowercase hex bytes
// ("02:00:00:00:00:01"), the form net.HardwareAddr and ip link use.
func (m MAC) String() string {
	const hexDigits = "0123456789abcdef"
	var b [17]byte
	for i, v := range m {
		if i > 0 {
			b[3*i-1] = ':'
		}
		b[3*i] = hexDigits[v>>4]
		b[3*i+1] = hexDigits[v&0x0f]
	}
	return string(b[:])
}

// IsMulticast reports whether m is a group address, broadcast included.
// IEEE 802-2014 s8.2: the least significant bit of the first octet is the
// Individual/Group bit; 1 means group.
func (m MAC) IsMulticast() bool { return m[0]&0x01 != 0 }

// IsZero reports whether m is 00:00:00:00:00:00, which no station may use as
// its source and which some broken drivers send anyway.
func (m MAC) IsZero() bool { return m == MAC{} }

// ParseMAC parses a 6-byte Ethernet address in any form net.ParseMAC accepts
// ("02:00:00:00:00:01", "02-00-00-00-00-01", "0200.0000.0001").
// EUI-64 and InfiniBand addresses, which net.ParseMAC also accepts, are errors.
func ParseMAC(s string) (MAC, error) {
	hw, err := net.ParseMAC(s)
	if err != nil {
		return MAC{}, fmt.Errorf("fdb: %q is not a MAC address (want the form 02:00:00:00:00:01)", s)
	}
	if len(hw) != len(MAC{}) {
		return MAC{}, fmt.Errorf("fdb: %q has %d bytes; an Ethernet MAC has 6", s, len(hw))
	}
	return MAC(hw), nil
}
