package bench

import (
	"fmt"
	"net"
	"strings"
)

// ethHeaderLen is the length of an untagged Ethernet header.
const ethHeaderLen = 14

// fcsLen is the frame check sequence that frame sizes on a wire include
// (RFC 2544 counts 64 to 1518 bytes with it) but veth never carries.
const fcsLen = 4

// TrafgenFrame is the one frame a trafgen run sends over and over.
type TrafgenFrame struct {
	Dst, Src  net.HardwareAddr
	EtherType uint16
	// Len is the frame's length as written to the interface, from the
	// destination MAC on, without an FCS: a "64-byte frame" is Len 60.
	Len int
}

// Config renders the frame in trafgen's packet configuration language:
// the two addresses byte by byte, the EtherType, and zeros up to Len.
func (f TrafgenFrame) Config() (string, error) {
	if len(f.Dst) != 6 || len(f.Src) != 6 {
		return "", fmt.Errorf("bench: trafgen frame: addresses %q and %q must be 6-byte MACs", f.Dst, f.Src)
	}
	if f.Len < ethHeaderLen {
		return "", fmt.Errorf("bench: trafgen frame: length %d is shorter than an Ethernet header (%d)", f.Len, ethHeaderLen)
	}
	var b strings.Builder
	b.WriteString("{ ")
	for _, mac := range []net.HardwareAddr{f.Dst, f.Src} {
		for _, octet := range mac {
			fmt.Fprintf(&b, "0x%02x, ", octet)
		}
	}
	fmt.Fprintf(&b, "c16(0x%04x)", f.EtherType)
	if n := f.Len - ethHeaderLen; n > 0 {
		fmt.Fprintf(&b, ", fill(0x00, %d)", n)
	}
	b.WriteString(" }\n")
	return b.String(), nil
}

// Bytes returns the frame itself, for sending it once without trafgen.
func (f TrafgenFrame) Bytes() []byte {
	b := make([]byte, max(f.Len, ethHeaderLen))
	copy(b, f.Dst)
	copy(b[6:], f.Src)
	b[12], b[13] = byte(f.EtherType>>8), byte(f.EtherType)
	return b
}
