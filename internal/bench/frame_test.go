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

func TestTrafgenConfig(t *testing.T) {
	tests := []struct {
		name string
		len  int
		want string
	}{
		{"64-byte frame", 60, "{ 0x02, 0x53, 0x53, 0x00, 0x00, 0x02, 0x02, 0x53, 0x53, 0x00, 0x00, 0x01, c16(0x88b5), fill(0x00, 46) }\n"},
		{"1500-byte frame", 1496, "{ 0x02, 0x53, 0x53, 0x00, 0x00, 0x02, 0x02, 0x53, 0x53, 0x00, 0x00, 0x01, c16(0x88b5), fill(0x00, 1482) }\n"},
		// A bare header has nothing to fill; fill(0x00, 0) would be an error
		// in trafgen.
		{"header only", 14, "{ 0x02, 0x53, 0x53, 0x00, 0x00, 0x02, 0x02, 0x53, 0x53, 0x00, 0x00, 0x01, c16(0x88b5) }\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := bench.TrafgenFrame{Dst: macB, Src: macA, EtherType: 0x88b5, Len: tt.len}
			got, err := f.Config()
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Config() =\n%q\nwant\n%q", got, tt.want)
			}
			// The same frame, as SendFrame gets it for the probes.
			b := f.Bytes()
			if len(b) != tt.len {
				t.Errorf("Bytes() is %d bytes, want %d", len(b), tt.len)
			}
			want := append(append(append([]byte{}, macB...), macA...), 0x88, 0xb5)
			if !bytes.Equal(b[:14], want) {
				t.Errorf("Bytes() header % x, want % x", b[:14], want)
			}
			if bytes.ContainsFunc(b[14:], func(r rune) bool { return r != 0 }) {
				t.Errorf("Bytes() payload is not all zeros")
			}
		})
	}
}

// TestTrafgenConfigIPv4 checks a multicast datagram frame: the headers are
// spelled out byte by byte in the configuration, and they are the ones
// Bytes builds.
func TestTrafgenConfigIPv4(t *testing.T) {
	group := netip.MustParseAddr("239.1.1.1")
	mac := snoop.MulticastMAC(group)
	f := bench.TrafgenFrame{Dst: mac[:], Src: macA, EtherType: 0x0800,
		SrcIP: netip.MustParseAddr("198.18.0.1"), DstIP: group, Len: 60}
	got, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	const want = "{ 0x01, 0x00, 0x5e, 0x01, 0x01, 0x01, 0x02, 0x53, 0x53, 0x00, 0x00, 0x01, c16(0x0800), " +
		// IPv4: version 4, IHL 5, total length 46, TTL 16, UDP, checksum,
		// 198.18.0.1 -> 239.1.1.1.
		"0x45, 0x00, 0x00, 0x2e, 0x00, 0x00, 0x00, 0x00, 0x10, 0x11, 0xf4, 0xa9, 0xc6, 0x12, 0x00, 0x01, 0xef, 0x01, 0x01, 0x01, " +
		// UDP: port 9 to port 9, length 26, no checksum.
		"0x00, 0x09, 0x00, 0x09, 0x00, 0x1a, 0x00, 0x00, fill(0x00, 18) }\n"
	if got != want {
		t.Errorf("Config() =\n%q\nwant\n%q", got, want)
	}
	b := f.Bytes()
	if len(b) != 60 {
		t.Fatalf("Bytes() is %d bytes, want 60", len(b))
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

func TestTrafgenConfigErrors(t *testing.T) {
	src, group := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("239.1.1.1")
	for name, f := range map[string]bench.TrafgenFrame{
		"short frame":       {Dst: macB, Src: macA, EtherType: 0x88b5, Len: 13},
		"no source":         {Dst: macB, EtherType: 0x88b5, Len: 60},
		"EUI-64 source":     {Dst: macB, Src: net.HardwareAddr{1, 2, 3, 4, 5, 6, 7, 8}, EtherType: 0x88b5, Len: 60},
		"IP, not IPv4 type": {Dst: macB, Src: macA, EtherType: 0x88b5, SrcIP: src, DstIP: group, Len: 60},
		"IPv6 group":        {Dst: macB, Src: macA, EtherType: 0x0800, SrcIP: src, DstIP: netip.MustParseAddr("ff0e::1"), Len: 60},
		"no IP source":      {Dst: macB, Src: macA, EtherType: 0x0800, DstIP: group, Len: 60},
		"shorter than UDP":  {Dst: macB, Src: macA, EtherType: 0x0800, SrcIP: src, DstIP: group, Len: 41},
	} {
		if c, err := f.Config(); err == nil {
			t.Errorf("%s: Config() = %q, want an error", name, c)
		}
	}
}
