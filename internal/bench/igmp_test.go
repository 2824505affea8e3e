package bench_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/bench"
	"github.com/snoopswitch/snoopswitch/internal/testutil"
	"github.com/snoopswitch/snoopswitch/snoop"
)

// TestIGMPv3JoinFrames builds the reports for 400 groups and reads them back
// with the switch's own parser: every group once, as an any-source join,
// in reports a switch and a Linux bridge accept (Router Alert, TTL 1, to
// 224.0.0.22 under its MAC, checksums right, no frame over 1500 bytes of IP).
func TestIGMPv3JoinFrames(t *testing.T) {
	src := netip.MustParseAddr("198.18.0.6")
	var groups []netip.Addr
	g := netip.MustParseAddr("239.100.0.0")
	for range 400 {
		groups = append(groups, g)
		g = g.Next()
	}
	frames, err := bench.IGMPv3JoinFrames(macA, src, groups)
	if err != nil {
		t.Fatal(err)
	}
	// 183 records fill a report: 183 + 183 + 34.
	if len(frames) != 3 {
		t.Errorf("%d frames for 400 groups, want 3", len(frames))
	}
	var got []netip.Addr
	for i, f := range frames {
		if want := []byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0x16}; !slices.Equal(f[:6], want) {
			t.Errorf("frame %d: destination % x, want % x", i, f[:6], want)
		}
		if !slices.Equal(f[6:12], macA) || f[12] != 0x08 || f[13] != 0x00 {
			t.Errorf("frame %d: source % x, EtherType % x", i, f[6:12], f[12:14])
		}
		ip := f[14:]
		if len(ip) > 1500 {
			t.Errorf("frame %d: %d bytes of IP, more than an MTU of 1500", i, len(ip))
		}
		ihl := int(ip[0]&0x0f) * 4
		if sum := testutil.Checksum(ip[:ihl]); sum != 0 {
			t.Errorf("frame %d: IPv4 header checksum does not add up (%#04x)", i, sum)
		}
		if sum := testutil.Checksum(ip[ihl:]); sum != 0 {
			t.Errorf("frame %d: IGMP checksum does not add up (%#04x)", i, sum)
		}
		var m snoop.Message
		if err := snoop.Parse(0x0800, ip, &m); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if m.Type != snoop.MsgIGMPv3Report || !m.RouterAlert || m.TTL != 1 || m.Src != src || m.Dst != netip.MustParseAddr("224.0.0.22") {
			t.Errorf("frame %d: %v from %v to %v, TTL %d, Router Alert %v; want an IGMPv3 report from %v to 224.0.0.22, TTL 1, Router Alert",
				i, m.Type, m.Src, m.Dst, m.TTL, m.RouterAlert, src)
		}
		for _, r := range m.Records {
			if r.Type != snoop.ModeIsExclude || len(r.Sources) != 0 {
				t.Errorf("frame %d: record %v with %d sources, want MODE_IS_EXCLUDE {}", i, r.Type, len(r.Sources))
			}
			got = append(got, r.Group)
		}
	}
	if !slices.Equal(got, groups) {
		t.Errorf("the reports join %d groups, want the %d given in order", len(got), len(groups))
	}
}

func TestIGMPv3JoinFramesErrors(t *testing.T) {
	src := netip.MustParseAddr("198.18.0.6")
	for name, groups := range map[string][]netip.Addr{
		"unicast group": {netip.MustParseAddr("198.18.0.1")},
		"IPv6 group":    {netip.MustParseAddr("ff0e::1")},
	} {
		if _, err := bench.IGMPv3JoinFrames(macA, src, groups); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := bench.IGMPv3JoinFrames(macA, netip.MustParseAddr("2001:db8::1"), nil); err == nil {
		t.Errorf("IPv6 source: no error")
	}
}
