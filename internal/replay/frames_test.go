package replay_test

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/snoopswitch/snoopswitch/internal/testutil"
)

// The frames of the tests' captures, built with gopacket: Ethernet, IPv4
// (with the Router Alert option on IGMP, as hosts send it) and IGMP or
// UDP. gopacket does not encode IGMP, so the IGMP bytes are built here.

// frame is one frame of a test capture: the port (pcapng interface, or
// file) it arrives on, and when, from the capture's start.
type frame struct {
	port string
	at   time.Duration
	data []byte
}

// captureStart is the time of the test captures' first frame.
var captureStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func hostMAC(i byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0, 0, 0, 0, i} }

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// groupMAC is the Ethernet address of an IPv4 group (RFC 1112 s6.4).
func groupMAC(g netip.Addr) net.HardwareAddr {
	a := g.As4()
	return net.HardwareAddr{0x01, 0x00, 0x5e, a[1] & 0x7f, a[2], a[3]}
}

// ipv4Frame serializes an Ethernet frame with an IPv4 packet from src to
// dst (a group: the destination MAC is the one it maps to).
func ipv4Frame(t testing.TB, srcMAC net.HardwareAddr, src, dst netip.Addr, ttl uint8, proto layers.IPProtocol, opts []layers.IPv4Option, payload ...gopacket.SerializableLayer) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: groupMAC(dst), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: ttl, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice(), Options: opts}
	if proto == layers.IPProtocolIGMP {
		ip.TOS = 0xc0 // CS6, as Linux sends IGMP
	}
	buf := gopacket.NewSerializeBuffer()
	all := append([]gopacket.SerializableLayer{eth, ip}, payload...)
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, all...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// routerAlert is the IPv4 Router Alert option (RFC 2113) that IGMPv2 and
// v3 messages carry.
var routerAlert = []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}}

// igmp is an IGMP message to dst from src, TTL 1, with Router Alert.
func igmp(t testing.TB, srcMAC net.HardwareAddr, src, dst netip.Addr, msg []byte) []byte {
	binary.BigEndian.PutUint16(msg[2:4], testutil.Checksum(msg))
	return ipv4Frame(t, srcMAC, src, dst, 1, layers.IPProtocolIGMP, routerAlert, gopacket.Payload(msg))
}

// igmpV2 is an IGMPv2 report (0x16) or leave (0x17) for group (RFC 2236
// s2): a report goes to the group, a leave to all routers.
func igmpV2(t testing.TB, srcMAC net.HardwareAddr, src netip.Addr, typ byte, group netip.Addr) []byte {
	msg := make([]byte, 8)
	msg[0] = typ
	g := group.As4()
	copy(msg[4:], g[:])
	dst := group
	if typ == 0x17 {
		dst = addr("224.0.0.2")
	}
	return igmp(t, srcMAC, src, dst, msg)
}

// igmpV3Query is an IGMPv3 query (RFC 3376 s4.1) for group (0.0.0.0: a
// general query) with max resp code maxResp (tenths of a second), QRV 2 and
// QQIC 125 s.
func igmpV3Query(t testing.TB, srcMAC net.HardwareAddr, src, group netip.Addr, maxResp byte) []byte {
	msg := make([]byte, 12)
	msg[0], msg[1] = 0x11, maxResp
	g := group.As4()
	copy(msg[4:], g[:])
	msg[8], msg[9] = 2, 125
	dst := group
	if group.IsUnspecified() {
		dst = addr("224.0.0.1")
	}
	return igmp(t, srcMAC, src, dst, msg)
}

// igmpV2GeneralQuery is an IGMPv2 general query (max resp 10 s).
func igmpV2GeneralQuery(t testing.TB, srcMAC net.HardwareAddr, src netip.Addr) []byte {
	return igmp(t, srcMAC, src, addr("224.0.0.1"), []byte{0x11, 100, 0, 0, 0, 0, 0, 0})
}

// igmpV3Report is an IGMPv3 report (RFC 3376 s4.2) with one record of type
// typ for group with sources.
func igmpV3Report(t testing.TB, srcMAC net.HardwareAddr, src netip.Addr, typ byte, group netip.Addr, sources ...netip.Addr) []byte {
	msg := []byte{0x22, 0, 0, 0, 0, 0, 0, 1, typ, 0, 0, byte(len(sources))}
	g := group.As4()
	msg = append(msg, g[:]...)
	for _, s := range sources {
		a := s.As4()
		msg = append(msg, a[:]...)
	}
	return igmp(t, srcMAC, src, addr("224.0.0.22"), msg)
}

// udpData is a UDP datagram from src to group, TTL 8.
func udpData(t testing.TB, srcMAC net.HardwareAddr, src, group netip.Addr, payload string) []byte {
	udp := &layers.UDP{SrcPort: 40000, DstPort: 5000}
	ip := &layers.IPv4{SrcIP: src.AsSlice(), DstIP: group.AsSlice(), Protocol: layers.IPProtocolUDP}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return ipv4Frame(t, srcMAC, src, group, 8, layers.IPProtocolUDP, nil, udp, gopacket.Payload(payload))
}

// writePcapng writes frames to a pcapng file with one interface per port,
// named after it and declared up front in the order of ports.
func writePcapng(t testing.TB, path string, ports []string, frames []frame) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	iface := func(name string) pcapgo.NgInterface {
		return pcapgo.NgInterface{Name: name, LinkType: layers.LinkTypeEthernet, TimestampResolution: 9}
	}
	w, err := pcapgo.NewNgWriterInterface(f, iface(ports[0]), pcapgo.NgWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{ports[0]: 0}
	for _, p := range ports[1:] {
		if ids[p], err = w.AddInterface(iface(p)); err != nil {
			t.Fatal(err)
		}
	}
	for _, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: captureStart.Add(fr.at), CaptureLength: len(fr.data), Length: len(fr.data), InterfaceIndex: ids[fr.port]}
		if err := w.WritePacket(ci, fr.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// writePcap writes frames to a pcap file (nanosecond timestamps).
func writePcap(t testing.TB, path string, frames []frame) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: captureStart.Add(fr.at), CaptureLength: len(fr.data), Length: len(fr.data)}
		if err := w.WritePacket(ci, fr.data); err != nil {
			t.Fatal(err)
		}
	}
}

// readPcap returns the frames of a pcap file and their times.
func readPcap(t *testing.T, path string) ([][]byte, []time.Time) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("%s: link type %v, want Ethernet", path, r.LinkType())
	}
	var frames [][]byte
	var times []time.Time
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: frame %d: %v", path, len(frames)+1, err)
		}
		frames = append(frames, data)
		times = append(times, ci.Timestamp)
	}
	return frames, times
}
