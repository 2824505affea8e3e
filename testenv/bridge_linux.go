package testenv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// The Linux bridge twin's multicast options and its multicast database
// (MDB), over rtnetlink.
//
// vishvananda/netlink's Bridge type carries only mcast_snooping of the
// IFLA_BR_MCAST_* options and has no MDB dump, so these build the messages
// with its nl package. They run on a thread inside the switch namespace
// (Namespace.Do), where the bridge is; sysfs (/sys/class/net/<br>/bridge/)
// is no way round that, since /sys shows the network namespace of whoever
// mounted it, not of the thread that opens it. Nor are the iproute2 tools
// needed.

// A BridgeOption is one multicast option of the Linux bridge twin, as `ip
// link set BR type bridge NAME VALUE` sets it. BridgeMulticastSnooping and
// the other functions below make them; Lab.SetLinuxBridge applies them.
type BridgeOption struct {
	name  string // ip-link's name, for errors
	attr  uint16 // IFLA_BR_*
	size  int    // octets of the attribute's value: 1, 4 or 8
	value uint64
	// clock marks a clock_t value (hundredths of a second, USER_HZ),
	// which the kernel keeps in jiffies.
	clock bool
	err   error
}

// String returns the option as ip-link writes it ("mcast_querier 1").
func (o BridgeOption) String() string { return fmt.Sprintf("%s %d", o.name, o.value) }

func flagOption(name string, attr uint16, on bool) BridgeOption {
	o := BridgeOption{name: name, attr: attr, size: 1}
	if on {
		o.value = 1
	}
	return o
}

// BridgeMulticastSnooping turns snooping on or off (mcast_snooping).
// AddLinuxBridge creates the bridge with it on.
func BridgeMulticastSnooping(on bool) BridgeOption {
	return flagOption("mcast_snooping", unix.IFLA_BR_MCAST_SNOOPING, on)
}

// BridgeMulticastQuerier turns the bridge's own querier on or off
// (mcast_querier). Turning it on starts the wait of one query response
// interval before the bridge forwards by its table, so set the interval
// and the versions before it.
func BridgeMulticastQuerier(on bool) BridgeOption {
	return flagOption("mcast_querier", unix.IFLA_BR_MCAST_QUERIER, on)
}

// BridgeIGMPVersion sets the IGMP version the bridge's querier speaks, 2 or
// 3 (mcast_igmp_version).
func BridgeIGMPVersion(v int) BridgeOption {
	o := BridgeOption{name: "mcast_igmp_version", attr: unix.IFLA_BR_MCAST_IGMP_VERSION, size: 1, value: uint64(v)}
	if v != 2 && v != 3 {
		o.err = fmt.Errorf("testenv: bridge option mcast_igmp_version %d: the Linux bridge speaks IGMP version 2 or 3", v)
	}
	return o
}

// BridgeMLDVersion sets the MLD version the bridge's querier speaks, 1 or 2
// (mcast_mld_version).
func BridgeMLDVersion(v int) BridgeOption {
	o := BridgeOption{name: "mcast_mld_version", attr: unix.IFLA_BR_MCAST_MLD_VERSION, size: 1, value: uint64(v)}
	if v != 1 && v != 2 {
		o.err = fmt.Errorf("testenv: bridge option mcast_mld_version %d: the Linux bridge speaks MLD version 1 or 2", v)
	}
	return o
}

// BridgeHashMax sets how many MDB entries the bridge holds
// (mcast_hash_max, 4096 by default). A bridge whose table is full turns
// snooping off and floods, so a test with thousands of groups raises it.
func BridgeHashMax(n int) BridgeOption {
	o := BridgeOption{name: "mcast_hash_max", attr: unix.IFLA_BR_MCAST_HASH_MAX, size: 4, value: uint64(n)}
	if n < 1 || uint64(n) > math.MaxUint32 {
		o.err = fmt.Errorf("testenv: bridge option mcast_hash_max %d: use 1 to %d", n, uint64(math.MaxUint32))
	}
	return o
}

// BridgeQueryResponseInterval sets the Max Response Time of the bridge's
// general queries (mcast_query_response_interval, 10 s by default), in
// whole hundredths of a second. It is also how long the bridge's querier
// waits after it starts before it forwards by its table.
func BridgeQueryResponseInterval(d time.Duration) BridgeOption {
	const unit = time.Second / 100 // USER_HZ
	o := BridgeOption{name: "mcast_query_response_interval", attr: unix.IFLA_BR_MCAST_QUERY_RESPONSE_INTVL, size: 8, value: uint64(d / unit), clock: true}
	if d < unit || d%unit != 0 {
		o.err = fmt.Errorf("testenv: bridge option mcast_query_response_interval %v: use a positive number of whole hundredths of a second", d)
	}
	return o
}

// SetLinuxBridge sets the Linux bridge twin's multicast options, one at a
// time in the order given (the kernel applies the options of one message in
// an order of its own, and the querier's must come last), then reads them
// all back and checks that each took. AddLinuxBridge must have created the
// bridge. An invalid option is reported before any is set.
func (l *Lab) SetLinuxBridge(opts ...BridgeOption) error {
	for _, o := range opts {
		if o.err != nil {
			return o.err
		}
		if o.size == 0 {
			return errors.New("testenv: a zero BridgeOption (make one with BridgeMulticastSnooping and the other Bridge functions)")
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	index, err := l.bridgeIndexLocked("set Linux bridge options")
	if err != nil {
		return err
	}
	for _, o := range opts {
		if err := setBridgeOption(l.sw, index, o); err != nil {
			return fmt.Errorf("testenv: bridge %s: set %s: %w", l.bridge, o, err)
		}
	}
	got, err := bridgeInfo(l.sw, index)
	if err != nil {
		return fmt.Errorf("testenv: bridge %s: read its options back: %w", l.bridge, err)
	}
	for _, o := range opts {
		v, ok := attrValue(got[o.attr], o.size)
		// The kernel keeps a clock_t in jiffies: at HZ=250 a hundredth
		// of a second is 2.5 of them, and reads back up to one short.
		if !ok || v != o.value && !(o.clock && v+1 == o.value) {
			return fmt.Errorf("testenv: bridge %s: %s reads back as %v, want %d", l.bridge, o.name, got[o.attr], o.value)
		}
	}
	return nil
}

// bridgeIndexLocked returns the ifindex of the Linux bridge twin. l.mu is
// held.
func (l *Lab) bridgeIndexLocked(what string) (int, error) {
	if l.closed {
		return 0, fmt.Errorf("testenv: %s: lab %s is closed", what, l.prefix)
	}
	if l.bridge == "" {
		return 0, fmt.Errorf("testenv: %s: lab %s has no Linux bridge (call AddLinuxBridge first)", what, l.prefix)
	}
	br, err := l.sw.nl.LinkByName(l.bridge)
	if err != nil {
		return 0, fmt.Errorf("testenv: %s: bridge %s: %w", what, l.bridge, err)
	}
	return br.Attrs().Index, nil
}

// attrValue decodes an attribute of size octets in host order.
func attrValue(b []byte, size int) (uint64, bool) {
	if len(b) != size {
		return 0, false
	}
	switch size {
	case 1:
		return uint64(b[0]), true
	case 4:
		return uint64(binary.NativeEndian.Uint32(b)), true
	case 8:
		return binary.NativeEndian.Uint64(b), true
	}
	return 0, false
}

// setBridgeOption sets one option of the bridge with ifindex index, as
// `ip link set BR type bridge ...` does.
func setBridgeOption(ns *Namespace, index int, o BridgeOption) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	switch o.size {
	case 1:
		data.AddRtAttr(int(o.attr), nl.Uint8Attr(uint8(o.value)))
	case 4:
		data.AddRtAttr(int(o.attr), nl.Uint32Attr(uint32(o.value)))
	default:
		data.AddRtAttr(int(o.attr), nl.Uint64Attr(o.value))
	}
	req.AddData(info)
	return ns.Do(func() error {
		_, err := req.Execute(unix.NETLINK_ROUTE, 0)
		return err
	})
}

// bridgeInfo returns the IFLA_BR_* attributes of the bridge with ifindex
// index, by type.
func bridgeInfo(ns *Namespace, index int) (map[uint16][]byte, error) {
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
		return nil, fmt.Errorf("RTM_GETLINK answered with %d messages, want 1", len(msgs))
	}
	attrs, err := nl.ParseRouteAttr(msgs[0][unix.SizeofIfInfomsg:])
	if err != nil {
		return nil, err
	}
	linkInfo, ok := findAttr(attrs, unix.IFLA_LINKINFO)
	if !ok {
		return nil, errors.New("no IFLA_LINKINFO")
	}
	infoAttrs, err := nl.ParseRouteAttr(linkInfo)
	if err != nil {
		return nil, err
	}
	data, ok := findAttr(infoAttrs, unix.IFLA_INFO_DATA)
	if !ok {
		return nil, errors.New("no IFLA_INFO_DATA: not a bridge?")
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

// MDBEntry is one port's entry in the Linux bridge twin's multicast
// database, as `bridge mdb show` lists it.
type MDBEntry struct {
	// Port is the switch port (a host's SwitchPort), or the bridge's own
	// name for a group the bridge's host side joined.
	Port   string
	VLAN   uint16     // 0 without VLAN filtering
	Group  netip.Addr // an IPv4 or IPv6 group
	Source netip.Addr // the source of an (S,G) entry; the zero Addr for (*,G)
}

// LinuxBridgeMDB returns the Linux bridge twin's multicast database: its
// IPv4 and IPv6 entries (not the router ports, nor L2 entries by MAC).
// AddLinuxBridge must have created the bridge.
func (l *Lab) LinuxBridgeMDB() ([]MDBEntry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	index, err := l.bridgeIndexLocked("read the Linux bridge's MDB")
	if err != nil {
		return nil, err
	}
	raw, err := bridgeMDB(l.sw, index)
	if err != nil {
		return nil, fmt.Errorf("testenv: bridge %s: %w", l.bridge, err)
	}
	links, err := retryDump(func() ([]netlink.Link, error) { return l.sw.nl.LinkList() })
	if err != nil {
		return nil, fmt.Errorf("testenv: bridge %s: list the ports of its MDB: %w", l.bridge, err)
	}
	names := make(map[int]string, len(links))
	for _, link := range links {
		names[link.Attrs().Index] = link.Attrs().Name
	}
	out := make([]MDBEntry, len(raw))
	for i, e := range raw {
		name, ok := names[e.port]
		if !ok {
			return nil, fmt.Errorf("testenv: bridge %s: MDB entry for %v on ifindex %d, which is no link of %s", l.bridge, e.group, e.port, l.sw.Name)
		}
		out[i] = MDBEntry{Port: name, VLAN: e.vid, Group: e.group, Source: e.source}
	}
	return out, nil
}

// retryDump runs a netlink dump again while the kernel reports that the
// table changed under it (NLM_F_DUMP_INTR), as a bridge's MDB does while
// reports arrive, and fails after a few tries.
func retryDump[T any](dump func() (T, error)) (T, error) {
	for try := 1; ; try++ {
		v, err := dump()
		if errors.Is(err, nl.ErrDumpInterrupted) && try < 5 {
			continue
		}
		return v, err
	}
}

// mdbEntry is one entry of a bridge's MDB dump, by ifindex.
type mdbEntry struct {
	port   int // ifindex of the bridge port (the bridge's own for host_joined)
	vid    uint16
	group  netip.Addr
	source netip.Addr
}

// Attributes of RTM_NEWMDB (include/uapi/linux/if_bridge.h).
const (
	mdbaMDB             = 1 // MDBA_MDB, in the message
	mdbaMDBEntry        = 1 // MDBA_MDB_ENTRY, in MDBA_MDB
	mdbaMDBEntryInfo    = 1 // MDBA_MDB_ENTRY_INFO, in MDBA_MDB_ENTRY
	mdbaMDBEattrSource  = 4 // MDBA_MDB_EATTR_SOURCE, after the br_mdb_entry
	sizeofBrPortMsg     = 8 // struct br_port_msg: family, 3 octets of padding, ifindex
	sizeofBrMDBEntry    = 28
	brMDBEntryAddrStart = 8  // br_mdb_entry: ifindex, state, flags, vid, then a 16-octet address union
	brMDBEntryProto     = 24 // then proto (big-endian), 2 octets of padding
)

// bridgeMDB dumps the multicast database of the bridge with ifindex index
// (`bridge mdb show`).
func bridgeMDB(ns *Namespace, index int) ([]mdbEntry, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETMDB, unix.NLM_F_DUMP)
	portMsg := make([]byte, sizeofBrPortMsg)
	portMsg[0] = unix.AF_BRIDGE
	binary.NativeEndian.PutUint32(portMsg[4:], uint32(index))
	req.AddRawData(portMsg)
	msgs, err := retryDump(func() ([][]byte, error) {
		var msgs [][]byte
		err := ns.Do(func() error {
			var err error
			// The dump's messages are of type RTM_GETMDB (br_mdb_dump),
			// not RTM_NEWMDB.
			msgs, err = req.Execute(unix.NETLINK_ROUTE, unix.RTM_GETMDB)
			return err
		})
		return msgs, err
	})
	if err != nil {
		return nil, fmt.Errorf("dump the MDB: %w", err)
	}
	var out []mdbEntry
	for _, m := range msgs {
		// The dump holds every bridge of the namespace, one br_port_msg
		// header each.
		if len(m) < sizeofBrPortMsg || int(binary.NativeEndian.Uint32(m[4:8])) != index {
			continue
		}
		entries, err := parseMDB(m[sizeofBrPortMsg:])
		if err != nil {
			return nil, fmt.Errorf("dump the MDB: %w", err)
		}
		out = append(out, entries...)
	}
	return out, nil
}

// parseMDB decodes the attributes of one RTM_NEWMDB message: its IP
// entries, leaving out MDBA_ROUTER and entries of other protocols (L2 MDB
// entries by MAC).
func parseMDB(b []byte) ([]mdbEntry, error) {
	var out []mdbEntry
	top, err := nl.ParseRouteAttr(b)
	if err != nil {
		return nil, err
	}
	for _, mdb := range top {
		if mdb.Attr.Type&nl.NLA_TYPE_MASK != mdbaMDB {
			continue
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
				e, ok, err := parseMDBEntry(info.Value)
				if err != nil {
					return nil, err
				}
				if ok {
					out = append(out, e)
				}
			}
		}
	}
	return out, nil
}

// parseMDBEntry decodes an MDBA_MDB_ENTRY_INFO: a struct br_mdb_entry and
// the attributes after it, of which only the source of an (S,G) entry is
// kept. ok is false for an entry that is neither IPv4 nor IPv6.
func parseMDBEntry(b []byte) (e mdbEntry, ok bool, err error) {
	if len(b) < sizeofBrMDBEntry {
		return mdbEntry{}, false, fmt.Errorf("MDB entry of %d octets, want at least %d", len(b), sizeofBrMDBEntry)
	}
	e = mdbEntry{port: int(binary.NativeEndian.Uint32(b[0:4])), vid: binary.NativeEndian.Uint16(b[6:8])}
	addr := b[brMDBEntryAddrStart:brMDBEntryProto]
	switch binary.BigEndian.Uint16(b[brMDBEntryProto:]) {
	case unix.ETH_P_IP:
		e.group = netip.AddrFrom4([4]byte(addr[:4]))
	case unix.ETH_P_IPV6:
		e.group = netip.AddrFrom16([16]byte(addr))
	default:
		return mdbEntry{}, false, nil
	}
	attrs, err := nl.ParseRouteAttr(b[sizeofBrMDBEntry:])
	if err != nil {
		return mdbEntry{}, false, fmt.Errorf("MDB entry for %v: %w", e.group, err)
	}
	if src, found := findAttr(attrs, mdbaMDBEattrSource); found {
		s, valid := netip.AddrFromSlice(src)
		if !valid || s.Is4() != e.group.Is4() {
			return mdbEntry{}, false, fmt.Errorf("MDB entry for %v: source of %d octets", e.group, len(src))
		}
		e.source = s
	}
	return e, true, nil
}

func findAttr(attrs []syscall.NetlinkRouteAttr, typ uint16) ([]byte, bool) {
	for _, a := range attrs {
		if a.Attr.Type&nl.NLA_TYPE_MASK == typ {
			return a.Value, true
		}
	}
	return nil, false
}
