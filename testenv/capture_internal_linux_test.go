package testenv

import (
	"bytes"
	"encoding/binary"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// auxdata builds a PACKET_AUXDATA control message.
func auxdata(status uint32, tci, tpid uint16) []byte {
	b := make([]byte, unix.CmsgSpace(sizeofTpacketAuxdata))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = unix.SOL_PACKET, unix.PACKET_AUXDATA
	h.SetLen(unix.CmsgLen(sizeofTpacketAuxdata))
	d := b[unix.CmsgLen(0):]
	binary.NativeEndian.PutUint32(d[0:], status)
	binary.NativeEndian.PutUint16(d[16:], tci)
	binary.NativeEndian.PutUint16(d[18:], tpid)
	return b
}

func TestWithVLANTag(t *testing.T) {
	untagged := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x00, 0xaa}
	tagged := func(tpid, tci uint16) []byte {
		return append(append(append([]byte{}, untagged[:12]...), byte(tpid>>8), byte(tpid), byte(tci>>8), byte(tci)), untagged[12:]...)
	}
	for _, tc := range []struct {
		name string
		oob  []byte
		want []byte
	}{
		// Seed comments name the edge case each covers.
		{"no control message", nil, untagged},
		{"no tag", auxdata(0, 0, 0), untagged},
		{"tag with TPID", auxdata(unix.TP_STATUS_VLAN_VALID|unix.TP_STATUS_VLAN_TPID_VALID, 0x6064, 0x88a8), tagged(0x88a8, 0x6064)},
		{"tag without TPID defaults to 802.1Q", auxdata(unix.TP_STATUS_VLAN_VALID, 100, 0), tagged(0x8100, 100)},
		{"priority tag, TCI 0, marked valid", auxdata(unix.TP_STATUS_VLAN_VALID|unix.TP_STATUS_VLAN_TPID_VALID, 0, 0x8100), tagged(0x8100, 0)},
		{"old kernel: TCI without VLAN_VALID", auxdata(0, 7, 0), tagged(0x8100, 7)},
		{"runt frame left alone", auxdata(unix.TP_STATUS_VLAN_VALID, 5, 0), nil},
	} {
		in := untagged
		if tc.want == nil {
			in, tc.want = untagged[:10], untagged[:10]
		}
		got := withVLANTag(in, tc.oob)
		if !bytes.Equal(got, tc.want) {
			t.Errorf("%s: got % x, want % x", tc.name, got, tc.want)
		}
		if len(got) > 0 && &got[0] == &in[0] {
			t.Errorf("%s: result aliases the receive buffer", tc.name)
		}
	}
}
