package testenv

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// HostMAC returns the MAC address of the i-th host of a lab (1-based):
// 02:53:53:00:hi:lo, a locally administered unicast address.
func HostMAC(i int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x53, 0x53, 0x00, byte(i >> 8), byte(i)}
}

// HostIPv4 returns the default IPv4 prefix of the i-th host: 198.18.0.i/24.
// It is valid for 1 <= i <= 254.
func HostIPv4(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(i)}), 24)
}

// HostIPv6 returns the default IPv6 prefix of the i-th host: 2001:db8::i/64,
// where the last group is i's decimal digits read as hex, so that host 10 is
// 198.18.0.10 and 2001:db8::10. It is valid for 1 <= i <= 9999.
func HostIPv6(i int) netip.Prefix {
	v, err := strconv.ParseUint(strconv.Itoa(i), 16, 16)
	if err != nil || i < 0 {
		panic(fmt.Sprintf("testenv: host index %d has no default IPv6 address", i))
	}
	a := [16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(v >> 8), 15: byte(v)}
	return netip.PrefixFrom(netip.AddrFrom16(a), 64)
}

// HostLinkLocal returns the link-local address of the i-th host: the modified
// EUI-64 address derived from HostMAC(i) (RFC 4291 appendix A), which hosts
// get because their namespaces use addr_gen_mode eui64.
func HostLinkLocal(i int) netip.Addr {
	mac := HostMAC(i)
	a := [16]byte{0: 0xfe, 1: 0x80}
	a[8] = mac[0] ^ 0x02
	a[9], a[10] = mac[1], mac[2]
	a[11], a[12] = 0xff, 0xfe
	a[13], a[14], a[15] = mac[3], mac[4], mac[5]
	return netip.AddrFrom16(a)
}
