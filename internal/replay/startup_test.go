package replay_test

import (
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/snoopswitch/snoopswitch/internal/replay"
	"github.com/snoopswitch/snoopswitch/snoop"
)

// udpData6 is a UDP datagram from src to an IPv6 group, hop limit 8.
func udpData6(t testing.TB, srcMAC net.HardwareAddr, src, group netip.Addr, payload string) []byte {
	t.Helper()
	g := group.As16()
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: net.HardwareAddr{0x33, 0x33, g[12], g[13], g[14], g[15]}, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, HopLimit: 8, NextHeader: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: group.AsSlice()}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 5000}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestReplayStartupWindowFollowsTheCapturesClock: the start-up window ends
// on the capture's clock when the hosts have answered the querier's first
// general query. Router r (a router port) queries IGMP at 0 s with a 1 s Max Response
// Time: data to a group nobody joined reaches host h until 0 + 1 s +
// LearningMargin = 1.5 s, and only r from then on. There is no MLD
// querier: the switch's own MLD query at 0.1 s (Max Response Time 10 s)
// keeps MLD learning, and unregistered IPv6 data flooded, until 10.6 s.
func TestReplayStartupWindowFollowsTheCapturesClock(t *testing.T) {
	r, h, src := hostMAC(1), hostMAC(2), hostMAC(9)
	rIP, s4, s6 := addr("10.0.0.1"), addr("10.0.0.9"), addr("2001:db8::9")
	g4, g6 := addr("239.3.3.3"), addr("ff05::3:3")
	ms := time.Millisecond
	end := time.Second + snoop.LearningMargin
	frames := []frame{{"r", 0, igmpV3Query(t, r, rIP, addr("0.0.0.0"), 10)}}
	var want4, want6 []time.Duration
	for _, at := range []time.Duration{1000 * ms, 1400 * ms, end - ms, end + 100*ms, 5 * time.Second, 10500 * ms, 10700 * ms} {
		frames = append(frames, frame{"src", at, udpData(t, src, s4, g4, "unregistered")}, frame{"src", at + ms, udpData6(t, src, s6, g6, "unregistered")})
		if at < end {
			want4 = append(want4, at)
		}
		if at < 10600*ms {
			want6 = append(want6, at+ms)
		}
	}
	frames = append(frames, frame{"h", 20 * time.Second, igmpV2(t, h, addr("10.0.0.2"), 0x16, addr("239.7.7.7"))})
	dir := t.TempDir()
	path := filepath.Join(dir, "startup.pcapng")
	writePcapng(t, path, []string{"r", "h", "src"}, frames)
	out := filepath.Join(dir, "out")
	rep := mustReplay(t, replay.Options{Capture: path, WriteDir: out, RouterPorts: []string{"r"}})

	got, times := readPcap(t, filepath.Join(out, "h.pcap"))
	var got4, got6 []time.Duration
	for i, f := range got {
		switch {
		case len(f) > 34 && f[12] == 0x08 && f[23] == 17:
			got4 = append(got4, times[i].Sub(captureStart))
		case len(f) > 54 && f[12] == 0x86 && f[20] == 17:
			got6 = append(got6, times[i].Sub(captureStart))
		}
	}
	if !slices.Equal(got4, want4) {
		t.Errorf("h got unregistered IPv4 data at %v, want at %v (until %v)", got4, want4, end)
	}
	if !slices.Equal(got6, want6) {
		t.Errorf("h got unregistered IPv6 data at %v, want at %v (until 10.6s)", got6, want6)
	}
	for _, q := range rep.Querier {
		if q.VLAN == 0 && q.Unregistered != "constrained" {
			t.Errorf("at the end, VLAN 0 %s: unregistered %q, want constrained", q.Family, q.Unregistered)
		}
	}
}
