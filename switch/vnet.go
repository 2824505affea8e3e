package switching

import "encoding/binary"

// VNetHdr is the virtio-net header (struct virtio_net_hdr, 10 bytes) that
// the kernel puts in front of every frame on a packet socket with
// PACKET_VNET_HDR set, and reads in front of every frame written to one.
//
// Why the switch needs it. A host behind a veth (or a VM behind a tap) hands
// its stack's frames to the switch-side interface as they are inside the
// kernel: TCP segments up to 64 KiB long that were never cut to the MTU (GSO
// "super-frames"), and frames whose TCP/UDP checksum is only partially
// computed, left for hardware that does not exist on veth (CHECKSUM_PARTIAL).
// A plain packet socket sees the raw bytes and loses the metadata: a
// super-frame larger than the egress MTU cannot be sent (EMSGSIZE), and a
// partial checksum is delivered to the other host as a bad checksum, so TCP
// stalls unless every host turns its offloads off.
//
// With PACKET_VNET_HDR the metadata travels with the frame, as it does on
// QEMU's tap path: on receive the kernel fills gso_type/gso_size for a
// super-frame and NEEDS_CSUM with csum_start/csum_offset for a partial
// checksum; on transmit it rebuilds the same skb from the header, so the
// super-frame is segmented (or passed on whole to a device that can take it,
// like the next veth) and the checksum is completed only where it must be.
// The frames leave exactly as they arrived, and TCP runs at full speed with
// the hosts' offloads left at their defaults.
//
// The header is in the host's byte order (the kernel uses vio_le(), which is
// little-endian on little-endian hosts: every platform this runs on).
type VNetHdr struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16
	GSOSize    uint16
	CsumStart  uint16
	CsumOffset uint16
}

// VNetHdrLen is sizeof(struct virtio_net_hdr).
const VNetHdrLen = 10

// vnetFlagNeedsCsum is VIRTIO_NET_HDR_F_NEEDS_CSUM: csum_start and
// csum_offset say where the checksum still to be computed lies.
const vnetFlagNeedsCsum = 1

// Decode reads the header from the first VNetHdrLen bytes of b, as a
// packet socket with PACKET_VNET_HDR puts it in front of a received frame.
func (h *VNetHdr) Decode(b []byte) {
	_ = b[VNetHdrLen-1]
	h.Flags = b[0]
	h.GSOType = b[1]
	h.HdrLen = binary.NativeEndian.Uint16(b[2:])
	h.GSOSize = binary.NativeEndian.Uint16(b[4:])
	h.CsumStart = binary.NativeEndian.Uint16(b[6:])
	h.CsumOffset = binary.NativeEndian.Uint16(b[8:])
}

// Encode writes the header into the first VNetHdrLen bytes of b, as a
// packet socket with PACKET_VNET_HDR reads it in front of a frame to send.
func (h *VNetHdr) Encode(b []byte) {
	_ = b[VNetHdrLen-1]
	b[0] = h.Flags
	b[1] = h.GSOType
	binary.NativeEndian.PutUint16(b[2:], h.HdrLen)
	binary.NativeEndian.PutUint16(b[4:], h.GSOSize)
	binary.NativeEndian.PutUint16(b[6:], h.CsumStart)
	binary.NativeEndian.PutUint16(b[8:], h.CsumOffset)
}

// Shifted returns the header for the same frame with n bytes inserted after
// the MAC addresses (a VLAN tag put back): the offsets it holds are counted
// from the start of the frame, so they move by n.
func (h VNetHdr) Shifted(n uint16) VNetHdr {
	if h.Flags&vnetFlagNeedsCsum != 0 {
		h.CsumStart += n
	}
	if h.HdrLen != 0 {
		h.HdrLen += n
	}
	return h
}
