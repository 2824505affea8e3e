package bench

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/snoopswitch/snoopswitch/snoop"
)

// IGMPv3 membership reports, built by hand so that one host can join
// thousands of groups in a few dozen frames: a kernel joins one group per
// socket option and reports each join in a frame (or two) of its own, which
// a switch's rate limit for control packets would stretch over minutes.
const (
	igmpv3ReportType = 0x22
	igmpProtocol     = 2
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
		frames = append(frames, igmpv3Report(srcMAC, src, groups[:n]))
		groups = groups[n:]
	}
	return frames, nil
}

func igmpv3Report(srcMAC net.HardwareAddr, src netip.Addr, groups []netip.Addr) []byte {
	igmpLen := igmpv3ReportHeaderLen + igmpv3RecordLen*len(groups)
	ipLen := ipv4HeaderLen + ipv4RouterAlertLen + igmpLen
	b := make([]byte, ethHeaderLen+ipLen)
	dstMAC := snoop.MulticastMAC(allIGMPv3Routers)
	copy(b, dstMAC[:])
	copy(b[6:], srcMAC)
	binary.BigEndian.PutUint16(b[12:], etherTypeIPv4)
	routerAlert := []byte{0x94, 0x04, 0x00, 0x00}
	// RFC 3376 s4: IGMP messages are sent with an IP TTL of 1.
	putIPv4Header(b[ethHeaderLen:], src, allIGMPv3Routers, igmpProtocol, 1, ipLen, routerAlert)
	igmp := b[ethHeaderLen+ipv4HeaderLen+ipv4RouterAlertLen:]
	igmp[0] = igmpv3ReportType
	binary.BigEndian.PutUint16(igmp[6:], uint16(len(groups)))
	for i, g := range groups {
		rec := igmp[igmpv3ReportHeaderLen+i*igmpv3RecordLen:]
		rec[0] = byte(snoop.ModeIsExclude)
		a := g.As4()
		copy(rec[4:], a[:])
	}
	binary.BigEndian.PutUint16(igmp[2:], internetChecksum(igmp))
	return b
}
