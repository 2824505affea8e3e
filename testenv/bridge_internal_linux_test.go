package testenv

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// brMDBEntry builds a struct br_mdb_entry for port, VLAN vid and group
// (proto 0 for the zero Addr: an L2 entry), followed by attrs.
func brMDBEntry(port uint32, vid uint16, group netip.Addr, attrs ...*nl.RtAttr) []byte {
	b := make([]byte, sizeofBrMDBEntry)
	binary.NativeEndian.PutUint32(b[0:], port)
	binary.NativeEndian.PutUint16(b[6:], vid)
	switch {
	case group.Is4():
		a := group.As4()
		copy(b[brMDBEntryAddrStart:], a[:])
		binary.BigEndian.PutUint16(b[brMDBEntryProto:], unix.ETH_P_IP)
	case group.Is6():
		a := group.As16()
		copy(b[brMDBEntryAddrStart:], a[:])
		binary.BigEndian.PutUint16(b[brMDBEntryProto:], unix.ETH_P_IPV6)
	default:
		copy(b[brMDBEntryAddrStart:], []byte{0x01, 0x00, 0x5e, 0x01, 0x02, 0x03})
	}
	for _, a := range attrs {
		b = append(b, a.Serialize()...)
	}
	return b
}

// mdbMessage builds the attributes of an RTM_NEWMDB message holding infos,
// with a router port list that must be left out.
func mdbMessage(infos ...[]byte) []byte {
	mdb := nl.NewRtAttr(mdbaMDB, nil)
	entry := mdb.AddRtAttr(mdbaMDBEntry, nil)
	for _, info := range infos {
		entry.AddRtAttr(mdbaMDBEntryInfo, info)
	}
	router := nl.NewRtAttr(2, nil) // MDBA_ROUTER
	router.AddRtAttr(1, nl.Uint32Attr(7))
	return append(mdb.Serialize(), router.Serialize()...)
}

func TestParseMDB(t *testing.T) {
	g4 := netip.MustParseAddr("239.1.2.3")
	s4 := netip.MustParseAddr("198.18.0.9")
	g6 := netip.MustParseAddr("ff0e::db8:1")
	timer := nl.NewRtAttr(1, nl.Uint32Attr(25000)) // MDBA_MDB_EATTR_TIMER, skipped
	msg := mdbMessage(
		brMDBEntry(1001, 0, g4, timer),
		brMDBEntry(1002, 5, g4, timer, nl.NewRtAttr(mdbaMDBEattrSource, s4.AsSlice())),
		brMDBEntry(1003, 0, g6),
		brMDBEntry(1004, 0, netip.Addr{}), // an L2 entry: left out
	)
	got, err := parseMDB(msg)
	if err != nil {
		t.Fatal(err)
	}
	want := []mdbEntry{
		{port: 1001, group: g4},
		{port: 1002, vid: 5, group: g4, source: s4},
		{port: 1003, group: g6},
	}
	if !slices.Equal(got, want) {
		t.Errorf("parseMDB = %+v, want %+v", got, want)
	}

	for _, tc := range []struct {
		name string
		msg  []byte
		want string
	}{
		{"short entry", mdbMessage(brMDBEntry(1001, 0, g4)[:sizeofBrMDBEntry-1]), "MDB entry of 27 octets"},
		{"IPv6 source of an IPv4 group", mdbMessage(brMDBEntry(1001, 0, g4, nl.NewRtAttr(mdbaMDBEattrSource, g6.AsSlice()))), "source of 16 octets"},
		{"source of 3 octets", mdbMessage(brMDBEntry(1001, 0, g4, nl.NewRtAttr(mdbaMDBEattrSource, []byte{1, 2, 3}))), "source of 3 octets"},
		{"truncated attribute", msg[:len(msg)-3], ""},
	} {
		if _, err := parseMDB(tc.msg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: parseMDB error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestBridgeOptionsInvalid(t *testing.T) {
	for _, o := range []BridgeOption{
		BridgeIGMPVersion(1), BridgeIGMPVersion(4), BridgeMLDVersion(3),
		BridgeHashMax(0), BridgeHashMax(-1),
		BridgeQueryResponseInterval(0), BridgeQueryResponseInterval(15e6), // 15 ms
	} {
		if o.err == nil || !strings.HasPrefix(o.err.Error(), "testenv: bridge option "+o.name) {
			t.Errorf("%s: error %v, want one naming the option", o, o.err)
		}
	}
	for o, want := range map[BridgeOption]string{
		BridgeMulticastSnooping(true):           "mcast_snooping 1",
		BridgeMulticastQuerier(false):           "mcast_querier 0",
		BridgeIGMPVersion(3):                    "mcast_igmp_version 3",
		BridgeHashMax(16384):                    "mcast_hash_max 16384",
		BridgeQueryResponseInterval(1500 * 1e6): "mcast_query_response_interval 150",
	} {
		if o.err != nil || o.String() != want {
			t.Errorf("%s (error %v), want %s and no error", o, o.err, want)
		}
	}
}
