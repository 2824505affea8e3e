package bench

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/snoopswitch/snoopswitch/snoop"
)

// IGMPv3 membership reports, built by snoop's encoder so that one host
// can join thousands of groups in a few dozen frames: a kernel joins one
// group per socket option and reports each join in a frame (or two) of its
// own, which a switch's rate limit for control packets would stretch over
// minutes.
const (
	// igmpv3RecordLen is a group record without sources: type, aux data
	// length, number of sources, group.
	igmpv3RecordLen = 8
	// ipv4RouterAlertLen is the IPv4 Router Alert option (RFC 2113), which
	// RFC 3376 s4 requires on every IGMPv3 message.
	ipv4RouterAlertLen = 4
	// igmpv3ReportHeaderLen is the report's header: type, reserved,
	// checksum, reserved, number of records.
	igmpv3ReportHeaderLen = 8
	// maxRecordsPerReport fills a 1500-byte IP packet.
	maxRecordsPerReport = (1500 - ipv4HeaderLen - ipv4RouterAlertLen - igmpv3ReportHeaderLen) / igmpv3RecordLen
)

// allIGMPv3Routers is where IGMPv3 reports go (RFC 3376 s4.2.14).
var allIGMPv3Routers = netip.AddrFrom4([4]byte{224, 0, 0, 22})

// IGMPv3JoinFrames returns Ethernet frames from srcMAC and src that report
// membership of every group for any source (MODE_IS_EXCLUDE with no
// sources, as a host answers a general query), as many groups to a frame as
// fit in a 1500-byte MTU.
func IGMPv3JoinFrames(srcMAC net.HardwareAddr, src netip.Addr, groups []netip.Addr) ([][]byte, error) {
	if len(srcMAC) != 6 || !src.Is4() {
		return nil, fmt.Errorf("bench: IGMPv3 report: source %v %v must be a MAC and an IPv4 address", srcMAC, src)
	}
	for _, g := range groups {
		if !g.Is4() || !g.IsMulticast() {
			return nil, fmt.Errorf("bench: IGMPv3 report: %v is not an IPv4 multicast group", g)
		}
	}
	var frames [][]byte
	for len(groups) > 0 {
		n := min(len(groups), maxRecordsPerReport)
		f, err := igmpv3Report(srcMAC, src, groups[:n])
		if err != nil {
			return nil, err
		}
		frames = append(frames, f)
		groups = groups[n:]
	}
	return frames, nil
}

// igmpv3Report is one Ethernet frame of IGMPv3JoinFrames.
func igmpv3Report(srcMAC net.HardwareAddr, src netip.Addr, groups []netip.Addr) ([]byte, error) {
	m := snoop.Message{Type: snoop.MsgIGMPv3Report, Family: 4, Src: src, Dst: allIGMPv3Routers, Records: make([]snoop.Record, len(groups))}
	for i, g := range groups {
		m.Records[i] = snoop.Record{Type: snoop.ModeIsExclude, Group: g}
	}
	b := make([]byte, ethHeaderLen, ethHeaderLen+ipv4HeaderLen+ipv4RouterAlertLen+igmpv3ReportHeaderLen+igmpv3RecordLen*len(groups))
	dstMAC := snoop.MulticastMAC(allIGMPv3Routers)
	copy(b, dstMAC[:])
	copy(b[6:], srcMAC)
	binary.BigEndian.PutUint16(b[12:], etherTypeIPv4)
	// snoop's encoder writes the IP header every IGMP message has (RFC
	// 3376 s4: TTL 1, Router Alert).
	b, err := snoop.AppendReport(b, &m)
	if err != nil {
		return nil, fmt.Errorf("bench: IGMPv3 report: %w", err)
	}
	return b, nil
}
