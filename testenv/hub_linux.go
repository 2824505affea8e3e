package testenv

import (
	"errors"
	"fmt"
	"slices"

	"github.com/vishvananda/netlink"
)

// hubPortIndexBase + i is the interface index of the i-th shared switch
// port, above every host's (switchPortIndexBase + host index).
const hubPortIndexBase = switchPortIndexBase + 10000

// hubBridge and hubUplink are the bridge and its link toward the switch
// inside a hub namespace.
const (
	hubBridge = "hub"
	hubUplink = "uplink"
)

// hub is a shared switch port: a namespace <prefix>-<name> holding a Linux
// bridge with multicast snooping off, joined to switch port <prefix><name>
// and to each host behind it.
type hub struct {
	name string
	ns   *Namespace
	port string // the switch port
}

// AddHostsBehindPort adds hosts that share one switch port, as the guests
// of a VM host or the machines behind an unmanaged switch do: switch port
// <prefix><port> leads to a hub, a namespace <prefix>-<port> holding a
// Linux bridge with multicast snooping off (it floods every frame, as an
// unmanaged switch does, so the hosts hear each other's reports), and each
// named host's eth0 is joined to that bridge. The hosts are numbered and
// addressed as AddHost numbers them, and their SwitchPort is the shared
// port. Lab.SwitchPorts lists the port once, and StartSwitch opens it once.
// A host behind a shared port cannot be replugged.
func (l *Lab) AddHostsBehindPort(port string, names ...string) ([]*Host, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("testenv: add hosts behind port %q: lab %s is closed", port, l.prefix)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("testenv: add hosts behind port %q: name at least one host", port)
	}
	if err := l.checkHostNameLocked(port); err != nil {
		return nil, err
	}
	for i, n := range names {
		if err := l.checkHostNameLocked(n); err != nil {
			return nil, err
		}
		if n == port || slices.Contains(names[:i], n) {
			return nil, fmt.Errorf("testenv: add hosts behind port %q: name %q given twice", port, n)
		}
	}
	hb, err := l.addHubLocked(port)
	if err != nil {
		return nil, err
	}
	var hosts []*Host
	for _, n := range names {
		i, err := l.nextHostLocked(n)
		if err != nil {
			return nil, err
		}
		if i > 254 {
			return nil, fmt.Errorf("testenv: host %q: host %d has no default IPv4 address (use AddHost)", n, i)
		}
		h := &Host{
			Name:       n,
			Index:      i,
			Iface:      hostIface,
			MAC:        HostMAC(i),
			IPv4:       HostIPv4(i),
			IPv6:       HostIPv6(i),
			LinkLocal:  HostLinkLocal(i),
			SwitchPort: hb.port,
			lab:        l,
			hub:        hb,
		}
		if h.NS, err = createNamespace(l.prefix + "-" + n); err != nil {
			return nil, err
		}
		if err := l.buildHostLocked(h, 1500); err != nil {
			return nil, errors.Join(err, l.removeHostLocked(h))
		}
		l.hosts = append(l.hosts, h)
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// addHubLocked creates the hub of shared port name and its switch port,
// both up, the switch port in the Linux bridge twin if there is one.
func (l *Lab) addHubLocked(name string) (*hub, error) {
	ns, err := createNamespace(l.prefix + "-" + name)
	if err != nil {
		return nil, err
	}
	hb := &hub{name: name, ns: ns, port: l.prefix + name}
	err = func() error {
		// The hub is a wire, like the switch: no IPv6 of its own, so it
		// sends no MLD reports that would make it a host of the port.
		if err := setupNamespace(ns, switchSysctls); err != nil {
			return err
		}
		off := false
		attrs := netlink.NewLinkAttrs()
		attrs.Name = hubBridge
		if err := ns.nl.LinkAdd(&netlink.Bridge{LinkAttrs: attrs, MulticastSnooping: &off}); err != nil {
			return fmt.Errorf("testenv: shared port %q: create bridge in %s: %w", name, ns.Name, err)
		}
		attrs = netlink.NewLinkAttrs()
		attrs.Name = hb.port
		attrs.Index = hubPortIndexBase + len(l.hubs) + 1
		veth := &netlink.Veth{LinkAttrs: attrs, PeerName: hubUplink, PeerNamespace: netlink.NsFd(ns.handle), PeerTxQLen: -1}
		if err := l.sw.nl.LinkAdd(veth); err != nil {
			return fmt.Errorf("testenv: shared port %q: create veth pair %s (in %s) - %s (in %s): %w", name, hb.port, l.sw.Name, hubUplink, ns.Name, err)
		}
		up, err := ns.nl.LinkByName(hubUplink)
		if err != nil {
			return fmt.Errorf("testenv: shared port %q: %s: %w", name, hubUplink, err)
		}
		if err := hb.attach(up); err != nil {
			return err
		}
		for _, n := range []string{hubUplink, hubBridge} {
			link, err := ns.nl.LinkByName(n)
			if err == nil {
				err = ns.nl.LinkSetUp(link)
			}
			if err != nil {
				return fmt.Errorf("testenv: shared port %q: bring %s up in %s: %w", name, n, ns.Name, err)
			}
		}
		port, err := l.sw.nl.LinkByName(hb.port)
		if err != nil {
			return fmt.Errorf("testenv: shared port %q: switch port %s: %w", name, hb.port, err)
		}
		if l.bridge != "" {
			if err := l.enslaveLocked(port); err != nil {
				return err
			}
		}
		if err := l.sw.nl.LinkSetUp(port); err != nil {
			return fmt.Errorf("testenv: shared port %q: bring switch port %s up: %w", name, hb.port, err)
		}
		return nil
	}()
	if err != nil {
		return nil, errors.Join(err, l.removeHubLocked(hb))
	}
	l.hubs = append(l.hubs, hb)
	return hb, nil
}

// attach puts link into the hub's bridge.
func (hb *hub) attach(link netlink.Link) error {
	br, err := hb.ns.nl.LinkByName(hubBridge)
	if err == nil {
		err = hb.ns.nl.LinkSetMasterByIndex(link, br.Attrs().Index)
	}
	if err != nil {
		return fmt.Errorf("testenv: shared port %q: add %s to its bridge: %w", hb.name, link.Attrs().Name, err)
	}
	return nil
}

// removeHubLocked deletes the hub's switch port and its namespace (the
// hosts behind it are removed on their own).
func (l *Lab) removeHubLocked(hb *hub) error {
	var errs []error
	if l.sw.nl != nil {
		if err := deleteLink(l.sw.nl, hb.port); err != nil {
			errs = append(errs, fmt.Errorf("testenv: shared port %q: delete switch port %s: %w", hb.name, hb.port, err))
		}
	}
	return errors.Join(append(errs, hb.ns.close())...)
}

// SwitchPorts returns the switch-side port names of the lab's hosts, in the
// order the hosts were added, a port shared by several hosts
// (AddHostsBehindPort) once, then the ports AddPort added, in their order.
func (l *Lab) SwitchPorts() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.switchPortsLocked()
}

func (l *Lab) switchPortsLocked() []string {
	var ports []string
	for _, h := range l.hosts {
		if !slices.Contains(ports, h.SwitchPort) {
			ports = append(ports, h.SwitchPort)
		}
	}
	return append(ports, l.ports...)
}

// AddPort makes name, an interface that exists in the switch namespace, a
// switch port beside the hosts' (a fabric's tunnel is one): SwitchPorts
// lists it after them, StartSwitch opens it, and the Linux bridge twin
// enslaves it. The lab does not delete the interface at Close; its
// namespace's removal does, unless the caller removed it first.
func (l *Lab) AddPort(name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("testenv: add port %q: lab %s is closed", name, l.prefix)
	}
	if slices.Contains(l.switchPortsLocked(), name) {
		return fmt.Errorf("testenv: add port %q: it is a switch port of lab %s already", name, l.prefix)
	}
	link, err := l.sw.nl.LinkByName(name)
	if err != nil {
		return fmt.Errorf("testenv: add port %q: %w (create it in namespace %s first)", name, err, l.sw.Name)
	}
	if l.bridge != "" {
		if err := l.enslaveLocked(link); err != nil {
			return err
		}
	}
	l.ports = append(l.ports, name)
	return nil
}
