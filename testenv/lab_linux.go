package testenv

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// KeepLabEnv names the environment variable that keeps the lab of a failed
// test for inspection: with it set to 1, New's cleanup logs the namespace
// names instead of deleting them. Remove a kept lab with ip netns del.
const KeepLabEnv = "SNOOPSWITCH_KEEP_LAB"

// maxPrefixLen leaves at least 7 characters of the kernel's 15-character
// interface names for host names in switch port names.
const maxPrefixLen = 8

// switchPortIndexBase + i is the interface index of host i's switch port.
const switchPortIndexBase = 1000

// hostIface is the name of every host's interface inside its namespace.
const hostIface = "eth0"

var (
	testIPv4 = netip.MustParsePrefix("198.18.0.0/15")
	testIPv6 = netip.MustParsePrefix("2001:db8::/32")
)

// Sysctls set in every namespace before any interface but lo exists, so the
// defaults reach the veth ends created later.
var commonSysctls = [][2]string{
	// Duplicate address detection would hold IPv6 addresses (and so MLD)
	// back for a second or more; the effective value is max(all, device).
	{"net.ipv6.conf.all.accept_dad", "0"},
	{"net.ipv6.conf.default.accept_dad", "0"},
	// Ping uses ICMP datagram sockets, which the kernel grants only to groups
	// in this range, root included; the default range is empty.
	{"net.ipv4.ping_group_range", "0 2147483647"},
}

var switchSysctls = [][2]string{
	// Switch ports are wires: with IPv6 on, the kernel would send router
	// solicitations and MLD reports of its own out of every switch port.
	{"net.ipv6.conf.default.disable_ipv6", "1"},
}

var hostSysctls = [][2]string{
	// EUI-64 link-local addresses, so tests can predict them (HostLinkLocal).
	{"net.ipv6.conf.default.addr_gen_mode", "0"},
}

// Options configures NewLab.
type Options struct {
	// Prefix starts the name of everything the lab creates: 1 to 8 ASCII
	// letters and digits. Empty picks "ss" and four random hex digits.
	Prefix string
	// FirstHost is the index of the lab's first host (0 is 1): the i-th
	// host added is FirstHost+i-1, and its MAC and default addresses derive
	// from that index. A fabric gives each machine's lab its own range, so
	// that hosts on different machines, which share one Ethernet segment
	// across the tunnels, never share an address.
	FirstHost int
	// MaxHosts, if positive, is how many hosts the lab takes (the size of
	// its range of indexes).
	MaxHosts int
}

// A Lab is a switch namespace plus host namespaces joined to it by veth
// pairs. Its methods are safe for concurrent use.
type Lab struct {
	prefix    string
	firstHost int // index of the first host (Options.FirstHost, at least 1)
	maxHosts  int // Options.MaxHosts; 0: no limit
	sw        *Namespace

	mu       sync.Mutex
	hosts    []*Host
	hubs     []*hub   // shared ports (AddHostsBehindPort)
	ports    []string // switch ports other than hosts' (AddPort), such as a fabric's tunnels
	bridge   string   // name of the Linux bridge twin; "" when there is none
	captures map[*Capture]struct{}
	switches []*Switch      // running in the switch namespace; stopped first on Close
	closers  []func() error // sockets held in host namespaces (memberships)
	closed   bool
}

// New builds an empty lab for a test and removes it when the test ends,
// whether it passes, fails or panics. It skips the test without root (see
// RequireRoot) and fails it if the lab cannot be built.
func New(tb testing.TB) *Lab {
	tb.Helper()
	RequireRoot(tb)
	l, err := NewLab(Options{})
	if err != nil {
		tb.Fatal(err)
	}
	cleanupOrKeep(tb, "lab "+l.prefix, l.namespaceNames, l.shutdown)
	return l
}

// cleanupOrKeep has the end of tb call shutdown(false), which removes
// what a lab (or fabric) made, or, when the test failed and KeepLabEnv is
// 1, log the namespaces names returns and call shutdown(true), which
// keeps them.
func cleanupOrKeep(tb testing.TB, what string, names func() []string, shutdown func(keep bool) error) {
	tb.Cleanup(func() {
		keep := tb.Failed() && os.Getenv(KeepLabEnv) == "1"
		if keep {
			tb.Logf("testenv: %s=1: keeping %s: namespaces %s (remove with: ip netns del NAME)",
				KeepLabEnv, what, strings.Join(names(), " "))
		}
		if err := shutdown(keep); err != nil {
			tb.Error(err)
		}
	})
}

// NewLab builds an empty lab: the switch namespace, named <prefix>-sw. The
// caller must call Close.
func NewLab(opts Options) (*Lab, error) {
	if opts.Prefix != "" {
		if err := checkPrefix(opts.Prefix); err != nil {
			return nil, err
		}
		return newLab(opts.Prefix, opts)
	}
	for attempt := 1; ; attempt++ {
		prefix, err := randomPrefix()
		if err != nil {
			return nil, err
		}
		l, err := newLab(prefix, opts)
		if errors.Is(err, fs.ErrExist) && attempt < 5 {
			continue // another lab drew the same prefix
		}
		return l, err
	}
}

func newLab(prefix string, opts Options) (*Lab, error) {
	if opts.FirstHost < 0 || opts.MaxHosts < 0 {
		return nil, fmt.Errorf("testenv: FirstHost %d, MaxHosts %d: use 0 or more", opts.FirstHost, opts.MaxHosts)
	}
	first := max(opts.FirstHost, 1)
	sw, err := createNamespace(prefix + "-sw")
	if err != nil {
		return nil, err
	}
	if err := setupNamespace(sw, switchSysctls); err != nil {
		return nil, errors.Join(err, sw.close())
	}
	return &Lab{prefix: prefix, firstHost: first, maxHosts: opts.MaxHosts, sw: sw, captures: make(map[*Capture]struct{})}, nil
}

func checkPrefix(p string) error {
	if len(p) > maxPrefixLen {
		return fmt.Errorf("testenv: prefix %q is longer than %d characters (switch port names are prefix+host and the kernel allows 15)", p, maxPrefixLen)
	}
	for _, r := range p {
		if !isAlnum(r) {
			return fmt.Errorf("testenv: prefix %q: use only ASCII letters and digits", p)
		}
	}
	return nil
}

func randomPrefix() (string, error) {
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("testenv: random prefix: %w", err)
	}
	return fmt.Sprintf("ss%02x%02x", b[0], b[1]), nil
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// setupNamespace sets the sysctls every lab namespace gets, plus extra, and
// brings lo up.
func setupNamespace(n *Namespace, extra [][2]string) error {
	err := n.Do(func() error {
		for _, kv := range slices.Concat(commonSysctls, extra) {
			if err := writeSysctl(kv[0], kv[1]); err != nil {
				return fmt.Errorf("testenv: namespace %q: %w", n.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	lo, err := n.nl.LinkByName("lo")
	if err == nil {
		err = n.nl.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("testenv: namespace %q: bring lo up: %w", n.Name, err)
	}
	return nil
}

// Prefix returns the prefix of every name the lab creates.
func (l *Lab) Prefix() string { return l.prefix }

// trackCloser has Close call c before it removes the namespaces: a socket
// left open would keep its namespace alive.
func (l *Lab) trackCloser(c func() error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closers = append(l.closers, c)
}

// SwitchNS returns the switch namespace, which holds the switch-side veth
// ends and the Linux bridge twin.
func (l *Lab) SwitchNS() *Namespace { return l.sw }

// Hosts returns the lab's hosts in the order they were added.
func (l *Lab) Hosts() []*Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.hosts)
}

// HostOptions configures AddHost. The zero value gives the defaults.
type HostOptions struct {
	IPv4 netip.Prefix // zero: HostIPv4(i), 198.18.0.i/24
	IPv6 netip.Prefix // zero: HostIPv6(i), 2001:db8::i/64
	MTU  int          // zero: 1500; at least 1280, since hosts run IPv6
}

// AddHost adds the i-th host (i = len(Hosts())+1, counted from
// Options.FirstHost): a namespace
// <prefix>-<name> whose eth0 has MAC HostMAC(i), the given or default
// addresses and the link-local address HostLinkLocal(i), joined by a veth
// pair to the switch port <prefix><name> in the switch namespace. Both ends
// are up and the IPv6 addresses usable when AddHost returns. If a Linux
// bridge twin exists, the new port joins it.
func (l *Lab) AddHost(name string, opts HostOptions) (*Host, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("testenv: add host %q: lab %s is closed", name, l.prefix)
	}
	if err := l.checkHostNameLocked(name); err != nil {
		return nil, err
	}
	i, err := l.nextHostLocked(name)
	if err != nil {
		return nil, err
	}
	h := &Host{
		Name:       name,
		Index:      i,
		Iface:      hostIface,
		MAC:        HostMAC(i),
		IPv4:       opts.IPv4,
		IPv6:       opts.IPv6,
		LinkLocal:  HostLinkLocal(i),
		SwitchPort: l.prefix + name,
		lab:        l,
	}
	if !h.IPv4.IsValid() {
		if i > 254 {
			return nil, fmt.Errorf("testenv: host %q: host %d has no default IPv4 address (set HostOptions.IPv4)", name, i)
		}
		h.IPv4 = HostIPv4(i)
	}
	if !h.IPv6.IsValid() {
		if i > 9999 {
			return nil, fmt.Errorf("testenv: host %q: host %d has no default IPv6 address (set HostOptions.IPv6)", name, i)
		}
		h.IPv6 = HostIPv6(i)
	}
	if a := h.IPv4.Addr(); !a.Is4() || !testIPv4.Contains(a) || h.IPv4.Bits() > 30 {
		return nil, fmt.Errorf("testenv: host %q: IPv4 %s: use an address in %s with a prefix length up to 30", name, h.IPv4, testIPv4)
	}
	if a := h.IPv6.Addr(); !a.Is6() || a.Is4In6() || !testIPv6.Contains(a) || h.IPv6.Bits() > 126 {
		return nil, fmt.Errorf("testenv: host %q: IPv6 %s: use an address in %s with a prefix length up to 126", name, h.IPv6, testIPv6)
	}
	mtu := opts.MTU
	if mtu == 0 {
		mtu = 1500
	}
	if mtu < 1280 || mtu > 65535 {
		return nil, fmt.Errorf("testenv: host %q: MTU %d: use 1280 to 65535 (IPv6 needs 1280)", name, mtu)
	}

	ns, err := createNamespace(l.prefix + "-" + name)
	if err != nil {
		return nil, err
	}
	h.NS = ns
	if err := l.buildHostLocked(h, mtu); err != nil {
		return nil, errors.Join(err, l.removeHostLocked(h))
	}
	l.hosts = append(l.hosts, h)
	return h, nil
}

func (l *Lab) checkHostNameLocked(name string) error {
	if name == "" {
		return errors.New("testenv: add host: empty host name")
	}
	for i, r := range name {
		if !isAlnum(r) && (i == 0 || r != '-' && r != '_') {
			return fmt.Errorf("testenv: host name %q: use ASCII letters, digits, '-' and '_', starting with a letter or digit", name)
		}
	}
	if name == "sw" || name == "br" {
		return fmt.Errorf("testenv: host name %q is reserved (namespace %s-sw and bridge %sbr)", name, l.prefix, l.prefix)
	}
	if slices.Contains(l.ports, l.prefix+name) {
		return fmt.Errorf("testenv: host name %q: switch port %s%s exists already", name, l.prefix, name)
	}
	if port := l.prefix + name; len(port) > unix.IFNAMSIZ-1 {
		return fmt.Errorf("testenv: host name %q: switch port %q would be %d characters and Linux allows %d (use a host name of at most %d characters)",
			name, port, len(port), unix.IFNAMSIZ-1, unix.IFNAMSIZ-1-len(l.prefix))
	}
	for _, h := range l.hosts {
		if h.Name == name {
			return fmt.Errorf("testenv: host %q already exists in lab %s", name, l.prefix)
		}
	}
	for _, hb := range l.hubs {
		if hb.name == name {
			return fmt.Errorf("testenv: name %q is taken by a shared port in lab %s", name, l.prefix)
		}
	}
	return nil
}

// nextHostLocked returns the index of the next host, name.
func (l *Lab) nextHostLocked(name string) (int, error) {
	if l.maxHosts > 0 && len(l.hosts) >= l.maxHosts {
		return 0, fmt.Errorf("testenv: host %q: lab %s holds %d hosts (Options.MaxHosts)", name, l.prefix, l.maxHosts)
	}
	return l.firstHost + len(l.hosts), nil
}

func (l *Lab) buildHostLocked(h *Host, mtu int) error {
	if err := setupNamespace(h.NS, hostSysctls); err != nil {
		return err
	}
	// The host's link goes to the switch namespace, or to the hub of its
	// shared port.
	side, sidePort := l.sw, h.SwitchPort
	if h.hub != nil {
		side, sidePort = h.hub.ns, h.Name
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = sidePort
	attrs.MTU = mtu
	// A veth whose index equals its peer's (2 and 2, in a fresh switch
	// namespace and a fresh host namespace) does not count as stacked for
	// linkwatch, so its carrier change waits for the next linkwatch run, up to
	// a second; IPv6 addrconf waits for that. Port indexes from 1000 up can
	// never equal eth0's.
	attrs.Index = switchPortIndexBase + h.Index
	// The switch namespace's handle creates the pair, so neither end ever
	// exists in the namespace the test runs in.
	veth := &netlink.Veth{
		LinkAttrs:        attrs,
		PeerName:         hostIface,
		PeerHardwareAddr: h.MAC,
		PeerNamespace:    netlink.NsFd(h.NS.handle),
		PeerTxQLen:       -1,
	}
	if err := side.nl.LinkAdd(veth); err != nil {
		return fmt.Errorf("testenv: host %q: create veth pair %s (in %s) - %s (in %s): %w",
			h.Name, sidePort, side.Name, hostIface, h.NS.Name, err)
	}
	if err := h.NS.SetSysctl("net.ipv6.conf."+hostIface+".accept_dad", "0"); err != nil {
		return fmt.Errorf("testenv: host %q: %w", h.Name, err)
	}

	port, err := side.nl.LinkByName(sidePort)
	if err != nil {
		return fmt.Errorf("testenv: host %q: port %s: %w", h.Name, sidePort, err)
	}
	switch {
	case h.hub != nil:
		if err := h.hub.attach(port); err != nil {
			return err
		}
	case l.bridge != "":
		if err := l.enslaveLocked(port); err != nil {
			return err
		}
	}
	if err := side.nl.LinkSetUp(port); err != nil {
		return fmt.Errorf("testenv: host %q: bring port %s up: %w", h.Name, sidePort, err)
	}

	eth, err := h.NS.nl.LinkByName(hostIface)
	if err != nil {
		return fmt.Errorf("testenv: host %q: %s: %w", h.Name, hostIface, err)
	}
	h.ifindex = eth.Attrs().Index
	if err := h.NS.nl.LinkSetUp(eth); err != nil {
		return fmt.Errorf("testenv: host %q: bring %s up: %w", h.Name, hostIface, err)
	}
	addrs := []*netlink.Addr{
		{IPNet: prefixIPNet(h.IPv4)},
		{IPNet: prefixIPNet(h.IPv6), Flags: unix.IFA_F_NODAD},
	}
	for _, a := range addrs {
		if err := h.NS.nl.AddrAdd(eth, a); err != nil {
			return fmt.Errorf("testenv: host %q: add address %s to %s: %w", h.Name, a.IPNet, hostIface, err)
		}
	}
	return h.waitIPv6(eth, 5*time.Second)
}

// Replug deletes h's link, both ends, and creates it again with the same
// names, MAC and addresses, as when a VM's tap is re-created: a switch
// port on it sees its interface deleted and a new one appear under the
// same name. The host's multicast memberships go with the old interface
// (join again), and so do its captures.
func (l *Lab) Replug(h *Host) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h.hub != nil {
		return fmt.Errorf("testenv: replug host %q: it shares switch port %s with other hosts (replug a host with a port of its own)", h.Name, h.SwitchPort)
	}
	port, err := l.sw.nl.LinkByName(h.SwitchPort)
	if err != nil {
		return fmt.Errorf("testenv: replug host %q: %w", h.Name, err)
	}
	if err := h.closeTx(); err != nil {
		return err
	}
	if err := deleteLink(l.sw.nl, h.SwitchPort); err != nil {
		return fmt.Errorf("testenv: replug host %q: %w", h.Name, err)
	}
	return l.buildHostLocked(h, port.Attrs().MTU)
}

// waitIPv6 waits until eth carries the host's link-local and global IPv6
// addresses, neither tentative. The kernel adds the link-local address only
// once the link has carrier, which a veth gets when both ends are up.
func (h *Host) waitIPv6(eth netlink.Link, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		addrs, err := h.NS.nl.AddrList(eth, netlink.FAMILY_V6)
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return fmt.Errorf("testenv: host %q: list addresses of %s: %w", h.Name, eth.Attrs().Name, err)
		}
		var ready int
		var seen []string
		for _, a := range addrs {
			ip, ok := netip.AddrFromSlice(a.IP)
			if !ok {
				continue
			}
			seen = append(seen, fmt.Sprintf("%s (flags %#x)", ip, a.Flags))
			if (ip == h.LinkLocal || ip == h.IPv6.Addr()) && a.Flags&unix.IFA_F_TENTATIVE == 0 {
				ready++
			}
		}
		if ready == 2 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testenv: host %q: %s has not got usable IPv6 addresses %s and %s after %v (has: %s)",
				h.Name, eth.Attrs().Name, h.LinkLocal, h.IPv6.Addr(), timeout, strings.Join(seen, ", "))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func prefixIPNet(p netip.Prefix) *net.IPNet {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)}
}

// removeHostLocked deletes the host's veth pair and its namespace. Deleting
// the pair explicitly matters: a namespace (and the veth in it) outlives its
// bind mount while any socket still refers to it.
func (l *Lab) removeHostLocked(h *Host) error {
	var errs []error
	if err := h.closeTx(); err != nil {
		errs = append(errs, err)
	}
	switch {
	case h.hub != nil:
		if h.hub.ns.nl != nil {
			if err := deleteLink(h.hub.ns.nl, h.Name); err != nil {
				errs = append(errs, fmt.Errorf("testenv: host %q: delete hub port %s: %w", h.Name, h.Name, err))
			}
		}
	case l.sw.nl != nil:
		if err := deleteLink(l.sw.nl, h.SwitchPort); err != nil {
			errs = append(errs, fmt.Errorf("testenv: host %q: delete switch port %s: %w", h.Name, h.SwitchPort, err))
		}
	}
	if h.NS != nil {
		errs = append(errs, h.NS.close())
	}
	return errors.Join(errs...)
}

// deleteLink deletes the named link if it exists.
func deleteLink(nl *netlink.Handle, name string) error {
	link, err := nl.LinkByName(name)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil
	}
	if err != nil {
		return err
	}
	return nl.LinkDel(link)
}

// AddLinuxBridge creates the Linux bridge twin: a bridge named <prefix>br in
// the switch namespace, with multicast snooping on, enslaving every switch
// port (and the ports of hosts added later). It lets a test compare
// snoopswitch with the kernel's bridge on the same lab. The bridge forwards
// VLAN-tagged frames unchanged (no vlan_filtering) and, like the switch
// ports, has IPv6 disabled.
func (l *Lab) AddLinuxBridge() (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return "", fmt.Errorf("testenv: add Linux bridge: lab %s is closed", l.prefix)
	}
	if l.bridge != "" {
		return "", fmt.Errorf("testenv: add Linux bridge: %s already exists in %s", l.bridge, l.sw.Name)
	}
	name := l.prefix + "br"
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	snooping := true
	if err := l.sw.nl.LinkAdd(&netlink.Bridge{LinkAttrs: attrs, MulticastSnooping: &snooping}); err != nil {
		return "", fmt.Errorf("testenv: create bridge %s in %s: %w", name, l.sw.Name, err)
	}
	l.bridge = name
	err := func() error {
		for _, name := range l.switchPortsLocked() {
			port, err := l.sw.nl.LinkByName(name)
			if err != nil {
				return fmt.Errorf("testenv: switch port %s: %w", name, err)
			}
			if err := l.enslaveLocked(port); err != nil {
				return err
			}
		}
		br, err := l.sw.nl.LinkByName(name)
		if err == nil {
			err = l.sw.nl.LinkSetUp(br)
		}
		if err != nil {
			return fmt.Errorf("testenv: bring bridge %s up: %w", name, err)
		}
		return nil
	}()
	if err != nil {
		return "", errors.Join(err, l.removeBridgeLocked())
	}
	return name, nil
}

func (l *Lab) enslaveLocked(port netlink.Link) error {
	br, err := l.sw.nl.LinkByName(l.bridge)
	if err == nil {
		err = l.sw.nl.LinkSetMasterByIndex(port, br.Attrs().Index)
	}
	if err != nil {
		return fmt.Errorf("testenv: add %s to bridge %s: %w", port.Attrs().Name, l.bridge, err)
	}
	return nil
}

// RemoveLinuxBridge detaches the switch ports from the Linux bridge twin and
// deletes it, so the same lab can alternate between snoopswitch and the
// bridge. Without a bridge it does nothing.
func (l *Lab) RemoveLinuxBridge() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("testenv: remove Linux bridge: lab %s is closed", l.prefix)
	}
	return l.removeBridgeLocked()
}

func (l *Lab) removeBridgeLocked() error {
	if l.bridge == "" {
		return nil
	}
	br, err := l.sw.nl.LinkByName(l.bridge)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		l.bridge = ""
		return nil
	}
	if err != nil {
		return fmt.Errorf("testenv: bridge %s: %w", l.bridge, err)
	}
	var errs []error
	for _, name := range l.switchPortsLocked() {
		port, err := l.sw.nl.LinkByName(name)
		if err == nil && port.Attrs().MasterIndex == br.Attrs().Index {
			err = l.sw.nl.LinkSetNoMaster(port)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("testenv: detach %s from bridge %s: %w", name, l.bridge, err))
		}
	}
	if err := l.sw.nl.LinkDel(br); err != nil {
		errs = append(errs, fmt.Errorf("testenv: delete bridge %s: %w", l.bridge, err))
	} else {
		l.bridge = ""
	}
	return errors.Join(errs...)
}

// Close removes everything the lab created: captures and sockets it opened,
// the bridge twin, every veth pair and every namespace. It goes on after an
// error and returns them all. Calling it again does nothing.
func (l *Lab) Close() error { return l.shutdown(false) }

// shutdown closes what the lab opened and, unless keep, deletes what it
// created.
func (l *Lab) shutdown(keep bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var errs []error
	for _, sw := range l.switches {
		errs = append(errs, sw.Close())
	}
	for _, c := range l.closers {
		errs = append(errs, c())
	}
	for c := range l.captures {
		errs = append(errs, c.close())
	}
	clear(l.captures)
	if keep {
		for _, h := range l.hosts {
			errs = append(errs, h.closeTx(), h.NS.release())
		}
		for _, hb := range l.hubs {
			errs = append(errs, hb.ns.release())
		}
		errs = append(errs, l.sw.release())
		return errors.Join(errs...)
	}
	errs = append(errs, l.removeBridgeLocked())
	for _, h := range slices.Backward(l.hosts) {
		errs = append(errs, l.removeHostLocked(h))
	}
	for _, hb := range l.hubs {
		errs = append(errs, l.removeHubLocked(hb))
	}
	errs = append(errs, l.sw.close())
	return errors.Join(errs...)
}

func (l *Lab) namespaceNames() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	names := []string{l.sw.Name}
	for _, h := range l.hosts {
		names = append(names, h.NS.Name)
	}
	for _, hb := range l.hubs {
		names = append(names, hb.ns.Name)
	}
	return names
}
