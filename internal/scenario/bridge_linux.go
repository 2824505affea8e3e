package scenario

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/snoopswitch/snoopswitch/testenv"
)

// The Linux bridge's multicast options and its MDB over rtnetlink.
//
// vishvananda/netlink's Bridge type carries only mcast_snooping of the
// IFLA_BR_MCAST_* options, and has no MDB dump, so these build the messages
// with its nl package. They run on a thread inside the lab's switch
// namespace (Namespace.Do), where the bridge is; sysfs
// (/sys/class/net/<br>/bridge/) is no way round that, since /sys shows the
// network namespace of whoever mounted it, not of the thread that opens it.

// bridgeOption is one IFLA_BR_* option of one octet.
type bridgeOption struct {
	name  string // the sysfs and ip-link name
	attr  uint16
	value uint8
}

// setBridgeOption sets one option of the bridge with ifindex index, as
// `ip link set BR type bridge ...` does.
func setBridgeOption(ns *testenv.Namespace, index int, o bridgeOption) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	data.AddRtAttr(int(o.attr), nl.Uint8Attr(o.value))
	req.AddData(info)
	return ns.Do(func() error {
		_, err := req.Execute(unix.NETLINK_ROUTE, 0)
		return err
	})
}

// bridgeInfo returns the IFLA_BR_* attributes of the bridge with ifindex
// index, by type.
func bridgeInfo(ns *testenv.Namespace, index int) (map[uint16][]byte, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	var msgs [][]byte
	err := ns.Do(func() error {
		var err error
		msgs, err = req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 || len(msgs[0]) < unix.SizeofIfInfomsg {
		return nil, fmt.Errorf("RTM_GETLINK answered with %d messages", len(msgs))
	}
	attrs, err := nl.ParseRouteAttr(msgs[0][unix.SizeofIfInfomsg:])
	if err != nil {
		return nil, err
	}
	linkInfo, ok := findAttr(attrs, unix.IFLA_LINKINFO)
	if !ok {
		return nil, fmt.Errorf("no IFLA_LINKINFO")
	}
	infoAttrs, err := nl.ParseRouteAttr(linkInfo)
	if err != nil {
		return nil, err
	}
	data, ok := findAttr(infoAttrs, unix.IFLA_INFO_DATA)
	if !ok {
		return nil, fmt.Errorf("no IFLA_INFO_DATA: not a bridge?")
	}
	brAttrs, err := nl.ParseRouteAttr(data)
	if err != nil {
		return nil, err
	}
	out := make(map[uint16][]byte)
	for _, a := range brAttrs {
		out[a.Attr.Type&nl.NLA_TYPE_MASK] = a.Value
	}
	return out, nil
}

// mdbEntry is one port's (*,G) or (S,G) entry in the bridge's multicast
// database.
type mdbEntry struct {
	port  int // ifindex of the bridge port (the bridge's own for host_joined)
	group netip.Addr
}

// Attributes of RTM_NEWMDB (include/uapi/linux/if_bridge.h).
const (
	mdbaMDB          = 1 // MDBA_MDB, in the message
	mdbaMDBEntry     = 1 // MDBA_MDB_ENTRY, in MDBA_MDB
	mdbaMDBEntryInfo = 1 // MDBA_MDB_ENTRY_INFO, in MDBA_MDB_ENTRY
	// sizeofBrPortMsg and sizeofBrMDBEntry are the sizes of struct
	// br_port_msg (family, 3 octets of padding, ifindex) and struct
	// br_mdb_entry (ifindex, state, flags, vid, a 16-octet address union,
	// proto, 2 octets of padding).
	sizeofBrPortMsg  = 8
	sizeofBrMDBEntry = 28
)

// bridgeMDB dumps the multicast database of the bridge with ifindex index
// (`bridge mdb show`).
func bridgeMDB(ns *testenv.Namespace, index int) ([]mdbEntry, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETMDB, unix.NLM_F_DUMP)
	portMsg := make([]byte, sizeofBrPortMsg)
	portMsg[0] = unix.AF_BRIDGE
	binary.NativeEndian.PutUint32(portMsg[4:], uint32(index))
	req.AddRawData(portMsg)
	var msgs [][]byte
	err := ns.Do(func() error {
		var err error
		// The dump's messages are of type RTM_GETMDB (br_mdb_dump), not
		// RTM_NEWMDB.
		msgs, err = req.Execute(unix.NETLINK_ROUTE, unix.RTM_GETMDB)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dump the MDB: %w", err)
	}
	var out []mdbEntry
	for _, m := range msgs {
		if len(m) < sizeofBrPortMsg || int(binary.NativeEndian.Uint32(m[4:8])) != index {
			continue // another bridge's
		}
		entries, err := parseMDB(m[sizeofBrPortMsg:])
		if err != nil {
			return nil, fmt.Errorf("dump the MDB: %w", err)
		}
		out = append(out, entries...)
	}
	return out, nil
}

// parseMDB decodes the attributes of one RTM_NEWMDB message.
func parseMDB(b []byte) ([]mdbEntry, error) {
	var out []mdbEntry
	top, err := nl.ParseRouteAttr(b)
	if err != nil {
		return nil, err
	}
	for _, mdb := range top {
		if mdb.Attr.Type&nl.NLA_TYPE_MASK != mdbaMDB {
			continue // MDBA_ROUTER
		}
		entries, err := nl.ParseRouteAttr(mdb.Value)
		if err != nil {
			return nil, err
		}
		for _, entry := range entries {
			if entry.Attr.Type&nl.NLA_TYPE_MASK != mdbaMDBEntry {
				continue
			}
			infos, err := nl.ParseRouteAttr(entry.Value)
			if err != nil {
				return nil, err
			}
			for _, info := range infos {
				if info.Attr.Type&nl.NLA_TYPE_MASK != mdbaMDBEntryInfo {
					continue
				}
				e, err := parseMDBEntry(info.Value)
				if err != nil {
					return nil, err
				}
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// parseMDBEntry decodes a struct br_mdb_entry; the attributes after it (the
// source of an (S,G) entry, timers) are not needed here.
func parseMDBEntry(b []byte) (mdbEntry, error) {
	if len(b) < sizeofBrMDBEntry {
		return mdbEntry{}, fmt.Errorf("MDB entry of %d octets, want at least %d", len(b), sizeofBrMDBEntry)
	}
	e := mdbEntry{port: int(binary.NativeEndian.Uint32(b[0:4]))}
	addr := b[8:24]
	switch binary.BigEndian.Uint16(b[24:26]) {
	case unix.ETH_P_IP:
		e.group = netip.AddrFrom4([4]byte(addr[:4]))
	case unix.ETH_P_IPV6:
		e.group = netip.AddrFrom16([16]byte(addr))
	}
	return e, nil
}

func findAttr(attrs []syscall.NetlinkRouteAttr, typ uint16) ([]byte, bool) {
	for _, a := range attrs {
		if a.Attr.Type&nl.NLA_TYPE_MASK == typ {
			return a.Value, true
		}
	}
	return nil, false
}
