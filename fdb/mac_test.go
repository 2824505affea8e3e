package fdb_test

import (
	"strings"
	"testing"

	"github.com/snoopswitch/snoopswitch/fdb"
)

func TestParseMACRoundTrip(t *testing.T) {
	tests := []struct {
		in   string
		want fdb.MAC
		str  string
	}{
		{"02:00:00:00:00:01", fdb.MAC{0x02, 0, 0, 0, 0, 0x01}, "02:00:00:00:00:01"},
		{"AA:BB:CC:DD:EE:FF", fdb.MAC{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}, "aa:bb:cc:dd:ee:ff"},
		{"02-1a-2b-3c-4d-5e", fdb.MAC{0x02, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e}, "02:1a:2b:3c:4d:5e"},
		{"021a.2b3c.4d5e", fdb.MAC{0x02, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e}, "02:1a:2b:3c:4d:5e"},
		{"00:00:00:00:00:00", fdb.MAC{}, "00:00:00:00:00:00"},
		{"ff:ff:ff:ff:ff:ff", fdb.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "ff:ff:ff:ff:ff:ff"},
	}
	for _, tt := range tests {
		got, err := fdb.ParseMAC(tt.in)
		if err != nil {
			t.Fatalf("ParseMAC(%q): %v", tt.in, err)
		}
		if got != tt.want {
			t.Errorf("ParseMAC(%q) = %v, want %v", tt.in, got, tt.want)
		}
		if s := got.String(); s != tt.str {
			t.Errorf("ParseMAC(%q).String() = %q, want %q", tt.in, s, tt.str)
		}
		again, err := fdb.ParseMAC(got.String())
		if err != nil || again != got {
			t.Errorf("ParseMAC(%q) = %v, %v; want %v", got.String(), again, err, got)
		}
	}
}

func TestParseMACErrors(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", `fdb: "" is not a MAC address`},
		{"02:00:00:00:00", `fdb: "02:00:00:00:00" is not a MAC address`},
		{"02:00:00:00:00:0g", `is not a MAC address`},
		// EUI-64: net.ParseMAC accepts it, an Ethernet port never sees it.
		{"02:00:00:00:00:00:00:01", `fdb: "02:00:00:00:00:00:00:01" has 8 bytes; an Ethernet MAC has 6`},
	}
	for _, tt := range tests {
		_, err := fdb.ParseMAC(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseMAC(%q) error = %v, want it to contain %q", tt.in, err, tt.want)
		}
	}
}

func TestMACClass(t *testing.T) {
	tests := []struct {
		mac             fdb.MAC
		multicast, zero bool
	}{
		{fdb.MAC{0x02, 0, 0, 0, 0, 1}, false, false},
		{fdb.MAC{0x01, 0x00, 0x5e, 0x01, 0x01, 0x01}, true, false}, // IPv4 multicast
		{fdb.MAC{0x33, 0x33, 0, 0, 0, 1}, true, false},             // IPv6 multicast
		{fdb.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, true, false}, // broadcast is a group address
		{fdb.MAC{}, false, true},
		{fdb.MAC{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff}, false, false}, // only the I/G bit decides
	}
	for _, tt := range tests {
		if got := tt.mac.IsMulticast(); got != tt.multicast {
			t.Errorf("%v.IsMulticast() = %v, want %v", tt.mac, got, tt.multicast)
		}
		if got := tt.mac.IsZero(); got != tt.zero {
			t.Errorf("%v.IsZero() = %v, want %v", tt.mac, got, tt.zero)
		}
	}
}
