package bench_test

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/bench"
	"github.com/snoopswitch/snoopswitch/internal/testutil"
	"github.com/snoopswitch/snoopswitch/snoop"
)

var (
	macA = net.HardwareAddr{0x02, 0x53, 0x53, 0x00, 0x00, 0x01}
	macB = net.HardwareAddr{0x02, 0x53, 0x53, 0x00, 0x00, 0x02}
)

// TestFrameBytes checks a frame without IP: the addresses, the EtherType
// and zeros up to its length.
func TestFrameBytes(t *testing.T) {
	for _, n := range []int{14, 60, 1496} {
		f := bench.Frame{Dst: macB, Src: macA, EtherType: 0x88b5, Len: n}
		if err := f.Check(); err != nil {
			t.Fatalf("Len %d: %v", n, err)
		}
		want := append(append(append([]byte{}, macB...), macA...), 0x88, 0xb5)
		want = append(want, make([]byte, n-14)...)
		if got := f.Bytes(); !bytes.Equal(got, want) {
			t.Errorf("Len %d: Bytes() = % x, want % x", n, got, want)
		}
	}
}

// TestFrameIPv4 checks a multicast datagram frame byte by byte.
func TestFrameIPv4(t *testing.T) {
	group := netip.MustParseAddr("239.1.1.1")
	mac := snoop.MulticastMAC(group)
	f := bench.Frame{Dst: mac[:], Src: macA, EtherType: 0x0800,
		SrcIP: netip.MustParseAddr("198.18.0.1"), DstIP: group, Len: 60}
	if err := f.Check(); err != nil {
		t.Fatal(err)
	}
	want := []byte{0x01, 0x00, 0x5e, 0x01, 0x01, 0x01, 0x02, 0x53, 0x53, 0x00, 0x00, 0x01, 0x08, 0x00,
		// IPv4: version 4, IHL 5, total length 46, TTL 16, UDP, checksum,
		// 198.18.0.1 -> 239.1.1.1.
		0x45, 0x00, 0x00, 0x2e, 0x00, 0x00, 0x00, 0x00, 0x10, 0x11, 0xf4, 0xa9, 0xc6, 0x12, 0x00, 0x01, 0xef, 0x01, 0x01, 0x01,
		// UDP: port 9 to port 9, length 26, no checksum.
		0x00, 0x09, 0x00, 0x09, 0x00, 0x1a, 0x00, 0x00}
	want = append(want, make([]byte, 18)...)
	b := f.Bytes()
	if !bytes.Equal(b, want) {
		t.Fatalf("Bytes() =\n% x\nwant\n% x", b, want)
	}
	if sum := testutil.Checksum(b[14:34]); sum != 0 {
		t.Errorf("IPv4 header % x does not add up: checksum over it %#04x, want 0", b[14:34], sum)
	}
	var m snoop.Message
	if snoop.IsControl(0x0800, b[14:]) {
		t.Errorf("a UDP datagram classifies as a control packet")
	}
	if err := snoop.Parse(0x0800, b[14:], &m); err == nil && m.Type != snoop.MsgUnknown {
		t.Errorf("UDP datagram parses as %v", m.Type)
	}
}

func TestFrameCheck(t *testing.T) {
	src, group := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("239.1.1.1")
	for name, f := range map[string]bench.Frame{
		"short frame":       {Dst: macB, Src: macA, EtherType: 0x88b5, Len: 13},
		"no source":         {Dst: macB, EtherType: 0x88b5, Len: 60},
		"EUI-64 source":     {Dst: macB, Src: net.HardwareAddr{1, 2, 3, 4, 5, 6, 7, 8}, EtherType: 0x88b5, Len: 60},
		"IP, not IPv4 type": {Dst: macB, Src: macA, EtherType: 0x88b5, SrcIP: src, DstIP: group, Len: 60},
		"IPv6 group":        {Dst: macB, Src: macA, EtherType: 0x0800, SrcIP: src, DstIP: netip.MustParseAddr("ff0e::1"), Len: 60},
		"no IP source":      {Dst: macB, Src: macA, EtherType: 0x0800, DstIP: group, Len: 60},
		"shorter than UDP":  {Dst: macB, Src: macA, EtherType: 0x0800, SrcIP: src, DstIP: group, Len: 41},
	} {
		if err := f.Check(); err == nil {
			t.Errorf("%s: Check() = nil, want an error", name)
		}
	}
}
