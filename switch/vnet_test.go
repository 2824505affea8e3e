package switching_test

import (
	"testing"

	switching "github.com/snoopswitch/snoopswitch/switch"
)

func TestVNetHdrRoundTrip(t *testing.T) {
	h := switching.VNetHdr{Flags: 1, GSOType: 4, HdrLen: 0x1234, GSOSize: 1448, CsumStart: 0x22, CsumOffset: 0x10}
	var b [switching.VNetHdrLen]byte
	h.Encode(b[:])
	var got switching.VNetHdr
	got.Decode(b[:])
	if got != h {
		t.Errorf("round trip %+v -> %x -> %+v", h, b, got)
	}
}
