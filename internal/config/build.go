package config

import (
	"log/slog"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

// PortNames returns the interfaces in PortID order.
func (c *Config) PortNames() []string {
	names := make([]string, len(c.Ports))
	for i, p := range c.Ports {
		names[i] = p.Name
	}
	return names
}

// VLANIDs returns the VLANs the port carries, as
// switching.Engine.SetPortVLANs takes them; nil for every VLAN. p must
// have passed Validate.
func (p Port) VLANIDs() []uint16 {
	if len(p.VLANs) == 0 {
		return nil
	}
	ids := make([]uint16, len(p.VLANs))
	for i, v := range p.VLANs {
		ids[i] = uint16(v)
	}
	return ids
}

// Engine returns the engine's configuration, its ports numbered as in
// PortNames. c must have passed Validate.
func (c *Config) Engine(logger *slog.Logger) switching.Config {
	return switching.Config{
		MACTable:        fdb.Config{AgingTime: c.Limits.MACAgingTime, PortLimit: c.Limits.MACPerPort},
		Logger:          logger,
		ReceiveLoops:    c.Datapath.ReceiveLoops,
		Snooping:        c.snooping(),
		Guard:           c.guardPolicies(),
		GroupEntryLimit: c.Limits.GroupEntries,
	}
}

// snooping returns the snooping configuration, nil when snooping is off.
func (c *Config) snooping() *snoop.Config {
	s := c.Snooping
	if !s.Enabled {
		return nil
	}
	sc := &snoop.Config{
		Membership: snoop.MembershipConfig{Timers: s.Timers, SSM: s.SSMRanges},
		Querier: snoop.QuerierConfig{
			Disabled:    !c.Querier.Enabled,
			IPv4Source:  c.Querier.IPv4Source,
			IPv6Source:  c.Querier.IPv6Source,
			IGMPVersion: s.IGMPVersion,
			MLDVersion:  s.MLDVersion,
		},
		ZeroSourceRouterPorts: s.ZeroSourceRouterPorts,
	}
	var fast fdb.PortSet
	for i, p := range c.Ports {
		id := fdb.PortID(i)
		switch p.Role {
		case RoleRouter:
			sc.StaticRouterPorts.Add(id)
		case RoleSwitch:
			sc.SwitchPorts.Add(id)
		}
		if p.FloodUnregistered {
			sc.FloodUnregistered.Add(id)
		}
		if p.FastLeave {
			fast.Add(id)
		}
	}
	if !fast.IsEmpty() {
		sc.Membership.FastLeave = func(p fdb.PortID) bool { return fast.Has(p) }
	}
	return sc
}

// guardPolicies returns the ports' guard policies by PortID, nil when the
// guard (or snooping, which it guards) is off.
func (c *Config) guardPolicies() []guard.PortPolicy {
	if !c.Guard.Enabled || !c.Snooping.Enabled {
		return nil
	}
	ps := make([]guard.PortPolicy, len(c.Ports))
	for i, p := range c.Ports {
		ps[i] = p.Guard
	}
	return ps
}
