package switching

// Packet is one received frame as the engine sees it, with what the kernel
// took from it on the way in. Data usually points into a receive ring and is
// only valid until the batch it came in has been handled.
type Packet struct {
	// Data is the frame from its destination MAC on, without the outer tag
	// the kernel stripped (that one is in Tag).
	Data []byte
	// Tag is the outer VLAN tag the kernel moved out of the frame into the
	// packet metadata (tp_vlan_tci). It is put back when the frame leaves.
	Tag VLANTag
	// Offload carries the checksum-offload and GSO state of the frame. It is
	// handed to the kernel with the frame on transmit; see VNetHdr.
	Offload VNetHdr
	// Len is the frame's length on the wire as the kernel reported it; it
	// exceeds len(Data) only if the frame was truncated on receive.
	Len int
}

// VLANTag is an 802.1Q/802.1ad tag held outside the frame bytes.
type VLANTag struct {
	// Present says the kernel stripped a tag from this frame. A priority tag
	// (TCI with VLAN ID 0) is a tag too and is restored like any other.
	Present bool
	// TPID is the tag protocol identifier: 0x8100 for 802.1Q, 0x88a8 for
	// 802.1ad.
	TPID uint16
	// TCI is priority (3 bits), drop eligible (1 bit) and VLAN ID (12 bits).
	TCI uint16
}

// Bytes returns the 4 bytes of the tag as they appear on the wire, where a
// backend puts the tag back on a frame it sends. A tag whose TPID the
// kernel did not report is 802.1Q's.
func (t VLANTag) Bytes() [4]byte {
	tpid := t.TPID
	if tpid == 0 {
		tpid = etherTypeVLAN
	}
	return [4]byte{byte(tpid >> 8), byte(tpid), byte(t.TCI >> 8), byte(t.TCI)}
}
