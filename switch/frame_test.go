package switching_test

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"github.com/snoopswitch/snoopswitch/fdb"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

// hexFrame parses a frame written as hex with spaces between fields.
func hexFrame(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Golden frames, as captured from hosts in the lab (tcpdump -xx).
var goldenFrames = []struct {
	name string
	hex  string
	tag  switching.VLANTag
	want switching.Frame
}{
	{
		name: "ARP request, broadcast",
		hex:  "ffffffffffff 020000000001 0806 0001 0800 0604 0001 020000000001 c6120001 000000000000 c6120002",
		want: switching.Frame{Class: switching.ClassBroadcast, Dst: fdb.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, Src: fdb.MAC{2, 0, 0, 0, 0, 1}, EtherType: 0x0806, L3: 14},
	},
	{
		name: "IPv4 unicast (ICMP echo)",
		hex:  "020000000002 020000000001 0800 4500 0054 1234 4000 4001 0000 c6120001 c6120002 0800 0000 0001 0001",
		want: switching.Frame{Class: switching.ClassUnicast, Dst: fdb.MAC{2, 0, 0, 0, 0, 2}, Src: fdb.MAC{2, 0, 0, 0, 0, 1}, EtherType: 0x0800, L3: 14},
	},
	{
		name: "IPv6 neighbour solicitation to solicited-node multicast",
		hex:  "3333ff000002 020000000001 86dd 6000 0000 0020 3aff 20010db8000000000000000000000001 ff0200000000000000000001ff000002",
		want: switching.Frame{Class: switching.ClassIPMulticast, Dst: fdb.MAC{0x33, 0x33, 0xff, 0, 0, 2}, Src: fdb.MAC{2, 0, 0, 0, 0, 1}, EtherType: 0x86dd, L3: 14,
			Group: netip.MustParseAddr("ff02::1:ff00:2"), Source: netip.MustParseAddr("2001:db8::1")},
	},
	{
		name: "802.1Q tag in the bytes, VLAN 100, priority 5",
		hex:  "020000000002 020000000001 8100 a064 0800 4500 0014 0000 0000 4001 0000 c6120001 c6120002",
		want: switching.Frame{Class: switching.ClassUnicast, Dst: fdb.MAC{2, 0, 0, 0, 0, 2}, Src: fdb.MAC{2, 0, 0, 0, 0, 1}, VLAN: 100, Tagged: true, EtherType: 0x0800, L3: 18},
	},
	{
		name: "priority tag (VID 0) stripped by the kernel",
		hex:  "020000000002 020000000001 0800 4500 0014 0000 0000 4001 0000 c6120001 c6120002",
		tag:  switching.VLANTag{Present: true, TPID: 0x8100, TCI: 0x6000},
		want: switching.Frame{Class: switching.ClassUnicast, Dst: fdb.MAC{2, 0, 0, 0, 0, 2}, Src: fdb.MAC{2, 0, 0, 0, 0, 1}, VLAN: 0, Tagged: true, EtherType: 0x0800, L3: 14},
	},
	{
		name: "Q-in-Q: S-tag stripped, C-tag 20 in the bytes",
		hex:  "020000000002 020000000001 8100 0014 86dd 6000000000003b40",
		tag:  switching.VLANTag{Present: true, TPID: 0x88a8, TCI: 300},
		want: switching.Frame{Class: switching.ClassUnicast, Dst: fdb.MAC{2, 0, 0, 0, 0, 2}, Src: fdb.MAC{2, 0, 0, 0, 0, 1}, VLAN: 300, Tagged: true, EtherType: 0x86dd, L3: 18},
	},
	{
		name: "IPv4 multicast data to 225.1.1.1",
		hex:  "01005e010101 020000000001 0800 4500 001c 0000 0000 0111 0000 c6120001 e1010101",
		want: switching.Frame{Class: switching.ClassIPMulticast, Dst: fdb.MAC{1, 0, 0x5e, 1, 1, 1}, Src: fdb.MAC{2, 0, 0, 0, 0, 1}, EtherType: 0x0800, L3: 14,
			Group: netip.MustParseAddr("225.1.1.1"), Source: netip.MustParseAddr("198.18.0.1")},
	},
	{
		name: "IPv4 unicast to a multicast MAC (NLB-style): plain multicast",
		hex:  "03bfc6120002 020000000001 0800 4500 001c 0000 0000 4011 0000 c6120001 c6120002",
		want: switching.Frame{Class: switching.ClassMulticast, Dst: fdb.MAC{3, 0xbf, 0xc6, 0x12, 0, 2}, Src: fdb.MAC{2, 0, 0, 0, 0, 1}, EtherType: 0x0800, L3: 14},
	},
	{
		name: "IPv4 header with IHL 4: not trusted as IP multicast",
		hex:  "01005e010101 020000000001 0800 4400 001c 0000 0000 0111 0000 c6120001 e1010101",
		want: switching.Frame{Class: switching.ClassMulticast, Dst: fdb.MAC{1, 0, 0x5e, 1, 1, 1}, Src: fdb.MAC{2, 0, 0, 0, 0, 1}, EtherType: 0x0800, L3: 14},
	},
	{
		name: "non-IP multicast (Cisco CDP/VTP group)",
		hex:  "01000ccccccc 020000000001 0020 aaaa 0300 000c 2000",
		want: switching.Frame{Class: switching.ClassMulticast, Dst: fdb.MAC{1, 0, 0x0c, 0xcc, 0xcc, 0xcc}, Src: fdb.MAC{2, 0, 0, 0, 0, 1}, EtherType: 0x0020, L3: 14},
	},
	{name: "runt", hex: "ffffffffffff 0200000000", want: switching.Frame{}},
	{name: "802.1Q tag cut short", hex: "020000000002 020000000001 8100 00", want: switching.Frame{}},
	{name: "inner tag cut short", hex: "020000000002 020000000001 88a8 0064 8100 00", want: switching.Frame{}},
}

func TestDecodeGoldenFrames(t *testing.T) {
	for _, g := range goldenFrames {
		var f switching.Frame
		f.Decode(hexFrame(t, g.hex), g.tag)
		if f != g.want {
			t.Errorf("%s:\n got %+v\nwant %+v", g.name, f, g.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, g := range goldenFrames {
		f.Add(hexFrame(f, g.hex), g.tag.Present, g.tag.TCI)
	}
	// Seeds for the edges: an empty frame; a stack of tags with nothing after.
	f.Add([]byte{}, false, uint16(0))
	f.Add(hexFrame(f, "020000000002 020000000001 8100 0001 8100 0002 9100 0003 88a8"), false, uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, tagged bool, tci uint16) {
		var fr switching.Frame
		fr.Decode(b, switching.VLANTag{Present: tagged, TCI: tci})
		if fr.Class == switching.ClassInvalid {
			if fr != (switching.Frame{}) {
				t.Fatalf("invalid frame half-filled: %+v", fr)
			}
			return
		}
		if fr.L3 > len(b) || fr.L3 < 14 {
			t.Fatalf("L3 offset %d outside a %d-byte frame", fr.L3, len(b))
		}
		if fr.VLAN > 0x0fff {
			t.Fatalf("VLAN %d has more than 12 bits", fr.VLAN)
		}
		if fr.Class == switching.ClassIPMulticast && (!fr.Group.IsMulticast() || !fr.Source.IsValid()) {
			t.Fatalf("IP multicast frame with group %v source %v", fr.Group, fr.Source)
		}
		if fr.Class != switching.ClassIPMulticast && (fr.Group.IsValid() || fr.Source.IsValid()) {
			t.Fatalf("%v frame with IP addresses set: %+v", fr.Class, fr)
		}
	})
}
