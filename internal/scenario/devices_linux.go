package scenario

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/testenv"
)

var (
	_ Device = (*Snoopswitch)(nil)
	_ Device = (*LinuxBridge)(nil)
)

// Snoopswitch is snoopswitch running in the test process on a lab, with
// snooping on.
type Snoopswitch struct {
	sw *testenv.Switch
}

// StartSnoopswitch starts snoopswitch on every host port of lab, with
// snooping at its defaults (its own querier: IGMPv3 from 0.0.0.0, MLDv2
// from its link-local address; the RFC 3376 timers), and waits out its
// start-up window (WaitLearned).
func StartSnoopswitch(lab *testenv.Lab) (*Snoopswitch, error) {
	sw, err := lab.StartSwitch(testenv.SwitchConfig{Engine: switching.Config{Snooping: &snoop.Config{}}})
	if err != nil {
		return nil, err
	}
	d := OnSwitch(sw)
	if err := d.WaitLearned(30 * time.Second); err != nil {
		sw.Close()
		return nil, err
	}
	return d, nil
}

// OnSwitch returns the Device of a snoopswitch the caller started on a lab
// with snooping on, such as `snoopswitch lab`'s with its guard policies.
func OnSwitch(sw *testenv.Switch) *Snoopswitch { return &Snoopswitch{sw: sw} }

// WaitLearned waits until the switch stops flooding groups nobody
// registered (Snooper.LearningAny). Like the bridge, it floods them after it
// starts, until the hosts have answered its first general query (a query
// response interval) or the elected querier's (that query's Max Response
// Time): hosts that joined before it report only when queried. Scenarios
// wait that window out, as the bridge's is.
func (d *Snoopswitch) WaitLearned(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for d.sw.Engine.Snooper().LearningAny() {
		if time.Now().After(deadline) {
			return fmt.Errorf("scenario: snoopswitch still floods unregistered groups %v after its start", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func (d *Snoopswitch) Name() string { return "snoopswitch" }

// Snoops leaves out what snoop.Membership ignores: 224.0.0.0/24, ff02::1 and
// IPv6 groups of scope 0 or 1.
func (d *Snoopswitch) Snoops(group netip.Addr) bool {
	if group.Is4() {
		return !localNetwork4.Contains(group)
	}
	return group != allNodes6 && ipv6Scope(group) > 1
}

func (d *Snoopswitch) Registered(h *testenv.Host, group netip.Addr) (bool, error) {
	port, ok := d.sw.Engine.PortID(h.SwitchPort)
	if !ok {
		return false, fmt.Errorf("scenario: snoopswitch has no port %s (host %s)", h.SwitchPort, h.Name)
	}
	_, ok = d.sw.Engine.Snooper().Groups().Get(0, group, port)
	return ok, nil
}

// Close stops the switch.
func (d *Snoopswitch) Close() error { return d.sw.Close() }

// LinuxBridge is the lab's Linux bridge twin configured for comparison:
// multicast_snooping 1, multicast_querier 1, multicast_igmp_version 3,
// multicast_mld_version 2, every other option at the kernel's default, and
// IPv6 on the bridge so that its MLD querier has a source address.
type LinuxBridge struct {
	lab   *testenv.Lab
	name  string
	ports map[string]bool // switch port names
}

// Bridge options applied by StartLinuxBridge, in this order: the versions
// before the querier, so that its first queries are already IGMPv3 and MLDv2.
var bridgeOptions = []testenv.BridgeOption{
	testenv.BridgeMulticastSnooping(true),
	testenv.BridgeIGMPVersion(3),
	testenv.BridgeMLDVersion(2),
	testenv.BridgeMulticastQuerier(true),
}

// StartLinuxBridge creates the lab's Linux bridge twin and configures it.
// The bridge constrains multicast only once its querier has been on for a
// while: Runner.Ready waits for that.
func StartLinuxBridge(lab *testenv.Lab) (*LinuxBridge, error) {
	name, err := lab.AddLinuxBridge()
	if err != nil {
		return nil, err
	}
	ns := lab.SwitchNS()
	br, err := ns.Handle().LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("scenario: bridge %s: %w", name, err)
	}
	d := &LinuxBridge{lab: lab, name: name, ports: make(map[string]bool)}
	for _, h := range lab.Hosts() {
		d.ports[h.SwitchPort] = true
	}
	// The MLD querier sends from the bridge's link-local address. Without
	// one a query fails, the bridge counts its own MLD querier as absent
	// and floods IPv6 multicast until a later query succeeds (the next
	// startup query is 31 s away), so IPv6 comes first.
	if err := ns.SetSysctl("net.ipv6.conf."+name+".disable_ipv6", "0"); err != nil {
		return nil, err
	}
	if err := d.waitLinkLocal(br, 5*time.Second); err != nil {
		return nil, err
	}
	if err := lab.SetLinuxBridge(bridgeOptions...); err != nil {
		return nil, err
	}
	return d, nil
}

// waitLinkLocal waits until the bridge has a usable link-local address.
func (d *LinuxBridge) waitLinkLocal(br netlink.Link, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		addrs, err := d.lab.SwitchNS().Handle().AddrList(br, netlink.FAMILY_V6)
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return fmt.Errorf("scenario: bridge %s: list addresses: %w", d.name, err)
		}
		for _, a := range addrs {
			if a.IP.IsLinkLocalUnicast() && a.Flags&unix.IFA_F_TENTATIVE == 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("scenario: bridge %s has no link-local IPv6 address %v after enabling IPv6", d.name, timeout)
		}
		time.Sleep(pollEvery)
	}
}

func (d *LinuxBridge) Name() string { return "linux bridge" }

// Snoops leaves out what the bridge never adds to its MDB
// (br_ip4_multicast_add_group, br_ip6_multicast_add_group): 224.0.0.0/24
// and ff02::1.
func (d *LinuxBridge) Snoops(group netip.Addr) bool {
	if group.Is4() {
		return !localNetwork4.Contains(group)
	}
	return group != allNodes6
}

func (d *LinuxBridge) Registered(h *testenv.Host, group netip.Addr) (bool, error) {
	if !d.ports[h.SwitchPort] {
		return false, fmt.Errorf("scenario: bridge %s has no port %s (host %s)", d.name, h.SwitchPort, h.Name)
	}
	entries, err := d.lab.LinuxBridgeMDB()
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if e.Port == h.SwitchPort && e.Group == group {
			return true, nil
		}
	}
	return false, nil
}

// Close removes the bridge, giving the ports back to the lab.
func (d *LinuxBridge) Close() error { return d.lab.RemoveLinuxBridge() }

var (
	localNetwork4 = netip.MustParsePrefix("224.0.0.0/24")
	allNodes6     = netip.MustParseAddr("ff02::1")
)

// ipv6Scope returns the scope field of an IPv6 multicast address.
func ipv6Scope(group netip.Addr) int { return int(group.As16()[1] & 0x0f) }
