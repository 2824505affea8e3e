// The file name does not constrain the build (the OS must come last,
// before _test), and ringSender is Linux's.

//go:build linux

package afpacket

import (
	"bytes"
	"encoding/hex"
	"testing"
	"unsafe"

	switching "github.com/snoopswitch/snoopswitch/switch"
	"golang.org/x/sys/unix"
)

// gather returns the bytes message i of s would put on the wire: the
// concatenation of its gather list.
func gather(s *ringSender, i int) []byte {
	var out []byte
	h := s.msgs[i].Hdr
	iovs := unsafe.Slice(h.Iov, h.Iovlen)
	for _, v := range iovs {
		if v.Len > 0 {
			out = append(out, unsafe.Slice(v.Base, v.Len)...)
		}
	}
	return out
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSenderPutsTheTagBack(t *testing.T) {
	frame := mustHex(t, "020000000002"+"020000000001"+"0800"+"45000014")
	off := switching.VNetHdr{Flags: 1 /* VIRTIO_NET_HDR_F_NEEDS_CSUM */, GSOType: 1, HdrLen: 54, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	cases := []struct {
		name    string
		tag     switching.VLANTag
		wire    string // after the virtio-net header
		wantOff switching.VNetHdr
	}{
		{"untagged", switching.VLANTag{}, "020000000002020000000001080045000014", off},
		{"802.1Q VLAN 100 prio 5", switching.VLANTag{Present: true, TPID: 0x8100, TCI: 0xa064}, "0200000000020200000000018100a064080045000014", off.Shifted(4)},
		{"priority tag, TCI 0", switching.VLANTag{Present: true, TPID: 0x8100, TCI: 0}, "02000000000202000000000181000000080045000014", off.Shifted(4)},
		{"802.1ad S-tag", switching.VLANTag{Present: true, TPID: 0x88a8, TCI: 7}, "02000000000202000000000188a80007080045000014", off.Shifted(4)},
		{"TPID not reported: 802.1Q", switching.VLANTag{Present: true, TCI: 9}, "02000000000202000000000181000009080045000014", off.Shifted(4)},
	}
	for _, c := range cases {
		s := (&Port{ringFD: -1}).newMmsgSender()
		p := switching.Packet{Data: frame, Tag: c.tag, Offload: off, Len: len(frame)}
		if !s.Queue(&p) {
			t.Fatal("Queue refused the first frame")
		}
		got := gather(s, 0)
		var gotOff switching.VNetHdr
		gotOff.Decode(got[:switching.VNetHdrLen])
		if gotOff != c.wantOff {
			t.Errorf("%s: virtio-net header %+v, want %+v", c.name, gotOff, c.wantOff)
		}
		if w := mustHex(t, c.wire); !bytes.Equal(got[switching.VNetHdrLen:], w) {
			t.Errorf("%s: wire bytes\n %x\nwant %x", c.name, got[switching.VNetHdrLen:], w)
		}
		if s.sizes[0] != len(c.wire)/2 {
			t.Errorf("%s: counted %d bytes, want %d", c.name, s.sizes[0], len(c.wire)/2)
		}
		// The TX ring path writes the same bytes into its slot.
		if ring := appendWire(nil, &p); !bytes.Equal(ring, got) {
			t.Errorf("%s: TX ring slot\n %x\nsendmmsg\n %x", c.name, ring, got)
		}
	}
	if c := (switching.VNetHdr{CsumStart: 34}).Shifted(4); c.CsumStart != 34 {
		t.Errorf("csum_start moved without NEEDS_CSUM: %+v", c)
	}
}

func TestSenderBatchIsBounded(t *testing.T) {
	s := (&Port{ringFD: -1}).newMmsgSender()
	p := switching.Packet{Data: make([]byte, 60), Len: 60}
	for i := range sendBatch {
		if !s.Queue(&p) {
			t.Fatalf("Queue refused frame %d of a batch of %d", i, sendBatch)
		}
	}
	if s.Queue(&p) {
		t.Fatal("Queue took more frames than the batch holds")
	}
}

func TestParseAuxdata(t *testing.T) {
	ctl := make([]byte, unix.CmsgSpace(sizeofTpacketAuxdata))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&ctl[0]))
	h.Level, h.Type = unix.SOL_PACKET, unix.PACKET_AUXDATA
	h.SetLen(unix.CmsgLen(sizeofTpacketAuxdata))
	aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&ctl[unix.CmsgLen(0)]))
	aux.Status = unix.TP_STATUS_VLAN_VALID | unix.TP_STATUS_VLAN_TPID_VALID
	aux.Vlan_tci, aux.Vlan_tpid, aux.Len = 0, 0x88a8, 1514

	p := switching.Packet{Len: 1000}
	parseAuxdata(ctl, &p)
	if want := (switching.VLANTag{Present: true, TPID: 0x88a8}); p.Tag != want || p.Len != 1514 {
		t.Errorf("tag %+v len %d, want %+v len 1514", p.Tag, p.Len, want)
	}
	p = switching.Packet{Len: 60}
	parseAuxdata(ctl[:8], &p)
	if p.Tag.Present || p.Len != 60 {
		t.Errorf("short control message changed the packet: %+v", p)
	}
}

func TestTxRingSenderKeepsOrderAroundBigFrames(t *testing.T) {
	port := &Port{ringFD: -1}
	s := &txRingSender{ring: &txRing{}, pkts: make([]switching.Packet, 0, sendBatch), big: port.newMmsgSender()}
	small := switching.Packet{Data: make([]byte, 60), Len: 60}
	super := switching.Packet{Data: make([]byte, 65000), Len: 65000, Offload: switching.VNetHdr{GSOType: 1, GSOSize: 1448}}
	if !s.Queue(&small) || !s.Queue(&super) {
		t.Fatal("Queue refused a frame into an empty batch")
	}
	if len(s.pkts) != 1 || s.big.n != 1 {
		t.Fatalf("small frames in ring batch %d, big ones %d; want 1 and 1", len(s.pkts), s.big.n)
	}
	if s.Queue(&small) {
		t.Error("a small frame was queued behind a waiting super-frame: it would overtake it")
	}
}
