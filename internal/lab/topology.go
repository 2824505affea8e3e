package lab

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/snoopswitch/snoopswitch/snoop"
)

// defaultTopology is the lab `snoopswitch lab` builds without --topology; its
// comments document the format.
//
//go:embed default.yaml
var defaultTopology []byte

// fabricTopology is the lab `snoopswitch lab --fabric` builds: three
// machines over VXLAN; its comments document the fabric keys.
//
//go:embed fabric.yaml
var fabricTopology []byte

// DefaultName is how messages call the embedded default topology, and
// FabricName the embedded fabric.
const (
	DefaultName = "the built-in default topology"
	FabricName  = "the built-in fabric topology"
)

// Defaults of the fields a topology may leave out.
const (
	DefaultStreamCount = 50
	DefaultAttackCount = 20
)

// Limits that keep a lab small enough to build in seconds.
const (
	maxHosts       = 16
	maxNameLen     = 9 // 15-character interface names minus a 6-character prefix
	maxStreamCount = 10000
	maxAttackCount = 1000
	maxMachines    = 8
	// maxMachineName and maxFabricNameLen keep a fabric's interface names
	// (a 5-character prefix, the machine's name, the host's) within
	// Linux's 15 characters.
	maxMachineName   = 3
	maxFabricNameLen = 10
)

// Tunnels of a fabric topology.
const (
	TunnelsStar     = "star"
	TunnelsFullMesh = "full-mesh"
)

// A Topology is a lab: hosts behind switch ports, the groups they join, the
// streams sent to them, and the attacks tried on the switch. Parse returns
// only valid ones.
type Topology struct {
	// Name says where the topology came from: a file name or DefaultName.
	Name    string
	Hosts   []Host
	Streams []Stream
	Attacks []Attack
	// Machines, if any, make the topology a fabric: each machine runs its
	// own snoopswitch with its hosts (Host.Machine) behind it, joined to
	// the others by VXLAN tunnels as Tunnels (TunnelsStar, the first
	// machine the hub, or TunnelsFullMesh) says.
	Machines []string
	Tunnels  string
}

// IsFabric reports whether the topology spans several machines.
func (t *Topology) IsFabric() bool { return len(t.Machines) > 0 }

// A Host is one namespace behind one switch port.
type Host struct {
	Name string
	// Router makes the host's switch port a router port.
	Router bool
	// IGMP and MLD force the host kernel's protocol versions; 0 follows the
	// querier.
	IGMP, MLD int
	Joins     []Join
	// Port names the switch port the host shares with the hosts of the
	// same Port (adjacent in Hosts), behind a hub as a VM host's guests
	// are; "" is a port of its own.
	Port string
	// FastLeave gives the host's switch port fast leave.
	FastLeave bool
	// Machine names the machine the host is on, in a fabric.
	Machine string
}

// A Join is a group a host joins.
type Join struct {
	Group netip.Addr
	// Source names the host whose traffic alone is wanted; "" is any
	// source.
	Source string
	// Leave: the host leaves the group again before the streams.
	Leave bool
}

// A Stream is Count UDP datagrams that host From sends to Group.
type Stream struct {
	From  string
	Group netip.Addr
	Count int
}

// Name is how tables call the stream: "GROUP from HOST".
func (s Stream) Name() string { return fmt.Sprintf("%s from %s", s.Group, s.From) }

// AttackKind is what an attack does.
type AttackKind string

// RogueQuerier: IGMPv3 and MLDv2 general queries from a host port.
const RogueQuerier AttackKind = "rogue-querier"

// An Attack is Count frames of each protocol that host From sends.
type Attack struct {
	From  string
	Kind  AttackKind
	Count int
}

// The file format. Fields are strings where a bad value deserves an error
// naming the field rather than yaml's.
type (
	fileTopology struct {
		Machines []fileMachine `yaml:"machines"`
		Tunnels  string        `yaml:"tunnels"`
		Hosts    []fileHost    `yaml:"hosts"`
		Streams  []fileStream  `yaml:"streams"`
		Attacks  []fileAttack  `yaml:"attacks"`
	}
	fileMachine struct {
		Name string `yaml:"name"`
	}
	fileHost struct {
		Name      string     `yaml:"name"`
		Machine   string     `yaml:"machine"`
		Role      string     `yaml:"role"`
		Port      string     `yaml:"port"`
		FastLeave bool       `yaml:"fast-leave"`
		IGMP      int        `yaml:"igmp"`
		MLD       int        `yaml:"mld"`
		Joins     []fileJoin `yaml:"joins"`
	}
	fileJoin struct {
		Group  string `yaml:"group"`
		Source string `yaml:"source"`
		Leave  bool   `yaml:"leave"`
	}
	fileStream struct {
		From  string `yaml:"from"`
		Group string `yaml:"group"`
		Count int    `yaml:"count"`
	}
	fileAttack struct {
		From  string `yaml:"from"`
		Kind  string `yaml:"kind"`
		Count int    `yaml:"count"`
	}
)

// Default returns the embedded default topology.
func Default() *Topology {
	t, err := Parse(DefaultName, defaultTopology)
	if err != nil {
		panic(err) // a test parses it
	}
	return t
}

// DefaultYAML returns the text of the embedded default topology, whose
// comments describe the format.
func DefaultYAML() []byte { return slices.Clone(defaultTopology) }

// Fabric returns the embedded fabric topology: three machines.
func Fabric() *Topology {
	t, err := Parse(FabricName, fabricTopology)
	if err != nil {
		panic(err) // a test parses it
	}
	return t
}

// FabricYAML returns the text of the embedded fabric topology, whose
// comments describe the fabric keys.
func FabricYAML() []byte { return slices.Clone(fabricTopology) }

// Load reads and parses a topology file.
func Load(path string) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lab: topology: %w", err)
	}
	return Parse(path, data)
}

// Parse parses and checks a topology; name says in errors where it came
// from. An error names the first field that is wrong and how to fix it.
func Parse(name string, data []byte) (*Topology, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("lab: topology %s: %s", name, fmt.Sprintf(format, args...))
	}
	var f fileTopology
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, fail("%s", strings.Join(explainYAML(te.Errors), "; "))
		}
		if errors.Is(err, io.EOF) {
			return nil, fail("the file is empty (it needs hosts and streams)")
		}
		return nil, fail("%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	t := &Topology{Name: name}
	if err := f.check(t); err != nil {
		return nil, fail("%v", err)
	}
	return t, nil
}

var unknownField = regexp.MustCompile(`^(line \d+): field (\S+) not found in type \S+$`)

// explainYAML rewrites yaml's "field X not found in type lab.fileHost" as
// "unknown field".
func explainYAML(errs []string) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		if m := unknownField.FindStringSubmatch(e); m != nil {
			e = fmt.Sprintf("%s: unknown field %q (the format is in the comments of snoopswitch lab --print-default)", m[1], m[2])
		}
		out[i] = e
	}
	return out
}

// check validates f and fills t.
func (f *fileTopology) check(t *Topology) error {
	if len(f.Hosts) < 2 || len(f.Hosts) > maxHosts {
		return fmt.Errorf("hosts: %d hosts; a lab has 2 to %d", len(f.Hosts), maxHosts)
	}
	if err := f.checkMachines(t); err != nil {
		return err
	}
	hosts := make(map[string]*fileHost)
	for i := range f.Hosts {
		h := &f.Hosts[i]
		if err := checkHostName(h.Name); err != nil {
			return fmt.Errorf("hosts[%d].name: %w", i, err)
		}
		if err := f.checkHostMachine(h, t); err != nil {
			return fmt.Errorf("hosts[%d].machine: %w", i, err)
		}
		if hosts[h.Name] != nil {
			return fmt.Errorf("hosts[%d].name: %q is already the name of another host", i, h.Name)
		}
		hosts[h.Name] = h
	}
	for i := range f.Hosts {
		h := &f.Hosts[i]
		at := fmt.Sprintf("hosts[%d] (%s)", i, h.Name)
		host := Host{Name: h.Name, IGMP: h.IGMP, MLD: h.MLD, Port: h.Port, FastLeave: h.FastLeave, Machine: h.Machine}
		switch h.Role {
		case "", "host":
		case "router":
			host.Router = true
		default:
			return fmt.Errorf("%s.role: %q: use host or router", at, h.Role)
		}
		if h.Port != "" {
			if err := checkHostName(h.Port); err != nil {
				return fmt.Errorf("%s.port: %w", at, err)
			}
			if hosts[h.Port] != nil {
				return fmt.Errorf("%s.port: %q is the name of a host; name the shared port apart", at, h.Port)
			}
			if host.Router {
				return fmt.Errorf("%s.port: a router shares no port: leave port out or make it a host", at)
			}
			if i > 0 && f.Hosts[i-1].Port != h.Port && slices.ContainsFunc(f.Hosts[:i], func(o fileHost) bool { return o.Port == h.Port }) {
				return fmt.Errorf("%s.port: the hosts of port %q must be listed one after the other", at, h.Port)
			}
			if i > 0 && f.Hosts[i-1].Port == h.Port && f.Hosts[i-1].FastLeave != h.FastLeave {
				return fmt.Errorf("%s.fast-leave: the hosts of port %q must agree (fast leave is the port's)", at, h.Port)
			}
			if i > 0 && f.Hosts[i-1].Port == h.Port && f.Hosts[i-1].Machine != h.Machine {
				return fmt.Errorf("%s.machine: the hosts of port %q must be on one machine (a port is one switch's)", at, h.Port)
			}
		}
		if h.IGMP < 0 || h.IGMP > 3 {
			return fmt.Errorf("%s.igmp: %d: use 1, 2 or 3, or 0 to follow the querier", at, h.IGMP)
		}
		if h.MLD < 0 || h.MLD > 2 {
			return fmt.Errorf("%s.mld: %d: use 1 or 2, or 0 to follow the querier", at, h.MLD)
		}
		seen := make(map[netip.Addr]bool)
		for j, fj := range h.Joins {
			jat := fmt.Sprintf("%s.joins[%d]", at, j)
			g, err := parseGroup(fj.Group)
			if err != nil {
				return fmt.Errorf("%s.group: %w", jat, err)
			}
			if seen[g] {
				return fmt.Errorf("%s.group: %s is joined twice by %s", jat, g, h.Name)
			}
			seen[g] = true
			if fj.Source == "" {
				if isSSM(g) {
					return fmt.Errorf("%s: %s is in the SSM range (232.0.0.0/8, ff3x::/32), where any-source joins are ignored (RFC 4604): give a source", jat, g)
				}
			} else {
				if hosts[fj.Source] == nil || fj.Source == h.Name {
					return fmt.Errorf("%s.source: %q is not another host of the topology", jat, fj.Source)
				}
				if g.Is4() && h.IGMP != 0 && h.IGMP != 3 {
					return fmt.Errorf("%s.source: joining for a source needs IGMPv3, and %s is forced to IGMPv%d (set igmp: 3 or 0)", jat, h.Name, h.IGMP)
				}
				if g.Is6() && h.MLD != 0 && h.MLD != 2 {
					return fmt.Errorf("%s.source: joining for a source needs MLDv2, and %s is forced to MLDv%d (set mld: 2 or 0)", jat, h.Name, h.MLD)
				}
			}
			host.Joins = append(host.Joins, Join{Group: g, Source: fj.Source, Leave: fj.Leave})
		}
		t.Hosts = append(t.Hosts, host)
	}

	if len(f.Streams) == 0 {
		return errors.New("streams: none; a lab needs at least one stream to show where multicast goes")
	}
	streams := make(map[string]bool)
	for i, fs := range f.Streams {
		at := fmt.Sprintf("streams[%d]", i)
		if hosts[fs.From] == nil {
			return fmt.Errorf("%s.from: %q is not a host of the topology", at, fs.From)
		}
		g, err := parseGroup(fs.Group)
		if err != nil {
			return fmt.Errorf("%s.group: %w", at, err)
		}
		s := Stream{From: fs.From, Group: g, Count: fs.Count}
		if s.Count == 0 {
			s.Count = DefaultStreamCount
		}
		if s.Count < 0 || s.Count > maxStreamCount {
			return fmt.Errorf("%s.count: %d: use 1 to %d (or leave it out for %d)", at, fs.Count, maxStreamCount, DefaultStreamCount)
		}
		if streams[s.Name()] {
			return fmt.Errorf("%s: %s is already a stream (merge the two counts)", at, s.Name())
		}
		streams[s.Name()] = true
		t.Streams = append(t.Streams, s)
	}

	if len(f.Attacks) > 0 && t.IsFabric() {
		return errors.New("attacks: a fabric's switches run as processes, and the lab's attacks read an in-process switch's counters: leave attacks out of a fabric topology (the fabric tests, switch/fabric_linux_test.go, send a rogue querier)")
	}
	for i, fa := range f.Attacks {
		at := fmt.Sprintf("attacks[%d]", i)
		h := hosts[fa.From]
		if h == nil {
			return fmt.Errorf("%s.from: %q is not a host of the topology", at, fa.From)
		}
		if h.Role == "router" {
			return fmt.Errorf("%s.from: %s is on a router port, where queries are allowed: attack from a host port", at, fa.From)
		}
		a := Attack{From: fa.From, Kind: AttackKind(fa.Kind), Count: fa.Count}
		if a.Kind != RogueQuerier {
			return fmt.Errorf("%s.kind: %q: the one kind is %s", at, fa.Kind, RogueQuerier)
		}
		if a.Count == 0 {
			a.Count = DefaultAttackCount
		}
		if a.Count < 0 || a.Count > maxAttackCount {
			return fmt.Errorf("%s.count: %d: use 1 to %d (or leave it out for %d)", at, fa.Count, maxAttackCount, DefaultAttackCount)
		}
		t.Attacks = append(t.Attacks, a)
	}
	return nil
}

// checkMachines checks the fabric keys and fills t's.
func (f *fileTopology) checkMachines(t *Topology) error {
	if len(f.Machines) == 0 {
		if f.Tunnels != "" {
			return errors.New("tunnels: set without machines; a fabric lists its machines (see snoopswitch lab --print-default --fabric)")
		}
		return nil
	}
	if len(f.Machines) < 2 || len(f.Machines) > maxMachines {
		return fmt.Errorf("machines: %d machines; a fabric has 2 to %d", len(f.Machines), maxMachines)
	}
	for i, m := range f.Machines {
		if m.Name == "" || len(m.Name) > maxMachineName {
			return fmt.Errorf("machines[%d].name: %q: use 1 to %d ASCII letters and digits (they go into every interface name of the machine)", i, m.Name, maxMachineName)
		}
		for _, r := range m.Name {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return fmt.Errorf("machines[%d].name: %q: use only ASCII letters and digits", i, m.Name)
			}
		}
		if m.Name == "ul" {
			return fmt.Errorf("machines[%d].name: %q is reserved for the underlay", i, m.Name)
		}
		if slices.Contains(t.Machines, m.Name) {
			return fmt.Errorf("machines[%d].name: %q is already the name of another machine", i, m.Name)
		}
		t.Machines = append(t.Machines, m.Name)
	}
	switch f.Tunnels {
	case "", TunnelsStar:
		t.Tunnels = TunnelsStar
	case TunnelsFullMesh:
		t.Tunnels = TunnelsFullMesh
	default:
		return fmt.Errorf("tunnels: %q: use %s (every machine to the first) or %s", f.Tunnels, TunnelsStar, TunnelsFullMesh)
	}
	return nil
}

// checkHostMachine checks host h's machine key against t's machines.
func (f *fileTopology) checkHostMachine(h *fileHost, t *Topology) error {
	if !t.IsFabric() {
		if h.Machine != "" {
			return fmt.Errorf("%q: the topology lists no machines (add machines, or leave machine out)", h.Machine)
		}
		return nil
	}
	if !slices.Contains(t.Machines, h.Machine) {
		return fmt.Errorf("%q: name one of the machines %s", h.Machine, strings.Join(t.Machines, ", "))
	}
	if len(h.Machine)+len(h.Name) > maxFabricNameLen {
		return fmt.Errorf("host %q on machine %q: the two names have %d characters and may have %d (a fabric's switch port is its prefix, the machine's name and the host's, and Linux allows 15)", h.Name, h.Machine, len(h.Machine)+len(h.Name), maxFabricNameLen)
	}
	return nil
}

func checkHostName(name string) error {
	if name == "" {
		return errors.New("missing: every host needs a name")
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("%q is longer than %d characters (switch port names are the lab prefix plus the host name, and Linux allows 15)", name, maxNameLen)
	}
	for i, r := range name {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || r != '-' && r != '_') {
			return fmt.Errorf("%q: use ASCII letters, digits, '-' and '_', starting with a letter or digit", name)
		}
	}
	if name == "sw" || name == "br" {
		return fmt.Errorf("%q is reserved for the switch namespace and the bridge", name)
	}
	return nil
}

var (
	ssm4   = netip.MustParsePrefix("232.0.0.0/8")
	local4 = netip.MustParsePrefix("224.0.0.0/24")
)

// Groups the errors suggest.
const (
	example4 = "239.1.1.1"
	example6 = "ff0e::1:1"
)

// parseGroup parses a multicast group that the switch snoops: not a
// link-local one, which every port receives whoever joined.
func parseGroup(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, fmt.Errorf("missing: write a multicast group such as %s or %s", example4, example6)
	}
	g, err := netip.ParseAddr(s)
	if err != nil || g.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address: write a multicast group such as %s or %s", s, example4, example6)
	}
	g = g.Unmap()
	if !g.IsMulticast() {
		return netip.Addr{}, fmt.Errorf("%s is not a multicast group (IPv4 224.0.0.0/4, IPv6 ff00::/8)", g)
	}
	if local4.Contains(g) || g.Is6() && g.As16()[1]&0x0f <= 2 {
		return netip.Addr{}, fmt.Errorf("%s is link-local: every port receives it, member or not; use a wider group such as %s or %s", g, example4, example6)
	}
	return g, nil
}

// isSSM reports whether g is in the source-specific multicast range (RFC
// 4607: 232.0.0.0/8, ff3x::/32).
func isSSM(g netip.Addr) bool {
	if g.Is4() {
		return ssm4.Contains(g)
	}
	a := g.As16()
	return a[0] == 0xff && a[1]>>4 == 3 && a[2] == 0 && a[3] == 0
}

// Wants reports whether host j should receive stream s: it is on a router
// port, which receives every stream, or it or a host behind the same
// shared port asked for s, or sent it (the hub between them floods).
func (t *Topology) Wants(j int, s Stream) bool {
	h := &t.Hosts[j]
	if h.Router || h.Member(s) {
		return true
	}
	for _, o := range t.Hosts {
		if h.Port != "" && o.Port == h.Port && (o.Member(s) || o.Name == s.From) {
			return true
		}
	}
	return false
}

// Member reports whether host h asked for s: it joined s's group for any
// source or for s's sender, and did not leave it.
func (h *Host) Member(s Stream) bool {
	for _, j := range h.Joins {
		if j.Group == s.Group && (j.Source == "" || j.Source == s.From) && !j.Leave {
			return true
		}
	}
	return false
}

// SharedMACGroups returns the sets of streamed groups that map to one
// Ethernet address (32 IPv4 groups share each), in stream order: the groups
// a switch that forwards by MAC cannot tell apart.
func SharedMACGroups(t *Topology) [][]netip.Addr {
	byMAC := make(map[[6]byte][]netip.Addr)
	var order [][6]byte
	for _, s := range t.Streams {
		mac := snoop.MulticastMAC(s.Group)
		if _, ok := byMAC[mac]; !ok {
			order = append(order, mac)
		}
		if !slices.Contains(byMAC[mac], s.Group) {
			byMAC[mac] = append(byMAC[mac], s.Group)
		}
	}
	var out [][]netip.Addr
	for _, mac := range order {
		if len(byMAC[mac]) > 1 {
			out = append(out, byMAC[mac])
		}
	}
	return out
}
