package tunnel

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// aliasPrefix starts the alias (IFLA_IFALIAS, "alias" in ip link show) of
// every device a Set creates, followed by the creating process's pid: it
// tells a tunnel a switch made from a device of the same name made by hand,
// which a Set never touches.
const aliasPrefix = "snoopswitch tunnel, pid "

// Options configures NewSet.
type Options struct {
	// Handle is an rtnetlink handle in the network namespace the tunnels
	// are made in; nil is the process's namespace.
	Handle *netlink.Handle
	// Logger logs what the Set replaces and warns of; nil discards.
	Logger *slog.Logger
}

// Set is the tunnels one switch created. It removes only those, and each
// only once. Its methods are safe for concurrent use.
type Set struct {
	nl     *netlink.Handle
	logger *slog.Logger

	mu      sync.Mutex
	devices map[string]*Device // by name
}

// NewSet returns an empty Set.
func NewSet(o Options) *Set {
	s := &Set{nl: o.Handle, logger: o.Logger, devices: make(map[string]*Device)}
	if s.nl == nil {
		s.nl = &netlink.Handle{} // the package's own sockets, in the process's namespace
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	return s
}

// ErrExists is wrapped by Create's error for a device name that is taken by
// a device the Set did not make.
var ErrExists = errors.New("a device of that name exists")

// Create makes the tunnel t: a VXLAN device with t's VNI, remote, local
// address, underlay and UDP port, learning off, up. A device of the same
// name that a switch made and left behind (its pid is gone) is replaced;
// any other is refused with ErrExists. On error nothing is left behind.
func (s *Set) Create(t Spec) (*Device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fail := func(format string, a ...any) (*Device, error) {
		return nil, fmt.Errorf("tunnel %q: "+format, append([]any{t.Name}, a...)...)
	}
	if _, ok := s.devices[t.Name]; ok {
		return fail("created already")
	}
	under, err := s.nl.LinkByName(t.Device)
	if err != nil {
		return fail("underlay device %q: %v (ip link show lists the interfaces)", t.Device, err)
	}
	if err := s.checkLocal(t); err != nil {
		return nil, err
	}
	if err := s.clearLeftover(t.Name); err != nil {
		return nil, err
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = t.Name
	vx := &netlink.Vxlan{
		LinkAttrs:    attrs,
		VxlanId:      t.VNI,
		VtepDevIndex: under.Attrs().Index,
		SrcAddr:      t.Local.AsSlice(),
		// A unicast address here is the remote of a point-to-point device:
		// the kernel puts it in the all-zeros FDB entry, where every frame
		// goes, and with learning off it never adds another.
		Group:    t.Remote.AsSlice(),
		Port:     t.Port(),
		Learning: false,
	}
	if err := s.nl.LinkAdd(vx); err != nil {
		if errors.Is(err, unix.EEXIST) {
			// drivers/net/vxlan: vxlan_vni_in_use; the device name was
			// checked free above.
			return fail("%v: another VXLAN device in this namespace has VNI %d on UDP port %d (ip -d link show type vxlan lists them); give each tunnel its own VNI", err, t.VNI, t.Port())
		}
		return fail("create the VXLAN device: %v", err)
	}
	d, err := s.mark(t, under)
	if err != nil {
		if derr := s.nl.LinkDel(vx); derr != nil {
			err = errors.Join(err, fmt.Errorf("tunnel %q: remove it again: %w", t.Name, derr))
		}
		return nil, err
	}
	if d.GSOMaxSize < under.Attrs().GSOMaxSize {
		s.logger.Warn("tunnel: GSO super-frames are cut smaller than on the underlay", "tunnel", t.Name,
			"gso_max_size", d.GSOMaxSize, "underlay_gso_max_size", under.Attrs().GSOMaxSize)
	}
	s.devices[t.Name] = d
	return d, nil
}

// mark gives the new device the alias that says this process made it
// (the kernel takes an alias only once the device exists), brings it up
// and reads it back.
func (s *Set) mark(t Spec, under netlink.Link) (*Device, error) {
	link, err := s.nl.LinkByName(t.Name)
	if err != nil {
		return nil, fmt.Errorf("tunnel %q: read the new device: %w", t.Name, err)
	}
	if err := s.nl.LinkSetAlias(link, ownAlias()); err != nil {
		return nil, fmt.Errorf("tunnel %q: set its alias: %w", t.Name, err)
	}
	if err := s.nl.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("tunnel %q: bring it up: %w", t.Name, err)
	}
	a := link.Attrs()
	return &Device{Spec: t, Index: a.Index, MTU: a.MTU, UnderlayMTU: under.Attrs().MTU,
		GSOMaxSize: a.GSOMaxSize, GSOMaxSegs: a.GSOMaxSegs}, nil
}

// checkLocal returns an error unless t.Local is an address of this
// namespace: the kernel takes any, and the tunnel would send nothing.
func (s *Set) checkLocal(t Spec) error {
	family := netlink.FAMILY_V4
	if t.Local.Is6() {
		family = netlink.FAMILY_V6
	}
	addrs, err := s.nl.AddrList(nil, family)
	if err != nil {
		return fmt.Errorf("tunnel %q: list the addresses: %w", t.Name, err)
	}
	for _, a := range addrs {
		if ip, ok := netipAddr(a.IP); ok && ip == t.Local {
			return nil
		}
	}
	return fmt.Errorf("tunnel %q: local %s is not an address of this machine (ip addr show lists them); give the underlay's own address", t.Name, t.Local)
}

// clearLeftover makes sure no device is called name: it removes one that a
// switch made and left behind, and refuses any other.
func (s *Set) clearLeftover(name string) error {
	link, err := s.nl.LinkByName(name)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) {
			return nil
		}
		return fmt.Errorf("tunnel %q: %w", name, err)
	}
	alias := link.Attrs().Alias
	pid, err := strconv.Atoi(strings.TrimPrefix(alias, aliasPrefix))
	if !strings.HasPrefix(alias, aliasPrefix) || err != nil {
		return fmt.Errorf("tunnel %q: %w, and no switch made it: delete it (ip link del %s), give the tunnel another name, or list the device under ports: with role: switch to use it as it is", name, ErrExists, name)
	}
	if alive(pid) {
		return fmt.Errorf("tunnel %q: %w: snoopswitch pid %d made it and still runs; two switches in one namespace need tunnels of their own names", name, ErrExists, pid)
	}
	s.logger.Info("tunnel: removing the device a stopped switch left behind", "tunnel", name, "pid", pid)
	if err := s.nl.LinkDel(link); err != nil {
		return fmt.Errorf("tunnel %q: remove the device snoopswitch pid %d left behind: %w", name, pid, err)
	}
	return nil
}

// ownAlias is the alias of the devices this process makes.
func ownAlias() string { return aliasPrefix + strconv.Itoa(os.Getpid()) }

// alive reports whether process pid exists.
func alive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// Remove deletes the tunnel name that the Set created. The device is
// checked to be the one created (same index, same alias) first: one deleted
// and re-made by hand meanwhile is left alone.
func (s *Set) Remove(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removeLocked(name)
}

// removeLocked is Remove; s.mu is held.
func (s *Set) removeLocked(name string) error {
	d, ok := s.devices[name]
	if !ok {
		return fmt.Errorf("tunnel %q: this switch did not create it", name)
	}
	delete(s.devices, name)
	link, err := s.nl.LinkByIndex(d.Index)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) {
			s.logger.Warn("tunnel: the device was deleted already", "tunnel", name)
			return nil
		}
		return fmt.Errorf("tunnel %q: %w", name, err)
	}
	if a := link.Attrs(); a.Name != name || a.Alias != ownAlias() {
		s.logger.Warn("tunnel: the device was replaced by another; leaving that one", "tunnel", name, "index", d.Index, "now", a.Name)
		return nil
	}
	if err := s.nl.LinkDel(link); err != nil {
		return fmt.Errorf("tunnel %q: remove the device: %w", name, err)
	}
	return nil
}

// Device returns the tunnel name as created, nil if the Set has none.
func (s *Set) Device(name string) *Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.devices[name]
}

// Names returns the names of the Set's tunnels, sorted.
func (s *Set) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.devices))
	for n := range s.devices {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Close removes every tunnel of the Set, going on after errors.
func (s *Set) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for name := range s.devices {
		errs = append(errs, s.removeLocked(name))
	}
	return errors.Join(errs...)
}

// CheckMTU checks that every tunnel of tunnels carries whole the frames of
// every interface of ports (CheckMTU, with the MTUs the kernel has now; a
// port that does not exist is left to whoever opens it). It returns the
// problems of tunnels with WarnMTU, to be logged, and an error joining the
// others, which should stop the switch.
func (s *Set) CheckMTU(tunnels []Spec, ports []string) (warnings []*MTUError, err error) {
	mtus := make(map[string]int)
	for _, name := range ports {
		if link, err := s.nl.LinkByName(name); err == nil {
			mtus[name] = link.Attrs().MTU
		}
	}
	var errs []error
	for _, t := range tunnels {
		under, err := s.nl.LinkByName(t.Device)
		if err != nil {
			errs = append(errs, fmt.Errorf("tunnel %q: underlay device %q: %w", t.Name, t.Device, err))
			continue
		}
		for _, e := range CheckMTU(t, under.Attrs().MTU, ports, mtus) {
			if t.WarnMTU {
				warnings = append(warnings, e)
			} else {
				errs = append(errs, e)
			}
		}
	}
	return warnings, errors.Join(errs...)
}

// netipAddr converts an address from the net package, an IPv4 one in its
// 4-byte form.
func netipAddr(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	return a.Unmap(), ok
}
