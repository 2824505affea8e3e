package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/internal/tunnel"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

// Config is the whole configuration of a switch: what the file says, on top
// of the defaults (Default). The keys of the file are in the field comments.
type Config struct {
	// File is the file the configuration was read from; "" for Default.
	File string

	// Ports are the interfaces to bridge (ports), then the ports of the
	// tunnels (tunnels); Ports[i] becomes fdb.PortID(i).
	Ports []Port
	// Tunnels are the VXLAN tunnels to other machines' switches
	// (tunnels), which `snoopswitch run` creates before it opens the
	// ports and removes at exit; each is also the port of its name, of
	// role switch (Port.Tunnel).
	Tunnels []Tunnel

	Snooping      Snooping      // snooping
	Querier       Querier       // querier
	Guard         Guard         // guard
	Limits        Limits        // limits
	Logging       Logging       // logging
	ControlSocket ControlSocket // control-socket
	Metrics       Metrics       // metrics
	Datapath      Datapath      // datapath

	// lines are the lines of the file's values, by key
	// ("ports[2].guard.acl[0].group").
	lines map[string]int
}

// Role is what a port connects to.
type Role uint8

const (
	// RoleHost is a port with hosts behind it: guarded by
	// guard.HostPortDefaults.
	RoleHost Role = iota
	// RoleRouter is a static multicast router port: it gets every report and
	// all multicast data, and starts from guard.RouterPortDefaults.
	RoleRouter
	// RoleSwitch is a link to another snooping switch of the same fabric
	// (a VXLAN tunnel to another machine, say): it starts from
	// guard.SwitchPortDefaults, so the fabric's querier, PIM hellos and MRD
	// cross it and make it a router port dynamically (learned, aging), while
	// the header checks and the rate limit stay on. Reports arriving on it
	// create memberships on it as on any port.
	RoleSwitch
)

// Roles are the words of a port's role, in Role order.
var Roles = []string{"host", "router", "switch"}

// String returns "host", "router" or "switch", as the file spells them.
func (r Role) String() string {
	if int(r) < len(Roles) {
		return Roles[r]
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// Port is one interface of the switch (an item of ports).
type Port struct {
	Name string // name: the interface
	Role Role   // role: host, router or switch (default host)
	// FastLeave ends the port's membership at once on a leave (fast-leave).
	FastLeave bool
	// FloodUnregistered sends the port data to groups nobody joined
	// (flood-unregistered).
	FloodUnregistered bool
	// VLANs are the VLAN IDs the port carries (vlans), 0 for untagged
	// frames; empty for every VLAN. See switching.Engine.SetPortVLANs.
	VLANs []int
	// SplitHorizon keeps a frame that came in on one split-horizon port from
	// leaving through another (split-horizon): set on every tunnel of a full
	// mesh, where each machine reaches every other directly, so that no
	// frame is relayed from one tunnel into another and loops; left off on
	// a star's hub, which relays between its spokes.
	SplitHorizon bool
	// Guard is the port's guard policy (guard): its role's defaults
	// (PortDefaults) with the file's keys applied over them.
	Guard guard.PortPolicy

	// Tunnel says that the port is the device of the tunnel of its name
	// (Config.Tunnel), which the switch creates: its keys are written
	// under tunnels:, not ports:.
	Tunnel bool

	// Line is where the port's entry starts in the file; 0 for a port
	// given on the command line.
	Line int
	// guardNode is the port's guard block in the file, kept so that
	// SetPort can apply it over the other role's defaults.
	guardNode *yaml.Node
}

// Tunnel is an item of tunnels: a point-to-point VXLAN tunnel to another
// machine's switch (package tunnel makes it). Its keys name, vni, remote,
// local, device, dstport and mtu-check (warn sets Spec.WarnMTU) are the
// Spec's; split-horizon, vlans and guard are its port's.
type Tunnel struct {
	tunnel.Spec
	// Line is where the tunnel's entry starts in the file; 0 for one added
	// by AddTunnel.
	Line int
}

// MTUChecks are the words of a tunnel's mtu-check: refuse (the default)
// or warn (Spec.WarnMTU).
var MTUChecks = []string{"refuse", "warn"}

// Snooping is the snooping section.
type Snooping struct {
	// Enabled turns IGMP/MLD snooping on (enabled); off, multicast floods
	// like broadcast and the guard is off too.
	Enabled bool
	// IGMPVersion and MLDVersion are the versions of the switch's queries
	// (igmp-version: 2 or 3; mld-version: 1 or 2).
	IGMPVersion int
	MLDVersion  int
	// Timers are robustness, query-interval, query-response-interval,
	// last-member-interval and last-member-count; LastMemberCount 0
	// follows Robustness (RFC 3376 s8.9, "Default: the Robustness
	// Variable"), also once a querier's QRV is adopted.
	Timers snoop.Timers
	// SSMRanges are the source-specific multicast ranges (ssm-ranges); an
	// empty list turns the SSM rules off.
	SSMRanges []netip.Prefix
	// ZeroSourceRouterPorts makes a port a router port when a query from
	// 0.0.0.0 or :: arrives on it (zero-source-router-ports).
	ZeroSourceRouterPorts bool
}

// Querier is the querier section.
type Querier struct {
	Enabled    bool       // enabled: the switch queries while no other querier is heard
	IPv4Source netip.Addr // ipv4-source: source of IGMP queries
	// IPv6Source is the link-local source of MLD queries (ipv6-source); the
	// zero Addr derives it from the switch's MAC.
	IPv6Source netip.Addr
}

// Guard is the guard section; the per-port policies are in Port.Guard.
type Guard struct {
	Enabled bool // enabled
}

// Limits is the limits section.
type Limits struct {
	MACPerPort   int           // mac-per-port: learned MAC addresses per port
	MACAgingTime time.Duration // mac-aging-time
	// GroupEntries bounds the switch's (S,G) and (*,G) entries
	// (group-entries); 0 means switching.DefaultGroupEntryLimit.
	GroupEntries int
}

// Logging is the logging section.
type Logging struct {
	Level slog.Level // level
}

// DefaultControlSocket is where `snoopswitch run` listens for `show`,
// `rule` and `reload` unless control-socket.path says otherwise, and where
// those commands ask by default.
const DefaultControlSocket = "/run/snoopswitch/snoopswitch.sock"

// ControlSocket is the control-socket section.
type ControlSocket struct {
	Path string // path; "" for no socket
}

// Metrics is the metrics section.
type Metrics struct {
	Address string // address (host:port) to serve metrics on; "" for none
}

// Datapath is the datapath section.
type Datapath struct {
	// Mode is how frames cross the switch (mode): auto, ring or fast.
	Mode         DatapathMode
	ReceiveLoops int  // receive-loops
	Express      bool // express: the low-latency express socket
	Sendmmsg     bool // sendmmsg instead of the PACKET_TX_RING
	// Steer is where the ports' receive processing runs (steer): auto,
	// off, or a list of CPUs.
	Steer Steer
}

// DatapathMode is how frames cross the switch (datapath.mode, --datapath).
type DatapathMode uint8

const (
	// DatapathRing: every frame goes up the AF_PACKET rings to the engine
	// (package afpacket). The reference, complete on its own.
	DatapathRing DatapathMode = iota
	// DatapathFast: the rings as for ring, with the kernel fast path
	// (package fastpath) in front: an eBPF program at every port's tc
	// ingress forwards the later frames of flows the engine decided.
	// Needs Linux 6.6 (tcx) and root, or CAP_BPF, CAP_PERFMON and
	// CAP_NET_ADMIN; a switch that cannot load it does not start.
	DatapathFast
	// DatapathAuto: fast where the fast path loads, ring where it cannot
	// (no tcx, or not permitted), which the switch logs once with the
	// reason. The default.
	DatapathAuto
)

// DatapathModes are the words of datapath.mode, in DatapathMode order.
var DatapathModes = []string{"ring", "fast", "auto"}

// String returns the mode as the file spells it.
func (m DatapathMode) String() string {
	if int(m) < len(DatapathModes) {
		return DatapathModes[m]
	}
	return fmt.Sprintf("DatapathMode(%d)", uint8(m))
}

// MarshalText returns the mode's word, for flag.TextVar.
func (m DatapathMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText sets the mode the word names (ring, fast or auto).
func (m *DatapathMode) UnmarshalText(b []byte) error {
	for i, w := range DatapathModes {
		if string(b) == w {
			*m = DatapathMode(i)
			return nil
		}
	}
	return fmt.Errorf("%q is not a datapath; use auto, ring or fast", b)
}

// Defaults that no other package owns.
const (
	// DefaultIGMPVersion and DefaultMLDVersion are the versions of the
	// switch's queries: those snoop.QuerierConfig picks for 0.
	DefaultIGMPVersion = 3
	DefaultMLDVersion  = 2
	// DefaultReceiveLoops is one loop for every port; see
	// switching.Config.ReceiveLoops.
	DefaultReceiveLoops = 1
)

// Default returns the configuration of a switch started without a file and
// without flags, with no ports.
func Default() *Config {
	t := snoop.DefaultTimers()
	t.LastMemberCount = 0 // follows Robustness
	return &Config{
		Snooping: Snooping{
			Enabled:     true,
			IGMPVersion: DefaultIGMPVersion,
			MLDVersion:  DefaultMLDVersion,
			Timers:      t,
			SSMRanges:   snoop.DefaultSSM(),
		},
		Querier:       Querier{Enabled: true, IPv4Source: netip.IPv4Unspecified()},
		Guard:         Guard{Enabled: true},
		Limits:        Limits{MACPerPort: fdb.DefaultPortLimit, MACAgingTime: fdb.DefaultAgingTime, GroupEntries: switching.DefaultGroupEntryLimit},
		Logging:       Logging{Level: slog.LevelInfo},
		ControlSocket: ControlSocket{Path: DefaultControlSocket},
		Datapath:      Datapath{Mode: DatapathAuto, ReceiveLoops: DefaultReceiveLoops, Express: true, Steer: SteerAuto},
	}
}

// PortDefaults returns the guard policy a port of role starts from:
// guard.HostPortDefaults, guard.RouterPortDefaults or
// guard.SwitchPortDefaults.
func PortDefaults(role Role) guard.PortPolicy {
	switch role {
	case RoleRouter:
		return guard.RouterPortDefaults()
	case RoleSwitch:
		return guard.SwitchPortDefaults()
	}
	return guard.HostPortDefaults()
}

// Port returns the port named name, nil if there is none.
func (c *Config) Port(name string) *Port {
	for i := range c.Ports {
		if c.Ports[i].Name == name {
			return &c.Ports[i]
		}
	}
	return nil
}

// Tunnel returns the tunnel named name, nil if there is none.
func (c *Config) Tunnel(name string) *Tunnel {
	for i := range c.Tunnels {
		if c.Tunnels[i].Name == name {
			return &c.Tunnels[i]
		}
	}
	return nil
}

// AddTunnel adds the tunnel t and its port after the ports so far: role
// switch, with the switch port's defaults (PortDefaults), split-horizon off.
// A DstPort of 0 becomes tunnel.DefaultDstPort. It returns the port, to set
// its port keys on before the next change to c.Ports.
func (c *Config) AddTunnel(t Tunnel) *Port {
	if t.DstPort == 0 {
		t.DstPort = tunnel.DefaultDstPort
	}
	c.Tunnels = append(c.Tunnels, t)
	c.Ports = append(c.Ports, Port{Name: t.Name, Role: RoleSwitch, Guard: PortDefaults(RoleSwitch), Tunnel: true, Line: t.Line})
	return &c.Ports[len(c.Ports)-1]
}

// TunnelSpecs returns the tunnels' Specs, in the file's order.
func (c *Config) TunnelSpecs() []tunnel.Spec {
	specs := make([]tunnel.Spec, len(c.Tunnels))
	for i, t := range c.Tunnels {
		specs[i] = t.Spec
	}
	return specs
}

// portKey returns the key of port i in the file: ports[j] for a listed
// port, tunnels[k] for a tunnel's.
// The tunnels' ports are in the tunnels' order (Parse, AddTunnel).
func (c *Config) portKey(i int) string {
	j := 0
	for _, q := range c.Ports[:i] {
		if q.Tunnel == c.Ports[i].Tunnel {
			j++
		}
	}
	if c.Ports[i].Tunnel {
		return fmt.Sprintf("tunnels[%d]", j)
	}
	return fmt.Sprintf("ports[%d]", j)
}

// SetPort makes name a port of role, as --port, --router-port and
// --switch-port do: a new
// port is appended with its role's defaults; a port the file lists keeps its
// settings, and when its role changes its guard policy is rebuilt from the
// new role's defaults with the file's guard keys applied over them.
func (c *Config) SetPort(name string, role Role) {
	p := c.Port(name)
	if p == nil {
		c.Ports = append(c.Ports, Port{Name: name, Role: role, Guard: PortDefaults(role)})
		return
	}
	if p.Role == role {
		return
	}
	p.Role = role
	p.Guard = PortDefaults(role)
	if p.guardNode != nil {
		// The block decoded once already; only Validate's checks, which
		// depend on the role, can fail now.
		i := slices.IndexFunc(c.Ports, func(q Port) bool { return q.Name == name })
		d := &decoder{file: c.File, lines: make(map[string]int)}
		d.portGuard(p.guardNode, c.portKey(i)+".guard", &p.Guard)
	}
}

// Error is one thing wrong with a configuration. Its message starts with
// where the value is, "FILE:LINE: KEY: ", the form compilers use, which
// editors and terminals jump to; the file says where the error comes from,
// so no "config: " goes before it, which would move FILE:LINE off the start
// of the line. A value that came from no file (flags over the defaults)
// gets "config: KEY: " instead.
type Error struct {
	File string // "" when the value did not come from a file
	Line int    // 0 when unknown
	// Key is the value's path in the file, like
	// "ports[2].guard.acl[0].group"; "" for a file that is not YAML.
	Key string
	Msg string // the value, what is wrong with it, and what is allowed
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	} else {
		b.WriteString("config: ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a configuration, one per line.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Validate checks the whole configuration, such as a file with command-line
// flags applied over it: what Load checks, and that there are at least two
// ports. It returns Errors, which name the keys but no lines (a value may
// have come from a flag).
func (c *Config) Validate() error {
	var es Errors
	for _, p := range c.problems(true) {
		es = append(es, &Error{File: c.File, Key: p.key, Msg: p.msg})
	}
	if len(es) == 0 {
		return nil
	}
	return es
}

// problem is a value outside what its key allows.
type problem struct {
	key string
	msg string
}

// problems checks the values; complete also requires the ports a switch
// needs, which a file may leave to the command line. Every message starts
// with the value, so that it reads after a key ("snooping.robustness: 0
// must be ...") and after a flag ("--robustness 0 must be ...").
func (c *Config) problems(complete bool) []problem {
	var ps []problem
	add := func(key, format string, a ...any) {
		ps = append(ps, problem{key, fmt.Sprintf(format, a...)})
	}

	if complete && len(c.Ports) < 2 {
		add("ports", "a switch needs at least two ports; got %d (list them under ports:, or give each with --port IFACE)", len(c.Ports))
	}
	if len(c.Ports) > fdb.MaxPorts {
		add("ports", "%d ports; a switch has at most %d", len(c.Ports), fdb.MaxPorts)
	}
	first := make(map[string]int)
	for i, p := range c.Ports {
		key := c.portKey(i)
		if !p.Tunnel {
			if err := checkInterfaceName(p.Name); err != nil {
				add(key+".name", "%q %v", p.Name, err)
			}
		} else if p.Role != RoleSwitch {
			add(key+".name", "%q is a tunnel, whose port has role switch, and is given as a %s port too; leave it off --port and --router-port", p.Name, p.Role)
		}
		if j, ok := first[p.Name]; ok {
			q := c.Ports[j]
			at := c.portKey(j)
			if q.Line > 0 {
				at += fmt.Sprintf(", line %d", q.Line)
			}
			if p.Tunnel && !q.Tunnel {
				add(key+".name", "%q is also listed under ports (%s); a tunnel is the port of its own name: take it out of ports:, or drop the tunnel and list a device you made by hand under ports: with role: switch", p.Name, at)
			} else if p.Tunnel {
				add(key+".name", "%q is listed twice (also at %s); give each tunnel its own name", p.Name, at)
			} else if q.Role != p.Role {
				add(key+".name", "%q is a %s port here and a %s port at %s; a port has one role, host, router or switch: list it once", p.Name, p.Role, q.Role, at)
			} else {
				add(key+".name", "%q is listed twice (also at %s); list each interface once", p.Name, at)
			}
		} else {
			first[p.Name] = i
		}
		for j, v := range p.VLANs {
			if v < 0 || v > switching.MaxVLAN {
				add(fmt.Sprintf("%s.vlans[%d]", key, j), "%d is not a VLAN ID; use 1 to %d, or 0 for untagged frames", v, switching.MaxVLAN)
			} else if k := slices.Index(p.VLANs, v); k < j {
				add(fmt.Sprintf("%s.vlans[%d]", key, j), "VLAN %d is listed twice (also at vlans[%d]); list each once", v, k)
			}
		}
		ps = append(ps, guardProblems(key+".guard", p)...)
	}
	ps = append(ps, c.tunnelProblems()...)

	s := c.Snooping
	if s.IGMPVersion != 2 && s.IGMPVersion != 3 {
		add("snooping.igmp-version", "%d is out of range; use 2 or 3", s.IGMPVersion)
	}
	if s.MLDVersion != 1 && s.MLDVersion != 2 {
		add("snooping.mld-version", "%d is out of range; use 1 or 2", s.MLDVersion)
	}
	ps = append(ps, c.timerProblems(!complete)...)
	for i, r := range s.SSMRanges {
		key := fmt.Sprintf("snooping.ssm-ranges[%d]", i)
		switch {
		case !r.IsValid() || !r.Addr().IsMulticast():
			add(key, "%q is not a multicast prefix; use one such as 232.0.0.0/8 or ff3e::/32", r)
		case r != r.Masked():
			add(key, "%q has host bits set; did you mean %v?", r, r.Masked())
		}
	}

	q := c.Querier
	if a := q.IPv4Source; !a.Is4() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		add("querier.ipv4-source", "%q is not an IPv4 unicast address; use the switch's own address, or 0.0.0.0 to lose against every querier with one", addrString(a))
	}
	if a := q.IPv6Source; a.IsValid() && (!a.Is6() || a.Is4In6() || !a.IsLinkLocalUnicast()) {
		add("querier.ipv6-source", "%q is not a link-local IPv6 address (fe80::/10), and hosts ignore MLD queries from any other source (RFC 3810 s5.1.14); leave it empty to derive one from the switch's MAC", a)
	}

	l := c.Limits
	if l.MACPerPort <= 0 {
		add("limits.mac-per-port", "%d must be positive", l.MACPerPort)
	}
	if l.MACAgingTime <= 0 {
		add("limits.mac-aging-time", "%v must be positive", l.MACAgingTime)
	}
	if l.GroupEntries < 0 {
		add("limits.group-entries", "%d must not be negative (0 means the default, %d)", l.GroupEntries, switching.DefaultGroupEntryLimit)
	}

	// sun_path holds 108 bytes with the terminating NUL.
	if n := len(c.ControlSocket.Path); n > 107 {
		add("control-socket.path", "%q is %d bytes long; a unix socket path holds at most 107", c.ControlSocket.Path, n)
	}
	if a := c.Metrics.Address; a != "" {
		if _, port, err := net.SplitHostPort(a); err != nil {
			add("metrics.address", "%q is not an address; use host:port, such as 127.0.0.1:9100 or :9100, or \"\" for no metrics", a)
		} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			add("metrics.address", "%q has no port number; use a port from 1 to 65535, such as 127.0.0.1:9100", a)
		}
	}
	if n := c.Datapath.ReceiveLoops; n < 1 || n > fdb.MaxPorts {
		add("datapath.receive-loops", "%d is out of range; use 1 to %d", n, fdb.MaxPorts)
	}
	if _, _, err := c.Datapath.Steer.CPUs(); err != nil {
		add("datapath.steer", "%v", err)
	}
	return ps
}

// tunnelProblems checks the tunnels' own keys (their ports' keys are
// checked with the ports).
func (c *Config) tunnelProblems() []problem {
	var ps []problem
	add := func(key, format string, a ...any) {
		ps = append(ps, problem{key, fmt.Sprintf(format, a...)})
	}
	for i, t := range c.Tunnels {
		key := fmt.Sprintf("tunnels[%d]", i)
		if err := checkInterfaceName(t.Name); err != nil {
			add(key+".name", "%q %v", t.Name, err)
		}
		if !slices.ContainsFunc(c.Ports, func(p Port) bool { return p.Tunnel && p.Name == t.Name }) {
			add(key, "%q has no port of its own (Config.AddTunnel adds both)", t.Name)
		}
		if t.VNI < tunnel.MinVNI || t.VNI > tunnel.MaxVNI {
			add(key+".vni", "%d is out of range; use %d to %d (a VNI is 24 bits, RFC 7348 s5)", t.VNI, tunnel.MinVNI, tunnel.MaxVNI)
		}
		remoteOK := false
		switch r := t.Remote; {
		case !r.IsValid():
			add(key+".remote", "is missing; give the other machine's underlay address, such as 192.0.2.2")
		case !unicast(r):
			add(key+".remote", "%s is not a unicast address; a tunnel goes to one machine: give its underlay address, such as 192.0.2.2", r)
		default:
			remoteOK = true
		}
		switch l := t.Local; {
		case !l.IsValid():
			add(key+".local", "is missing; give this machine's underlay address, such as 192.0.2.1")
		case !unicast(l):
			add(key+".local", "%s is not a unicast address; give this machine's underlay address, such as 192.0.2.1", l)
		case remoteOK && l.Unmap().Is4() != t.Remote.Unmap().Is4():
			add(key+".local", "%s is %s and remote %s is %s; give both of one family", l, family(l), t.Remote, family(t.Remote))
		case l == t.Remote:
			add(key+".local", "%s is remote too; local is this machine's address, remote the other's", l)
		}
		if t.Device == "" {
			add(key+".device", "is missing; give the underlay interface, the one local is on, such as eth1")
		} else if err := checkInterfaceName(t.Device); err != nil {
			add(key+".device", "%q %v", t.Device, err)
		} else if t.Device == t.Name {
			add(key+".device", "%q is the tunnel itself; give the interface its packets leave through, such as eth1", t.Device)
		}
		if t.DstPort < 1 || t.DstPort > 65535 {
			add(key+".dstport", "%d is out of range; use 1 to 65535 (%d, the IANA VXLAN port, when left out)", t.DstPort, tunnel.DefaultDstPort)
		}
		// drivers/net/vxlan, vxlan_vni_in_use: one device per (VNI, UDP
		// port, family) in a namespace, whatever the remote.
		for j, u := range c.Tunnels[:i] {
			if u.VNI == t.VNI && u.Port() == t.Port() && (u.Remote.Unmap().Is4() == t.Remote.Unmap().Is4()) && u.Name != t.Name {
				add(key+".vni", "VNI %d on UDP port %d is tunnels[%d] %q's too, and Linux has one VXLAN device per VNI and port: give each tunnel its own VNI (both ends of a tunnel use the same one)", t.VNI, t.Port(), j, u.Name)
				break
			}
		}
	}
	return ps
}

// unicast reports whether a is an address a tunnel can be sent to or from.
func unicast(a netip.Addr) bool {
	a = a.Unmap()
	return !a.IsUnspecified() && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

func family(a netip.Addr) string {
	if a.Unmap().Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// Limits of the query fields that carry the timers. Larger values cannot be
// sent, so they are refused here rather than when the first query goes out.
const (
	// RFC 3376 s4.1.7: the QQIC's largest value, 0xff, is 31744 s.
	maxQueryInterval = 31744 * time.Second
	// RFC 3376 s4.1.1: Max Resp Code 0xff is 31744 tenths of a second.
	maxRespIGMPv3 = 31744 * 100 * time.Millisecond
	// RFC 2236 s2.2: Max Response Time is 8 bits in tenths of a second.
	maxRespIGMPv2 = 255 * 100 * time.Millisecond
	// RFC 2710 s3.4: Maximum Response Delay is 16 bits of milliseconds.
	maxRespMLDv1 = 65535 * time.Millisecond
	// The unit of IGMP's Max Resp Code: anything shorter is sent as 0.
	minResp = 100 * time.Millisecond
)

// timerProblems checks the snooping timers. inFile puts a problem of two
// keys on the one the file gives, for its line.
func (c *Config) timerProblems(inFile bool) []problem {
	var ps []problem
	add := func(key, format string, a ...any) {
		ps = append(ps, problem{"snooping." + key, fmt.Sprintf(format, a...)})
	}
	s := c.Snooping
	t := s.Timers
	maxResp, why := maxRespIGMPv3, "the largest Max Resp Code"
	if s.IGMPVersion == 2 {
		maxResp, why = maxRespIGMPv2, "the most an IGMPv2 query carries (igmp-version is 2)"
	}
	if s.MLDVersion == 1 && maxRespMLDv1 < maxResp {
		maxResp, why = maxRespMLDv1, "the most an MLDv1 query carries (mld-version is 1)"
	}
	if t.Robustness < 1 || t.Robustness > math.MaxUint8 {
		add("robustness", "%d is out of range; use 1 to 255 (RFC 3376 s8.1: 2 by default, 1 only on a link that never loses a packet)", t.Robustness)
	}
	if t.QueryInterval < time.Second || t.QueryInterval > maxQueryInterval {
		add("query-interval", "%v is out of range; use 1s to %v, the largest QQIC", t.QueryInterval, maxQueryInterval)
	}
	qriOK := true
	if t.QueryResponseInterval < minResp || t.QueryResponseInterval > maxResp {
		add("query-response-interval", "%v is out of range; use %v to %v, %s", t.QueryResponseInterval, minResp, maxResp, why)
		qriOK = false
	}
	if t.LastMemberInterval < minResp || t.LastMemberInterval > maxResp {
		add("last-member-interval", "%v is out of range; use %v to %v, %s", t.LastMemberInterval, minResp, maxResp, why)
	}
	if t.LastMemberCount < 0 || t.LastMemberCount > math.MaxUint8 {
		add("last-member-count", "%d is out of range; use 1 to 255, or 0 for as many as robustness", t.LastMemberCount)
	}
	// RFC 3376 s8.3: "the number of seconds represented by the [Query
	// Response Interval] must be less than the [Query Interval]".
	if qriOK && t.QueryInterval > 0 && t.QueryResponseInterval >= t.QueryInterval {
		_, qriInFile := c.lines["snooping.query-response-interval"]
		if !inFile || qriInFile {
			add("query-response-interval", "%v must be shorter than query-interval (%v) (RFC 3376 s8.3)", t.QueryResponseInterval, t.QueryInterval)
		} else {
			add("query-interval", "%v must be longer than query-response-interval (%v) (RFC 3376 s8.3)", t.QueryInterval, t.QueryResponseInterval)
		}
	}
	return ps
}

// guardProblems checks a port's guard policy: its own keys first, each
// checked on its own by guard's Validate where guard has the rule, so that
// the error points at the key; then the whole policy.
func guardProblems(key string, p Port) []problem {
	var ps []problem
	add := func(k, format string, a ...any) {
		ps = append(ps, problem{key + k, fmt.Sprintf(format, a...)})
	}
	g := p.Guard
	if g.RouterGuard && p.Role == RoleRouter {
		add(".router-guard", "true on a router port would drop the queries it is there for; remove it, or make the port role: host")
	}
	if g.RouterGuard && p.Role == RoleSwitch {
		add(".router-guard", "true on a switch port would drop the fabric querier's queries, which cross it; remove it, or make the port role: host")
	}
	if g.MinIGMPVersion < 1 || g.MinIGMPVersion > 3 {
		add(".min-igmp-version", "%d is out of range; use 1, 2 or 3 (1 accepts every version)", g.MinIGMPVersion)
	}
	if g.MinMLDVersion < 1 || g.MinMLDVersion > 2 {
		add(".min-mld-version", "%d is out of range; use 1 or 2 (1 accepts every version)", g.MinMLDVersion)
	}
	for i, q := range g.Queriers {
		if err := (guard.PortPolicy{Queriers: []netip.Prefix{q}}).Validate(); err != nil {
			add(fmt.Sprintf(".queriers[%d]", i), "%q: %s", q, guardReason(err))
		}
	}
	for i, r := range g.ACL {
		k := fmt.Sprintf(".acl[%d]", i)
		bad := len(ps)
		if err := (guard.PortPolicy{ACL: []guard.Rule{{Groups: r.Groups}}}).Validate(); err != nil {
			add(k+".group", "%q: %s", r.Groups, guardReason(err))
		}
		if err := (guard.PortPolicy{ACL: []guard.Rule{{Sources: r.Sources}}}).Validate(); err != nil {
			add(k+".source", "%q: %s", r.Sources, guardReason(err))
		}
		if len(ps) == bad {
			if err := (guard.PortPolicy{ACL: []guard.Rule{r}}).Validate(); err != nil {
				add(k, "%s", guardReason(err))
			}
		}
	}
	if g.GroupLimit < 0 {
		add(".group-limit", "%d must not be negative (0 = no limit of the port's own)", g.GroupLimit)
	}
	if g.HostLimit < 0 {
		add(".host-limit", "%d must not be negative (0 = no limit)", g.HostLimit)
	}
	if g.LimitAction != guard.LimitDeny && g.LimitAction != guard.LimitReplace {
		add(".limit-action", "%v is not an action; use deny or replace", g.LimitAction)
	}
	for i, r := range g.Senders {
		k := fmt.Sprintf(".senders[%d]", i)
		bad := len(ps)
		if err := (guard.PortPolicy{Senders: []guard.SenderRule{{Sources: r.Sources}}}).Validate(); err != nil {
			add(k+".source", "%q: %s", r.Sources, guardReason(err))
		}
		if err := (guard.PortPolicy{Senders: []guard.SenderRule{{Groups: r.Groups}}}).Validate(); err != nil {
			add(k+".group", "%q: %s", r.Groups, guardReason(err))
		}
		if len(ps) == bad {
			if err := (guard.PortPolicy{Senders: []guard.SenderRule{r}}).Validate(); err != nil {
				add(k, "%s", guardReason(err))
			}
		}
	}
	if g.MaxTTL < 0 || g.MaxTTL > 255 {
		add(".max-ttl", "%d is out of range; use 0 to 255 (0 = no limit)", g.MaxTTL)
	}
	if math.IsNaN(g.RateLimit) || math.IsInf(g.RateLimit, 0) || g.RateLimit < 0 {
		add(".rate-limit", "%v must be a number of packets per second, 0 or more (0 = no limit)", g.RateLimit)
	}
	if g.RateBurst < 0 {
		add(".rate-burst", "%d must not be negative (0 = as many as rate-limit)", g.RateBurst)
	}
	if len(ps) == 0 {
		// Anything the checks above do not know yet.
		if err := g.Validate(); err != nil {
			ps = append(ps, problem{key, guardReason(err)})
		}
	}
	return ps
}

// guardReason is the text of guard's Validate errors without guard's own
// field names ("guard: ACL[0].Groups 10.0.0.0/8: not a multicast ..." ->
// "not a multicast ..."): the caller names the key and the value.
func guardReason(err error) string {
	inner := errors.Unwrap(err)
	joined, ok := inner.(interface{ Unwrap() []error })
	if !ok {
		return strings.TrimPrefix(err.Error(), "guard: ")
	}
	var msgs []string
	for _, e := range joined.Unwrap() {
		// Guard's messages are "Field value: reason"; an IPv6 value has
		// colons but never ": ".
		_, reason, found := strings.Cut(e.Error(), ": ")
		if !found {
			reason = e.Error()
		}
		msgs = append(msgs, reason)
	}
	return strings.Join(msgs, "; ")
}

// checkInterfaceName applies the kernel's rules for interface names
// (dev_valid_name: 1 to IFNAMSIZ-1 bytes, not "." or "..", no '/', ':' or
// white space).
func checkInterfaceName(name string) error {
	bad := name == "" || name == "." || name == ".." || len(name) > 15 ||
		strings.ContainsAny(name, "/: \t\n\r\v\f")
	if bad {
		return errors.New("is not an interface name (1 to 15 characters, none of them '/', ':' or a space; ip link show lists the interfaces)")
	}
	return nil
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
