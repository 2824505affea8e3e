package testenv

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/snoopswitch/snoopswitch/snoop"
)

// QueryFrom returns a match for Capture.Count and Capture.WaitFor: the
// frames that hold an IGMP or MLD query sent from the Ethernet address mac
// (nil: any) with the IP source src (the zero Addr: any). An IPv4 src
// matches IGMP queries only, an IPv6 one MLD queries only.
func QueryFrom(mac net.HardwareAddr, src netip.Addr) func(frame []byte) bool {
	return func(f []byte) bool {
		if len(f) < 14 || (mac != nil && !bytes.Equal(f[6:12], mac)) {
			return false
		}
		var m snoop.Message
		if snoop.Parse(binary.BigEndian.Uint16(f[12:14]), f[14:], &m) != nil {
			return false
		}
		return (m.Type == snoop.MsgIGMPQuery || m.Type == snoop.MsgMLDQuery) && (!src.IsValid() || m.Src == src)
	}
}
