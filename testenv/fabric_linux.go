package testenv

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
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

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/internal/config"
)

// FabricTunnels says which machines of a fabric AddMachine joins by tunnels.
type FabricTunnels uint8

const (
	// Star joins every machine to the first one, the hub: frames between
	// two other machines cross two tunnels and the hub's switch.
	Star FabricTunnels = iota
	// FullMesh joins every machine to every other one.
	FullMesh
	// ManualTunnels joins none: the test calls Fabric.Connect.
	ManualTunnels
)

func (t FabricTunnels) String() string {
	switch t {
	case Star:
		return "star"
	case FullMesh:
		return "full mesh"
	case ManualTunnels:
		return "manual"
	}
	return fmt.Sprintf("FabricTunnels(%d)", uint8(t))
}

// Fabric defaults and limits.
const (
	// DefaultVNI is the VXLAN network identifier of a fabric's tunnels.
	DefaultVNI = 42
	// DefaultVXLANPort is the IANA VXLAN port (RFC 7348 s5).
	DefaultVXLANPort = 4789
	// DefaultHostsPerMachine is the size of each machine's range of host
	// indexes.
	DefaultHostsPerMachine = 20
	// VXLANOverhead is what VXLAN adds to an Ethernet frame over IPv4:
	// outer Ethernet 14, IPv4 20, UDP 8, VXLAN 8 (RFC 7348 s5); IPv6's
	// header is 20 bytes longer.
	VXLANOverhead = 50
	// maxFabricPrefix leaves room for a 3-character machine name in a lab
	// prefix (maxPrefixLen).
	maxFabricPrefix = 5
	maxMachineName  = 3
	// maxTunnels bounds the VNIs a fabric uses past FabricOptions.VNI.
	maxTunnels = 1 << 12
	// underlayMTU carries a 1500-byte frame in VXLAN over IPv6 (1570).
	underlayMTU = 1600
	// tunnelMTU is the MTU of the tunnel devices, the hosts' MTU.
	tunnelMTU = 1500
)

// The underlay's addresses: 198.19.0.k/24 and 2001:db8:ffff::k/64 for the
// k-th machine, inside the test ranges and apart from the hosts' default
// 198.18.0.0/24 and 2001:db8::/64.
var (
	underlayIPv4 = netip.MustParsePrefix("198.19.0.0/24")
	underlayIPv6 = netip.MustParsePrefix("2001:db8:ffff::/64")
)

// FabricOptions configures NewFabric.
type FabricOptions struct {
	// Prefix starts the name of everything the fabric creates: 1 to 5
	// ASCII letters and digits. Empty picks "f" and four random hex digits.
	Prefix string
	// Tunnels says which machines AddMachine joins (Star by default).
	Tunnels FabricTunnels
	// UnderlayIPv6 carries the tunnels over IPv6 instead of IPv4.
	UnderlayIPv6 bool
	// VNI is the first tunnel's VXLAN network identifier; 0 is
	// DefaultVNI. The n-th tunnel made (from 0) has VNI+n: Linux allows one
	// VXLAN device per VNI and UDP port in a namespace, whatever its local
	// and remote addresses ("A VXLAN device with the specified VNI already
	// exists"), so a machine with several point-to-point tunnels needs a
	// VNI for each.
	VNI int
	// DstPort is the tunnels' UDP port; 0 is DefaultVXLANPort.
	DstPort int
	// HostsPerMachine is how many hosts each machine takes; 0 is
	// DefaultHostsPerMachine. The k-th machine's hosts are numbered from
	// (k-1)*HostsPerMachine+1, so MACs and addresses are unique across the
	// fabric, whose hosts share one Ethernet segment.
	HostsPerMachine int
}

// A Fabric is several machines, each a Lab (its switch namespace standing
// for the machine, with the machine's hosts behind it), on one underlay
// network, joined by point-to-point VXLAN tunnels: what several real
// hosts running snoopswitch over VXLAN are. Its methods are safe for
// concurrent use.
type Fabric struct {
	prefix string
	opts   FabricOptions
	ul     *Namespace // <prefix>-ul: the underlay's bridge
	dir    string     // control sockets of the switch processes

	mu       sync.Mutex
	machines []*Machine
	tunnels  []*Tunnel
	procs    []*Process
	closed   bool
}

// A Machine is one machine of a fabric: a Lab whose switch namespace holds
// the machine's underlay interface and its tunnels, which are switch ports
// beside the hosts' (Lab.SwitchPorts lists them last).
type Machine struct {
	*Lab
	// Name is the machine's name in the fabric; its lab prefix is the
	// fabric's prefix plus Name.
	Name string
	// Index is the machine's 1-based position in the fabric.
	Index int
	// UnderlayIface is the machine's link to the underlay, in its switch
	// namespace, <lab prefix>-ul; Underlay is its address there.
	UnderlayIface string
	Underlay      netip.Prefix

	fabric *Fabric
}

// A Tunnel is one end of a point-to-point VXLAN tunnel between two
// machines: a VXLAN device in Machine's switch namespace whose frames go to
// Peer, and a port of Machine's switch.
type Tunnel struct {
	// Name is the device's name, <machine's lab prefix>-vx<peer's name>.
	Name          string
	Machine, Peer *Machine
	VNI           int
	Local, Remote netip.Addr
	DstPort       int
}

// NewFabric builds an empty fabric for a test and removes it when the test
// ends, whether it passes, fails or panics. It skips the test without root
// (see RequireRoot) and fails it if the fabric cannot be built. With
// SNOOPSWITCH_KEEP_LAB=1 a failed test's namespaces are kept.
func NewFabric(tb testing.TB, opts FabricOptions) *Fabric {
	tb.Helper()
	RequireRoot(tb)
	f, err := BuildFabric(opts)
	if err != nil {
		tb.Fatal(err)
	}
	cleanupOrKeep(tb, "fabric "+f.prefix, f.namespaceNames, f.shutdown)
	return f
}

// BuildFabric builds an empty fabric: the underlay namespace <prefix>-ul
// with its bridge. The caller must call Close.
func BuildFabric(opts FabricOptions) (*Fabric, error) {
	if opts.VNI == 0 {
		opts.VNI = DefaultVNI
	}
	if opts.DstPort == 0 {
		opts.DstPort = DefaultVXLANPort
	}
	if opts.HostsPerMachine == 0 {
		opts.HostsPerMachine = DefaultHostsPerMachine
	}
	switch {
	case opts.VNI < 1 || opts.VNI > 1<<24-1-maxTunnels:
		return nil, fmt.Errorf("testenv: fabric: VNI %d: use 1 to %d (24 bits, RFC 7348 s5, less room for a VNI per tunnel)", opts.VNI, 1<<24-1-maxTunnels)
	case opts.DstPort < 1 || opts.DstPort > 65535:
		return nil, fmt.Errorf("testenv: fabric: DstPort %d: use 1 to 65535", opts.DstPort)
	case opts.HostsPerMachine < 1 || opts.HostsPerMachine > 254:
		return nil, fmt.Errorf("testenv: fabric: HostsPerMachine %d: use 1 to 254", opts.HostsPerMachine)
	case opts.Tunnels > ManualTunnels:
		return nil, fmt.Errorf("testenv: fabric: %v: use Star, FullMesh or ManualTunnels", opts.Tunnels)
	}
	if opts.Prefix != "" {
		if len(opts.Prefix) > maxFabricPrefix {
			return nil, fmt.Errorf("testenv: fabric prefix %q is longer than %d characters (a machine's lab prefix is the fabric's plus the machine's name, at most %d in all)", opts.Prefix, maxFabricPrefix, maxPrefixLen)
		}
		if err := checkPrefix(opts.Prefix); err != nil {
			return nil, err
		}
		return newFabric(opts)
	}
	for attempt := 1; ; attempt++ {
		var b [2]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("testenv: random prefix: %w", err)
		}
		opts.Prefix = fmt.Sprintf("f%02x%02x", b[0], b[1])
		f, err := newFabric(opts)
		if errors.Is(err, fs.ErrExist) && attempt < 5 {
			continue // another fabric drew the same prefix
		}
		return f, err
	}
}

func newFabric(opts FabricOptions) (*Fabric, error) {
	ul, err := createNamespace(opts.Prefix + "-ul")
	if err != nil {
		return nil, err
	}
	f := &Fabric{prefix: opts.Prefix, opts: opts, ul: ul}
	err = func() error {
		if err := setupNamespace(ul, switchSysctls); err != nil {
			return err
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name = f.bridgeName()
		attrs.MTU = underlayMTU
		// The underlay carries unicast UDP only: no snooping needed.
		off := false
		if err := ul.nl.LinkAdd(&netlink.Bridge{LinkAttrs: attrs, MulticastSnooping: &off}); err != nil {
			return fmt.Errorf("testenv: fabric %s: create underlay bridge: %w", f.prefix, err)
		}
		if err := ul.SetLinkUp(attrs.Name, true); err != nil {
			return err
		}
		f.dir, err = os.MkdirTemp("", "snoopswitch-"+opts.Prefix+"-")
		return err
	}()
	if err != nil {
		return nil, errors.Join(err, ul.close())
	}
	return f, nil
}

func (f *Fabric) bridgeName() string { return f.prefix + "ul" }

// Prefix returns the prefix of every name the fabric creates.
func (f *Fabric) Prefix() string { return f.prefix }

// Options returns the fabric's options, defaults filled in.
func (f *Fabric) Options() FabricOptions { return f.opts }

// UnderlayNS returns the underlay namespace, whose bridge joins the
// machines' underlay interfaces.
func (f *Fabric) UnderlayNS() *Namespace { return f.ul }

// Machines returns the fabric's machines in the order they were added.
func (f *Fabric) Machines() []*Machine {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.machines)
}

// Machine returns the machine named name, or nil.
func (f *Fabric) Machine(name string) *Machine {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.machines {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// Tunnels returns every tunnel end, in the order they were made (both ends
// of a tunnel one after the other).
func (f *Fabric) Tunnels() []*Tunnel {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.tunnels)
}

// Tunnel returns the end of the tunnel from machine from to machine to,
// or nil if they are not joined.
func (f *Fabric) Tunnel(from, to *Machine) *Tunnel {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.tunnels {
		if t.Machine == from && t.Peer == to {
			return t
		}
	}
	return nil
}

// Tunnels returns the ends of the tunnels on m, in the order they were
// made.
func (m *Machine) Tunnels() []*Tunnel {
	f := m.fabric
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*Tunnel
	for _, t := range f.tunnels {
		if t.Machine == m {
			out = append(out, t)
		}
	}
	return out
}

// Fabric returns the fabric m belongs to.
func (m *Machine) Fabric() *Fabric { return m.fabric }

// AddMachine adds a machine: a lab with prefix <fabric prefix><name> (its
// switch namespace <fabric prefix><name>-sw is the machine), linked to the
// underlay bridge by a veth pair whose machine end, <lab prefix>-ul, has
// the machine's underlay address, then joins it by tunnels as
// FabricOptions.Tunnels says. name is 1 to 3 ASCII letters and digits.
func (f *Fabric) AddMachine(name string) (*Machine, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, fmt.Errorf("testenv: add machine %q: fabric %s is closed", name, f.prefix)
	}
	if name == "" || len(name) > maxMachineName {
		return nil, fmt.Errorf("testenv: machine name %q: use 1 to %d ASCII letters and digits (it goes into every interface name of the machine, and Linux allows 15 characters)", name, maxMachineName)
	}
	for _, r := range name {
		if !isAlnum(r) {
			return nil, fmt.Errorf("testenv: machine name %q: use only ASCII letters and digits", name)
		}
	}
	if name == "ul" {
		return nil, fmt.Errorf("testenv: machine name %q is reserved (namespace %s-ul is the underlay)", name, f.prefix)
	}
	for _, m := range f.machines {
		if m.Name == name {
			return nil, fmt.Errorf("testenv: machine %q already exists in fabric %s", name, f.prefix)
		}
	}
	k := len(f.machines) + 1
	if k*f.opts.HostsPerMachine > 254 || k > 250 {
		return nil, fmt.Errorf("testenv: machine %q: %d machines of %d hosts each do not fit host indexes 1 to 254 (lower FabricOptions.HostsPerMachine)", name, k, f.opts.HostsPerMachine)
	}
	lab, err := NewLab(Options{Prefix: f.prefix + name, FirstHost: (k-1)*f.opts.HostsPerMachine + 1, MaxHosts: f.opts.HostsPerMachine})
	if err != nil {
		return nil, err
	}
	m := &Machine{Lab: lab, Name: name, Index: k, UnderlayIface: lab.prefix + "-ul", fabric: f}
	if f.opts.UnderlayIPv6 {
		a := underlayIPv6.Addr().As16()
		a[15] = byte(k)
		m.Underlay = netip.PrefixFrom(netip.AddrFrom16(a), underlayIPv6.Bits())
	} else {
		a := underlayIPv4.Addr().As4()
		a[3] = byte(k)
		m.Underlay = netip.PrefixFrom(netip.AddrFrom4(a), underlayIPv4.Bits())
	}
	if err := f.plugLocked(m); err != nil {
		return nil, errors.Join(err, f.unplugLocked(m), lab.Close())
	}
	f.machines = append(f.machines, m)
	var peers []*Machine
	switch f.opts.Tunnels {
	case Star:
		if k > 1 {
			peers = f.machines[:1]
		}
	case FullMesh:
		peers = f.machines[:k-1]
	}
	for _, p := range peers {
		if _, _, err := f.connectLocked(p, m); err != nil {
			return nil, err // the machine stays, for Close to remove
		}
	}
	return m, nil
}

// plugLocked links m to the underlay bridge and gives it its address.
func (f *Fabric) plugLocked(m *Machine) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = f.prefix + m.Name
	attrs.MTU = underlayMTU
	veth := &netlink.Veth{
		LinkAttrs:     attrs,
		PeerName:      m.UnderlayIface,
		PeerNamespace: netlink.NsFd(m.sw.handle),
		PeerTxQLen:    -1,
	}
	if err := f.ul.nl.LinkAdd(veth); err != nil {
		return fmt.Errorf("testenv: machine %q: create underlay link %s (in %s) - %s (in %s): %w",
			m.Name, attrs.Name, f.ul.Name, m.UnderlayIface, m.sw.Name, err)
	}
	br, err := f.ul.nl.LinkByName(f.bridgeName())
	if err != nil {
		return fmt.Errorf("testenv: fabric %s: underlay bridge: %w", f.prefix, err)
	}
	port, err := f.ul.nl.LinkByName(attrs.Name)
	if err == nil {
		err = f.ul.nl.LinkSetMasterByIndex(port, br.Attrs().Index)
	}
	if err == nil {
		err = f.ul.nl.LinkSetUp(port)
	}
	if err != nil {
		return fmt.Errorf("testenv: machine %q: underlay port %s: %w", m.Name, attrs.Name, err)
	}
	if f.opts.UnderlayIPv6 {
		// Machines disable IPv6 on new interfaces (switch ports are
		// wires); the underlay link is the one that needs it.
		if err := m.sw.SetSysctl("net.ipv6.conf."+m.UnderlayIface+".disable_ipv6", "0"); err != nil {
			return err
		}
	}
	link, err := m.sw.nl.LinkByName(m.UnderlayIface)
	if err == nil {
		err = m.sw.nl.AddrAdd(link, &netlink.Addr{IPNet: prefixIPNet(m.Underlay), Flags: unix.IFA_F_NODAD})
	}
	if err == nil {
		err = m.sw.nl.LinkSetUp(link)
	}
	if err != nil {
		return fmt.Errorf("testenv: machine %q: underlay interface %s (%s): %w", m.Name, m.UnderlayIface, m.Underlay, err)
	}
	return nil
}

// unplugLocked deletes m's underlay link, if it exists.
func (f *Fabric) unplugLocked(m *Machine) error {
	if f.ul.nl == nil {
		return nil
	}
	if err := deleteLink(f.ul.nl, f.prefix+m.Name); err != nil {
		return fmt.Errorf("testenv: machine %q: delete underlay link: %w", m.Name, err)
	}
	return nil
}

// Connect joins machines a and b by a point-to-point VXLAN tunnel, one
// device on each (as `ip link add NAME type vxlan id VNI remote R local L
// dstport P dev U nolearning` makes it; the tunnel's own VNI, see
// FabricOptions.VNI), each a port of its machine's
// switch (Lab.AddPort). It returns a's end and b's end. AddMachine calls
// it for Star and FullMesh fabrics.
func (f *Fabric) Connect(a, b *Machine) (ab, ba *Tunnel, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, nil, fmt.Errorf("testenv: connect %s and %s: fabric %s is closed", a.Name, b.Name, f.prefix)
	}
	return f.connectLocked(a, b)
}

func (f *Fabric) connectLocked(a, b *Machine) (ab, ba *Tunnel, err error) {
	if a == b || a.fabric != f || b.fabric != f {
		return nil, nil, fmt.Errorf("testenv: connect %s and %s: name two machines of fabric %s", a.Name, b.Name, f.prefix)
	}
	for _, t := range f.tunnels {
		if t.Machine == a && t.Peer == b {
			return nil, nil, fmt.Errorf("testenv: machines %s and %s are joined already (%s)", a.Name, b.Name, t.Name)
		}
	}
	n := len(f.tunnels) / 2
	if n >= maxTunnels {
		return nil, nil, fmt.Errorf("testenv: connect %s and %s: fabric %s has %d tunnels, the most it makes", a.Name, b.Name, f.prefix, maxTunnels)
	}
	vni := f.opts.VNI + n
	if ab, err = f.tunnelLocked(a, b, vni); err != nil {
		return nil, nil, err
	}
	if ba, err = f.tunnelLocked(b, a, vni); err != nil {
		return nil, nil, errors.Join(err, deleteLink(a.sw.nl, ab.Name))
	}
	for _, t := range []*Tunnel{ab, ba} {
		if err := t.Machine.AddPort(t.Name); err != nil {
			return nil, nil, errors.Join(err, deleteLink(a.sw.nl, ab.Name), deleteLink(b.sw.nl, ba.Name))
		}
	}
	f.tunnels = append(f.tunnels, ab, ba)
	return ab, ba, nil
}

// tunnelLocked creates m's end of a tunnel to peer, up.
func (f *Fabric) tunnelLocked(m, peer *Machine, vni int) (*Tunnel, error) {
	t := &Tunnel{
		Name: m.prefix + "-vx" + peer.Name, Machine: m, Peer: peer,
		VNI: vni, Local: m.Underlay.Addr(), Remote: peer.Underlay.Addr(), DstPort: f.opts.DstPort,
	}
	ul, err := m.sw.nl.LinkByName(m.UnderlayIface)
	if err != nil {
		return nil, fmt.Errorf("testenv: tunnel %s: underlay %s: %w", t.Name, m.UnderlayIface, err)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = t.Name
	attrs.MTU = tunnelMTU
	// Learning off: the remote is the tunnel's one destination, and the
	// switch behind it learns MACs itself.
	vx := &netlink.Vxlan{
		LinkAttrs:    attrs,
		VxlanId:      t.VNI,
		VtepDevIndex: ul.Attrs().Index,
		SrcAddr:      net.IP(t.Local.AsSlice()),
		Group:        net.IP(t.Remote.AsSlice()),
		Port:         t.DstPort,
		Learning:     false,
		TTL:          64,
	}
	if err := m.sw.nl.LinkAdd(vx); err != nil {
		return nil, fmt.Errorf("testenv: create tunnel %s in %s (vxlan id %d remote %s local %s dstport %d dev %s): %w",
			t.Name, m.sw.Name, t.VNI, t.Remote, t.Local, t.DstPort, m.UnderlayIface, err)
	}
	if err := m.sw.SetLinkUp(t.Name, true); err != nil {
		return nil, errors.Join(err, deleteLink(m.sw.nl, t.Name))
	}
	return t, nil
}

// TunnelStats are a tunnel device's counters of frames that crossed it.
type TunnelStats struct {
	TxPackets, RxPackets uint64
	TxBytes, RxBytes     uint64
	TxDropped, TxErrors  uint64
}

// Stats reads the tunnel device's counters: TxPackets are the frames the
// machine's switch sent over the tunnel toward Peer, RxPackets those that
// arrived from it.
func (t *Tunnel) Stats() (TunnelStats, error) {
	h := t.Machine.sw.Handle()
	if h == nil {
		return TunnelStats{}, fmt.Errorf("testenv: tunnel %s: %w", t.Name, errClosed)
	}
	link, err := h.LinkByName(t.Name)
	if err != nil {
		return TunnelStats{}, fmt.Errorf("testenv: tunnel %s: %w", t.Name, err)
	}
	s := link.Attrs().Statistics
	if s == nil {
		return TunnelStats{}, fmt.Errorf("testenv: tunnel %s: the kernel reported no counters", t.Name)
	}
	return TunnelStats{
		TxPackets: s.TxPackets, RxPackets: s.RxPackets, TxBytes: s.TxBytes, RxBytes: s.RxBytes,
		TxDropped: s.TxDropped, TxErrors: s.TxErrors,
	}, nil
}

// Capture records the frames arriving over the tunnel from Peer (those
// Peer's switch sent into it), as Host.Capture records a host's. A frame
// that crossed the tunnel from a to b shows in the capture of b's end.
func (t *Tunnel) Capture() (*Capture, error) {
	h := t.Machine.sw.Handle()
	if h == nil {
		return nil, fmt.Errorf("testenv: tunnel %s: %w", t.Name, errClosed)
	}
	link, err := h.LinkByName(t.Name)
	if err != nil {
		return nil, fmt.Errorf("testenv: tunnel %s: %w", t.Name, err)
	}
	ifi := &net.Interface{Index: link.Attrs().Index, Name: t.Name, HardwareAddr: link.Attrs().HardwareAddr}
	return t.Machine.Lab.capture(t.Machine.sw, ifi, fmt.Sprintf("tunnel %s", t.Name))
}

// Config returns the configuration of `snoopswitch run` on m, as
// config.Default() with m's switch ports: a host port for each host port,
// tunnelRole for each tunnel, and no control socket. Tests change it and
// start an in-process switch with Config().Engine(logger), or a process
// with its flags (Machine.Run).
func (m *Machine) Config(tunnelRole config.Role) *config.Config {
	c := config.Default()
	c.ControlSocket.Path = ""
	tunnels := m.Tunnels()
	for _, name := range m.SwitchPorts() {
		role := config.RoleHost
		if slices.ContainsFunc(tunnels, func(t *Tunnel) bool { return t.Name == name }) {
			role = tunnelRole
		}
		c.SetPort(name, role)
	}
	return c
}

// StartConfigured starts an in-process switch on m's ports (Lab.StartSwitch)
// as `snoopswitch run` would with configuration c (from Config, changed):
// its engine from c.Engine(logger), then each port's split horizon and
// VLANs. c's ports must be m's switch ports, in their order.
func (m *Machine) StartConfigured(c *config.Config, logger *slog.Logger) (*Switch, error) {
	ports := m.SwitchPorts()
	if len(c.Ports) != len(ports) {
		return nil, fmt.Errorf("testenv: machine %s: the configuration has %d ports and the machine %d (%s)", m.Name, len(c.Ports), len(ports), strings.Join(ports, ", "))
	}
	for i, p := range c.Ports {
		if p.Name != ports[i] {
			return nil, fmt.Errorf("testenv: machine %s: the configuration's port %d is %s, the machine's %s", m.Name, i, p.Name, ports[i])
		}
	}
	sw, err := m.StartSwitch(SwitchConfig{Engine: c.Engine(logger)})
	if err != nil {
		return nil, err
	}
	for i, p := range c.Ports {
		id := fdb.PortID(i)
		if err := errors.Join(sw.Engine.SetPortSplitHorizon(id, p.SplitHorizon), sw.Engine.SetPortVLANs(id, p.VLANIDs())); err != nil {
			return nil, errors.Join(fmt.Errorf("testenv: machine %s: port %s: %w", m.Name, p.Name, err), sw.Close())
		}
	}
	return sw, nil
}

// Close stops the switch processes, removes the tunnels and every machine
// (as Lab.Close does) and the underlay. It goes on after an error and
// returns them all. Calling it again does nothing.
func (f *Fabric) Close() error { return f.shutdown(false) }

func (f *Fabric) shutdown(keep bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	var errs []error
	for _, p := range f.procs {
		errs = append(errs, p.Stop())
	}
	if keep {
		for _, m := range f.machines {
			errs = append(errs, m.Lab.shutdown(true))
		}
		return errors.Join(append(errs, f.ul.release())...)
	}
	for _, t := range slices.Backward(f.tunnels) {
		if h := t.Machine.sw.Handle(); h != nil {
			if err := deleteLink(h, t.Name); err != nil {
				errs = append(errs, fmt.Errorf("testenv: delete tunnel %s: %w", t.Name, err))
			}
		}
	}
	for _, m := range slices.Backward(f.machines) {
		errs = append(errs, f.unplugLocked(m), m.Lab.Close())
	}
	errs = append(errs, f.ul.close())
	if f.dir != "" {
		errs = append(errs, os.RemoveAll(f.dir))
	}
	return errors.Join(errs...)
}

func (f *Fabric) namespaceNames() []string {
	names := []string{f.ul.Name}
	for _, m := range f.Machines() {
		names = append(names, m.namespaceNames()...)
	}
	return names
}

// waitUntil polls cond every 20 ms until it holds or timeout passes.
func waitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
