package bench_test

import (
	"bytes"
	"net"
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/bench"
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

func TestTrafgenConfigErrors(t *testing.T) {
	for name, f := range map[string]bench.TrafgenFrame{
		"short frame":   {Dst: macB, Src: macA, EtherType: 0x88b5, Len: 13},
		"no source":     {Dst: macB, EtherType: 0x88b5, Len: 60},
		"EUI-64 source": {Dst: macB, Src: net.HardwareAddr{1, 2, 3, 4, 5, 6, 7, 8}, EtherType: 0x88b5, Len: 60},
	} {
		if c, err := f.Config(); err == nil {
			t.Errorf("%s: Config() = %q, want an error", name, c)
		}
	}
}
