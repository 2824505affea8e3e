package config

import (
	"net/netip"

	"go.yaml.in/yaml/v3"

	"github.com/snoopswitch/snoopswitch/guard"
)

// Document is a configuration as the file writes it: every key, with the
// value in use, in the file's order. `snoopswitch show config` prints it as
// YAML (a file Load reads back to the same configuration) or as JSON with
// the same keys.
type Document struct {
	Ports         []PortDoc        `yaml:"ports" json:"ports"`
	Tunnels       []TunnelDoc      `yaml:"tunnels" json:"tunnels"`
	Snooping      SnoopingDoc      `yaml:"snooping" json:"snooping"`
	Querier       QuerierDoc       `yaml:"querier" json:"querier"`
	Guard         GuardDoc         `yaml:"guard" json:"guard"`
	Limits        LimitsDoc        `yaml:"limits" json:"limits"`
	Logging       LoggingDoc       `yaml:"logging" json:"logging"`
	ControlSocket ControlSocketDoc `yaml:"control-socket" json:"control-socket"`
	Metrics       MetricsDoc       `yaml:"metrics" json:"metrics"`
	Datapath      DatapathDoc      `yaml:"datapath" json:"datapath"`
}

// PortDoc is an item of ports.
type PortDoc struct {
	Name              string        `yaml:"name" json:"name"`
	Role              string        `yaml:"role" json:"role"`
	FastLeave         bool          `yaml:"fast-leave" json:"fast-leave"`
	FloodUnregistered bool          `yaml:"flood-unregistered" json:"flood-unregistered"`
	VLANs             []int         `yaml:"vlans" json:"vlans"`
	SplitHorizon      bool          `yaml:"split-horizon" json:"split-horizon"`
	Guard             PortPolicyDoc `yaml:"guard" json:"guard"`
}

// TunnelDoc is an item of tunnels: the tunnel's keys, then its port's.
type TunnelDoc struct {
	Name         string        `yaml:"name" json:"name"`
	VNI          int           `yaml:"vni" json:"vni"`
	Remote       string        `yaml:"remote" json:"remote"`
	Local        string        `yaml:"local" json:"local"`
	Device       string        `yaml:"device" json:"device"`
	DstPort      int           `yaml:"dstport" json:"dstport"`
	MTUCheck     string        `yaml:"mtu-check" json:"mtu-check"`
	SplitHorizon bool          `yaml:"split-horizon" json:"split-horizon"`
	VLANs        []int         `yaml:"vlans" json:"vlans"`
	Guard        PortPolicyDoc `yaml:"guard" json:"guard"`
}

// PortPolicyDoc is a port's guard block.
type PortPolicyDoc struct {
	RouterGuard       bool       `yaml:"router-guard" json:"router-guard"`
	MinIGMPVersion    int        `yaml:"min-igmp-version" json:"min-igmp-version"`
	MinMLDVersion     int        `yaml:"min-mld-version" json:"min-mld-version"`
	Queriers          []string   `yaml:"queriers" json:"queriers"`
	StrictRouterAlert bool       `yaml:"strict-router-alert" json:"strict-router-alert"`
	ACL               []RuleView `yaml:"acl" json:"acl"`
	GroupLimit        int        `yaml:"group-limit" json:"group-limit"`
	LimitAction       string     `yaml:"limit-action" json:"limit-action"`
	HostLimit         int        `yaml:"host-limit" json:"host-limit"`
	Senders           []RuleView `yaml:"senders" json:"senders"`
	MaxTTL            int        `yaml:"max-ttl" json:"max-ttl"`
	ScopeBoundary     bool       `yaml:"scope-boundary" json:"scope-boundary"`
	RateLimit         float64    `yaml:"rate-limit" json:"rate-limit"`
	RateBurst         int        `yaml:"rate-burst" json:"rate-burst"`
}

// SnoopingDoc is the snooping section.
type SnoopingDoc struct {
	Enabled               bool     `yaml:"enabled" json:"enabled"`
	IGMPVersion           int      `yaml:"igmp-version" json:"igmp-version"`
	MLDVersion            int      `yaml:"mld-version" json:"mld-version"`
	Robustness            int      `yaml:"robustness" json:"robustness"`
	QueryInterval         string   `yaml:"query-interval" json:"query-interval"`
	QueryResponseInterval string   `yaml:"query-response-interval" json:"query-response-interval"`
	LastMemberInterval    string   `yaml:"last-member-interval" json:"last-member-interval"`
	LastMemberCount       int      `yaml:"last-member-count" json:"last-member-count"`
	SSMRanges             []string `yaml:"ssm-ranges" json:"ssm-ranges"`
	ZeroSourceRouterPorts bool     `yaml:"zero-source-router-ports" json:"zero-source-router-ports"`
}

// QuerierDoc is the querier section.
type QuerierDoc struct {
	Enabled    bool   `yaml:"enabled" json:"enabled"`
	IPv4Source string `yaml:"ipv4-source" json:"ipv4-source"`
	IPv6Source string `yaml:"ipv6-source" json:"ipv6-source"`
}

// GuardDoc is the guard section.
type GuardDoc struct {
	Enabled bool `yaml:"enabled" json:"enabled"`
}

// LimitsDoc is the limits section.
type LimitsDoc struct {
	MACPerPort   int    `yaml:"mac-per-port" json:"mac-per-port"`
	MACAgingTime string `yaml:"mac-aging-time" json:"mac-aging-time"`
	GroupEntries int    `yaml:"group-entries" json:"group-entries"`
}

// LoggingDoc is the logging section.
type LoggingDoc struct {
	Level string `yaml:"level" json:"level"`
}

// ControlSocketDoc is the control-socket section.
type ControlSocketDoc struct {
	Path string `yaml:"path" json:"path"`
}

// MetricsDoc is the metrics section.
type MetricsDoc struct {
	Address string `yaml:"address" json:"address"`
}

// DatapathDoc is the datapath section.
type DatapathDoc struct {
	Mode         string `yaml:"mode" json:"mode"`
	ReceiveLoops int    `yaml:"receive-loops" json:"receive-loops"`
	Express      bool   `yaml:"express" json:"express"`
	Sendmmsg     bool   `yaml:"sendmmsg" json:"sendmmsg"`
	Steer        string `yaml:"steer" json:"steer"`
}

// Document returns c as the file writes it.
func (c *Config) Document() Document {
	s := c.Snooping
	d := Document{
		Ports: make([]PortDoc, 0, len(c.Ports)),
		Snooping: SnoopingDoc{
			Enabled:               s.Enabled,
			IGMPVersion:           s.IGMPVersion,
			MLDVersion:            s.MLDVersion,
			Robustness:            s.Timers.Robustness,
			QueryInterval:         s.Timers.QueryInterval.String(),
			QueryResponseInterval: s.Timers.QueryResponseInterval.String(),
			LastMemberInterval:    s.Timers.LastMemberInterval.String(),
			LastMemberCount:       s.Timers.LastMemberCount,
			SSMRanges:             prefixStrings(s.SSMRanges),
			ZeroSourceRouterPorts: s.ZeroSourceRouterPorts,
		},
		Querier:       QuerierDoc{Enabled: c.Querier.Enabled, IPv4Source: addrString(c.Querier.IPv4Source), IPv6Source: addrString(c.Querier.IPv6Source)},
		Guard:         GuardDoc{Enabled: c.Guard.Enabled},
		Limits:        LimitsDoc{MACPerPort: c.Limits.MACPerPort, MACAgingTime: c.Limits.MACAgingTime.String(), GroupEntries: c.Limits.GroupEntries},
		Logging:       LoggingDoc{Level: c.Logging.Level.String()},
		ControlSocket: ControlSocketDoc{Path: c.ControlSocket.Path},
		Metrics:       MetricsDoc{Address: c.Metrics.Address},
		Datapath:      DatapathDoc{Mode: c.Datapath.Mode.String(), ReceiveLoops: c.Datapath.ReceiveLoops, Express: c.Datapath.Express, Sendmmsg: c.Datapath.Sendmmsg, Steer: string(c.Datapath.Steer)},
	}
	d.Tunnels = make([]TunnelDoc, 0, len(c.Tunnels))
	for _, t := range c.Tunnels {
		td := TunnelDoc{Name: t.Name, VNI: t.VNI, Remote: addrString(t.Remote), Local: addrString(t.Local),
			Device: t.Device, DstPort: t.Port(), MTUCheck: MTUChecks[0], VLANs: []int{}}
		if t.WarnMTU {
			td.MTUCheck = MTUChecks[1]
		}
		if p := c.Port(t.Name); p != nil {
			td.SplitHorizon, td.VLANs, td.Guard = p.SplitHorizon, append([]int{}, p.VLANs...), PolicyDoc(p.Guard)
		}
		d.Tunnels = append(d.Tunnels, td)
	}
	for _, p := range c.Ports {
		if p.Tunnel {
			continue
		}
		d.Ports = append(d.Ports, PortDoc{
			Name:              p.Name,
			Role:              p.Role.String(),
			FastLeave:         p.FastLeave,
			FloodUnregistered: p.FloodUnregistered,
			VLANs:             append([]int{}, p.VLANs...),
			SplitHorizon:      p.SplitHorizon,
			Guard:             PolicyDoc(p.Guard),
		})
	}
	return d
}

// YAML returns the document as a configuration file.
func (d Document) YAML() ([]byte, error) {
	return yaml.Marshal(d)
}

// PolicyDoc returns a port's guard policy as the file writes it.
func PolicyDoc(p guard.PortPolicy) PortPolicyDoc {
	d := PortPolicyDoc{
		RouterGuard:       p.RouterGuard,
		MinIGMPVersion:    p.MinIGMPVersion,
		MinMLDVersion:     p.MinMLDVersion,
		Queriers:          prefixStrings(p.Queriers),
		StrictRouterAlert: p.StrictRouterAlert,
		ACL:               []RuleView{},
		GroupLimit:        p.GroupLimit,
		LimitAction:       p.LimitAction.String(),
		HostLimit:         p.HostLimit,
		Senders:           []RuleView{},
		MaxTTL:            p.MaxTTL,
		ScopeBoundary:     p.ScopeBoundary,
		RateLimit:         p.RateLimit,
		RateBurst:         p.RateBurst,
	}
	for _, r := range p.ACL {
		d.ACL = append(d.ACL, NewRuleView(r.Permit, r.Groups, r.Sources))
	}
	for _, r := range p.Senders {
		d.Senders = append(d.Senders, NewRuleView(r.Permit, r.Groups, r.Sources))
	}
	return d
}

// prefixStrings returns ps as strings; never nil, so that an empty list is
// written as [] rather than left out.
func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// RuleView is one rule of a port's acl or senders list as the file writes
// it, and as `snoopswitch rule` shows a list after a change.
type RuleView struct {
	Action string `json:"action" yaml:"action"`
	Group  string `json:"group,omitempty" yaml:"group,omitempty"`
	Source string `json:"source,omitempty" yaml:"source,omitempty"`
}

// NewRuleView returns a rule as the file writes it; an invalid prefix (any
// address) is left out.
func NewRuleView(permit bool, group, source netip.Prefix) RuleView {
	v := RuleView{Action: "deny"}
	if permit {
		v.Action = "permit"
	}
	if group.IsValid() {
		v.Group = group.String()
	}
	if source.IsValid() {
		v.Source = source.String()
	}
	return v
}
