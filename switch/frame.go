package switching

import (
	"encoding/binary"
	"net/netip"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// The tag protocol identifiers the classifier skips.
const (
	etherTypeVLAN  = 0x8100 // IEEE 802.1Q C-tag
	etherTypeSVLAN = 0x88a8 // IEEE 802.1ad S-tag
	etherTypeQinQ  = 0x9100 // pre-standard S-tag, still seen in the wild

	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
)

// FrameClass is what the forwarding decision needs to know about a frame.
type FrameClass uint8

const (
	// ClassInvalid is a frame too short to carry an Ethernet header (and any
	// tag it announces). It is dropped as malformed.
	ClassInvalid FrameClass = iota
	// ClassUnicast has an individual destination MAC.
	ClassUnicast
	// ClassBroadcast is sent to ff:ff:ff:ff:ff:ff.
	ClassBroadcast
	// ClassMulticast has a group destination MAC other than broadcast and is
	// not IP multicast (or its IP header is not one to trust): it is
	// flooded, as RFC 4541 s2.1.2 asks for non-IP multicast.
	ClassMulticast
	// ClassIPMulticast is an IPv4 or IPv6 packet to a multicast group, sent
	// to a group MAC: the snooped kind. Group and Source are valid.
	ClassIPMulticast
)

var frameClassNames = [...]string{
	ClassInvalid:     "invalid",
	ClassUnicast:     "unicast",
	ClassBroadcast:   "broadcast",
	ClassMulticast:   "multicast",
	ClassIPMulticast: "ip-multicast",
}

func (c FrameClass) String() string {
	if int(c) < len(frameClassNames) {
		return frameClassNames[c]
	}
	return "unknown"
}

// Frame is the classification of one Ethernet frame. Decode fills it without
// allocating and fails closed: a frame it cannot make sense of is
// ClassInvalid, never a half-filled value the caller might trust.
type Frame struct {
	Class FrameClass
	Dst   fdb.MAC
	Src   fdb.MAC
	// VLAN is the 12-bit VLAN ID of the outer tag; 0 for untagged and
	// priority-tagged frames. Learning and lookups are per VLAN.
	VLAN uint16
	// Tagged reports whether the frame carries an outer tag (802.1Q, 802.1ad),
	// either in its bytes or in the tag the kernel stripped.
	Tagged bool
	// EtherType is the type after all tags.
	EtherType uint16
	// L3 is the offset of the network header in the frame bytes (after any tags
	// in the bytes; a stripped tag is not in the bytes). Valid iff Class !=
	// ClassInvalid.
	L3 int
	// Group and Source are the IP destination and source. Valid iff Class ==
	// ClassIPMulticast.
	Group, Source netip.Addr
}

// Decode classifies the frame b. tag is the outer tag the kernel stripped
// from b, if any (see Packet.Tag).
func (f *Frame) Decode(b []byte, tag VLANTag) {
	*f = Frame{}
	if len(b) < 14 {
		return
	}
	var vlan uint16
	tagged := tag.Present
	if tagged {
		vlan = tag.TCI & 0x0fff
	}
	et := binary.BigEndian.Uint16(b[12:14])
	off := 14
	// An outer tag still in the bytes counts when the kernel stripped none;
	// inner tags (Q-in-Q) are carried through untouched and skipped only to
	// find the payload's EtherType.
	for isTagType(et) {
		if len(b) < off+4 {
			return
		}
		if !tagged {
			tagged = true
			vlan = binary.BigEndian.Uint16(b[off:off+2]) & 0x0fff
		}
		et = binary.BigEndian.Uint16(b[off+2 : off+4])
		off += 4
	}
	copy(f.Dst[:], b[0:6])
	copy(f.Src[:], b[6:12])
	f.VLAN, f.Tagged, f.EtherType, f.L3 = vlan, tagged, et, off
	switch {
	case f.Dst == broadcastMAC:
		f.Class = ClassBroadcast
	case f.Dst.IsMulticast():
		f.Class = ClassMulticast
		f.decodeIPMulticast(b[off:])
	default:
		f.Class = ClassUnicast
	}
}

// decodeIPMulticast upgrades a multicast frame to ClassIPMulticast when it
// carries an IP header (well enough formed to read its addresses) with a
// multicast destination.
func (f *Frame) decodeIPMulticast(ip []byte) {
	var group, source netip.Addr
	switch f.EtherType {
	case etherTypeIPv4:
		if len(ip) < 20 || ip[0]>>4 != 4 || int(ip[0]&0x0f)*4 > len(ip) || ip[0]&0x0f < 5 {
			return
		}
		source = netip.AddrFrom4([4]byte(ip[12:16]))
		group = netip.AddrFrom4([4]byte(ip[16:20]))
	case etherTypeIPv6:
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return
		}
		source = netip.AddrFrom16([16]byte(ip[8:24]))
		group = netip.AddrFrom16([16]byte(ip[24:40]))
	default:
		return
	}
	if !group.IsMulticast() {
		return
	}
	f.Class, f.Group, f.Source = ClassIPMulticast, group, source
}

func isTagType(et uint16) bool {
	return et == etherTypeVLAN || et == etherTypeSVLAN || et == etherTypeQinQ
}

var broadcastMAC = fdb.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
