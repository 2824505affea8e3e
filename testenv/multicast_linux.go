package testenv

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A Membership is a group membership of a host's kernel, held by a UDP
// socket in the host's namespace: the kernel reports it (IGMP or MLD, in the
// version the host runs) as any application's join would. Leave ends it.
type Membership struct {
	host  *Host
	fd    int
	group netip.Addr
}

// Join joins group on the host's eth0 for any source (IP_ADD_MEMBERSHIP,
// IPV6_JOIN_GROUP): an IGMPv3/MLDv2 EXCLUDE {} record, or a v1/v2 report.
func (h *Host) Join(group netip.Addr) (*Membership, error) {
	return h.join(group, func(fd int) error {
		if group.Is4() {
			mreq := unix.IPMreqn{Multiaddr: group.As4(), Ifindex: int32(h.ifindex)}
			return unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, &mreq)
		}
		mreq := unix.IPv6Mreq{Multiaddr: group.As16(), Interface: uint32(h.ifindex)}
		return unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, &mreq)
	})
}

// JoinSource joins group for source only (IP_ADD_SOURCE_MEMBERSHIP,
// MCAST_JOIN_SOURCE_GROUP): INCLUDE {source}, as SSM receivers do.
func (h *Host) JoinSource(group, source netip.Addr) (*Membership, error) {
	return h.join(group, func(fd int) error {
		if group.Is4() {
			// struct ip_mreq_source: multiaddr, interface, sourceaddr.
			var mreq [12]byte
			g, s, ifa := group.As4(), source.As4(), h.IPv4.Addr().As4()
			copy(mreq[0:4], g[:])
			copy(mreq[4:8], ifa[:])
			copy(mreq[8:12], s[:])
			return setsockopt(fd, unix.IPPROTO_IP, unix.IP_ADD_SOURCE_MEMBERSHIP, mreq[:])
		}
		return setsockopt(fd, unix.IPPROTO_IPV6, unix.MCAST_JOIN_SOURCE_GROUP, h.groupSourceReq(group, source))
	})
}

// JoinExclude joins group for every source but exclude (MCAST_JOIN_GROUP,
// then MCAST_BLOCK_SOURCE): EXCLUDE {exclude}.
func (h *Host) JoinExclude(group, exclude netip.Addr) (*Membership, error) {
	return h.join(group, func(fd int) error {
		level := unix.IPPROTO_IP
		if group.Is6() {
			level = unix.IPPROTO_IPV6
		}
		req := h.groupSourceReq(group, exclude)
		// struct group_req is the head of struct group_source_req.
		if err := setsockopt(fd, level, unix.MCAST_JOIN_GROUP, req[:groupReqLen]); err != nil {
			return err
		}
		return setsockopt(fd, level, unix.MCAST_BLOCK_SOURCE, req)
	})
}

// Sizes of struct group_req and struct group_source_req on 64-bit Linux:
// a 32-bit interface index padded to 8 bytes, then sockaddr_storages.
const (
	sockaddrStorageLen = 128
	groupReqLen        = 8 + sockaddrStorageLen
	groupSourceReqLen  = 8 + 2*sockaddrStorageLen
)

func (h *Host) groupSourceReq(group, source netip.Addr) []byte {
	b := make([]byte, groupSourceReqLen)
	binary.NativeEndian.PutUint32(b[0:4], uint32(h.ifindex))
	putSockaddr(b[8:8+sockaddrStorageLen], group)
	putSockaddr(b[8+sockaddrStorageLen:], source)
	return b
}

// putSockaddr writes a as a struct sockaddr_in or sockaddr_in6 (port 0).
func putSockaddr(b []byte, a netip.Addr) {
	if a.Is4() {
		binary.NativeEndian.PutUint16(b[0:2], unix.AF_INET)
		v := a.As4()
		copy(b[4:8], v[:])
		return
	}
	binary.NativeEndian.PutUint16(b[0:2], unix.AF_INET6)
	v := a.As16()
	copy(b[8:24], v[:])
}

func setsockopt(fd, level, opt int, b []byte) error {
	_, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt),
		uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func (h *Host) join(group netip.Addr, how func(fd int) error) (*Membership, error) {
	family := unix.AF_INET
	if group.Is6() {
		family = unix.AF_INET6
	}
	m := &Membership{host: h, fd: -1, group: group}
	err := h.NS.Do(func() error {
		fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		m.fd = fd
		return how(fd)
	})
	if err != nil {
		m.Leave()
		return nil, fmt.Errorf("testenv: host %q: join %s: %w", h.Name, group, err)
	}
	h.lab.trackCloser(m.Leave)
	return m, nil
}

// Leave ends the membership (the kernel sends its leave or TO_IN {}).
func (m *Membership) Leave() error {
	if m.fd < 0 {
		return nil
	}
	err := unix.Close(m.fd)
	m.fd = -1
	return err
}

// ForceIGMPVersion makes the host's kernel speak IGMP version v (1, 2 or
// 3) on eth0, as force_igmp_version does; 0 lets it follow the querier.
func (h *Host) ForceIGMPVersion(v int) error {
	return h.NS.SetSysctl("net.ipv4.conf."+h.Iface+".force_igmp_version", strconv.Itoa(v))
}

// ForceMLDVersion makes the host's kernel speak MLD version v (1 or 2) on
// eth0; 0 lets it follow the querier.
func (h *Host) ForceMLDVersion(v int) error {
	return h.NS.SetSysctl("net.ipv6.conf."+h.Iface+".force_mld_version", strconv.Itoa(v))
}

// SendUDP sends payload to group:port from the host's own address (IPv4 or
// IPv6 as the group is), out of eth0 with a TTL (hop limit) of 8.
func (h *Host) SendUDP(group netip.Addr, port int, payload []byte) error {
	return h.NS.Do(func() error {
		family, level, ifOpt, ttlOpt := unix.AF_INET, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, unix.IP_MULTICAST_TTL
		if group.Is6() {
			family, level, ifOpt, ttlOpt = unix.AF_INET6, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, unix.IPV6_MULTICAST_HOPS
		}
		fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if group.Is4() {
			mreq := unix.IPMreqn{Ifindex: int32(h.ifindex)}
			err = unix.SetsockoptIPMreqn(fd, level, ifOpt, &mreq)
		} else {
			err = unix.SetsockoptInt(fd, level, ifOpt, h.ifindex)
		}
		if err != nil {
			return fmt.Errorf("multicast interface: %w", err)
		}
		if err := unix.SetsockoptInt(fd, level, ttlOpt, 8); err != nil {
			return err
		}
		var sa unix.Sockaddr
		if group.Is4() {
			sa = &unix.SockaddrInet4{Port: port, Addr: group.As4()}
		} else {
			sa = &unix.SockaddrInet6{Port: port, Addr: group.As16()}
		}
		return unix.Sendto(fd, payload, 0, sa)
	})
}
