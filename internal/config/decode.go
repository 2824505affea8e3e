package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/internal/tunnel"
)

// Load reads the configuration file at path over the defaults and checks
// it. A file that cannot be read gives that error; a file that is not
// valid gives Errors, each with the file, the line and the key. The ports
// may be fewer than two (the command line may add some): Validate checks
// that.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load of data, which was read from the file named name.
func Parse(name string, data []byte) (*Config, error) {
	d := &decoder{file: name, lines: make(map[string]int)}
	c := Default()
	c.File = name
	c.lines = d.lines

	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, Errors{d.syntaxError(err)}
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		line := next.Line
		if len(next.Content) > 0 {
			line = next.Content[0].Line
		}
		return nil, Errors{{File: name, Line: line, Msg: "a second YAML document (after ---); keep the whole configuration in one"}}
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		d.config(doc.Content[0], c)
	}
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	for _, p := range c.problems(false) {
		d.errs = append(d.errs, &Error{File: name, Line: d.line(p.key), Key: p.key, Msg: p.msg})
	}
	if len(d.errs) > 0 {
		slices.SortStableFunc(d.errs, func(a, b *Error) int { return a.Line - b.Line })
		return nil, d.errs
	}
	return c, nil
}

// Keys returns every key a file may hold, as paths in the file's order:
// "ports", "ports[].name", ..., "ports[].guard.acl[].group", ...,
// "snooping.enabled", ...
func Keys() []string {
	d := &decoder{schema: true}
	d.config(nil, Default())
	return d.keys
}

// decoder walks a file's YAML nodes into a Config. Each decode function
// takes the value's node and its key; in schema mode (Keys) the node is nil
// and the functions only list their keys.
type decoder struct {
	file  string
	errs  Errors
	lines map[string]int // value lines by key

	schema bool
	keys   []string
}

// field is one key of a mapping and what decodes its value.
type field struct {
	name   string
	decode func(n *yaml.Node, key string)
}

func (d *decoder) config(n *yaml.Node, c *Config) {
	section := func(fields []field) func(*yaml.Node, string) {
		return func(n *yaml.Node, key string) { d.mapping(n, key, fields) }
	}
	s, q, l := &c.Snooping, &c.Querier, &c.Limits
	var tunnels []tunnelItem
	defer func() {
		// The tunnels' ports come after the listed ones, wherever the
		// file puts the two lists.
		for _, it := range tunnels {
			c.Tunnels = append(c.Tunnels, it.tunnel)
			c.Ports = append(c.Ports, it.port)
		}
	}()
	d.mapping(n, "", []field{
		{"ports", d.ports(&c.Ports)},
		{"tunnels", d.tunnels(&tunnels)},
		{"snooping", section([]field{
			{"enabled", d.boolean(&s.Enabled)},
			{"igmp-version", d.integer(&s.IGMPVersion)},
			{"mld-version", d.integer(&s.MLDVersion)},
			{"robustness", d.integer(&s.Timers.Robustness)},
			{"query-interval", d.duration(&s.Timers.QueryInterval)},
			{"query-response-interval", d.duration(&s.Timers.QueryResponseInterval)},
			{"last-member-interval", d.duration(&s.Timers.LastMemberInterval)},
			{"last-member-count", d.integer(&s.Timers.LastMemberCount)},
			{"ssm-ranges", d.prefixes(&s.SSMRanges, "232.0.0.0/8", true)},
			{"zero-source-router-ports", d.boolean(&s.ZeroSourceRouterPorts)},
		})},
		{"querier", section([]field{
			{"enabled", d.boolean(&q.Enabled)},
			{"ipv4-source", d.addr(&q.IPv4Source, "0.0.0.0 or 192.0.2.1")},
			{"ipv6-source", d.addr(&q.IPv6Source, "fe80::1, or \"\" to derive one from the switch's MAC")},
		})},
		{"guard", section([]field{
			{"enabled", d.boolean(&c.Guard.Enabled)},
		})},
		{"limits", section([]field{
			{"mac-per-port", d.integer(&l.MACPerPort)},
			{"mac-aging-time", d.duration(&l.MACAgingTime)},
			{"group-entries", d.integer(&l.GroupEntries)},
		})},
		{"logging", section([]field{
			{"level", d.level(&c.Logging.Level)},
		})},
		{"control-socket", section([]field{
			{"path", d.str(&c.ControlSocket.Path)},
		})},
		{"metrics", section([]field{
			{"address", d.str(&c.Metrics.Address)},
		})},
		{"datapath", section([]field{
			{"mode", d.choice(DatapathModes, func(i int) { c.Datapath.Mode = DatapathMode(i) })},
			{"receive-loops", d.integer(&c.Datapath.ReceiveLoops)},
			{"express", d.boolean(&c.Datapath.Express)},
			{"sendmmsg", d.boolean(&c.Datapath.Sendmmsg)},
			{"steer", d.str((*string)(&c.Datapath.Steer))},
		})},
	})
}

func (d *decoder) ports(dst *[]Port) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		d.list(n, key, func(n *yaml.Node, key string) {
			p := Port{Role: RoleHost}
			var gb portGuardBlock
			d.mapping(n, key, []field{
				{"name", d.str(&p.Name)},
				{"role", d.role(&p.Role)},
				{"fast-leave", d.boolean(&p.FastLeave)},
				{"flood-unregistered", d.boolean(&p.FloodUnregistered)},
				{"vlans", d.integers(&p.VLANs)},
				{"split-horizon", d.boolean(&p.SplitHorizon)},
				{"guard", d.guardBlock(&gb)},
			})
			if d.schema || n.Kind != yaml.MappingNode {
				return
			}
			if _, ok := d.lines[key+".name"]; !ok {
				d.fail(n, key, "has no name; give the interface with name: IFACE")
			}
			p.Line = n.Line
			d.applyGuard(&p, gb)
			*dst = append(*dst, p)
		})
	}
}

// tunnelItem is a decoded item of tunnels: the tunnel and its port.
type tunnelItem struct {
	tunnel Tunnel
	port   Port
}

func (d *decoder) tunnels(dst *[]tunnelItem) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		d.list(n, key, func(n *yaml.Node, key string) {
			t := Tunnel{Spec: tunnel.Spec{DstPort: tunnel.DefaultDstPort}}
			p := Port{Role: RoleSwitch, Tunnel: true}
			var gb portGuardBlock
			d.mapping(n, key, []field{
				{"name", d.str(&t.Name)},
				{"vni", d.integer(&t.VNI)},
				{"remote", d.addr(&t.Remote, "192.0.2.2 or 2001:db8::2")},
				{"local", d.addr(&t.Local, "192.0.2.1 or 2001:db8::1")},
				{"device", d.str(&t.Device)},
				{"dstport", d.integer(&t.DstPort)},
				{"mtu-check", d.choice(MTUChecks, func(i int) { t.WarnMTU = MTUChecks[i] == "warn" })},
				{"split-horizon", d.boolean(&p.SplitHorizon)},
				{"vlans", d.integers(&p.VLANs)},
				{"guard", d.guardBlock(&gb)},
			})
			if d.schema || n.Kind != yaml.MappingNode {
				return
			}
			if _, ok := d.lines[key+".name"]; !ok {
				d.fail(n, key, "has no name; give the VXLAN device's name with name: such as vx-b")
			}
			t.Remote, t.Local = t.Remote.Unmap(), t.Local.Unmap()
			t.Line, p.Line, p.Name = n.Line, n.Line, t.Name
			d.applyGuard(&p, gb)
			*dst = append(*dst, tunnelItem{t, p})
		})
	}
}

// portGuardBlock is a port's guard block, kept until the port's role is
// known.
type portGuardBlock struct {
	node *yaml.Node
	key  string
}

// guardBlock decodes the guard key of a port or a tunnel into dst.
func (d *decoder) guardBlock(dst *portGuardBlock) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		if d.schema {
			d.portGuard(nil, key, new(guard.PortPolicy))
			return
		}
		*dst = portGuardBlock{n, key}
	}
}

// applyGuard sets p's guard policy: its role's defaults with the block g
// applied over them.
func (d *decoder) applyGuard(p *Port, g portGuardBlock) {
	p.Guard = PortDefaults(p.Role)
	if g.node != nil {
		p.guardNode = g.node
		d.portGuard(g.node, g.key, &p.Guard)
	}
}

// portGuard applies a port's guard block, the value n of key, over p, which
// holds the role's defaults.
func (d *decoder) portGuard(n *yaml.Node, key string, p *guard.PortPolicy) {
	d.mapping(n, key, []field{
		{"router-guard", d.boolean(&p.RouterGuard)},
		{"min-igmp-version", d.integer(&p.MinIGMPVersion)},
		{"min-mld-version", d.integer(&p.MinMLDVersion)},
		{"queriers", d.prefixes(&p.Queriers, "192.0.2.1 or fe80::1", false)},
		{"strict-router-alert", d.boolean(&p.StrictRouterAlert)},
		{"acl", d.rules(func(permit bool, group, source netip.Prefix) {
			p.ACL = append(p.ACL, guard.Rule{Permit: permit, Groups: group, Sources: source})
		})},
		{"group-limit", d.integer(&p.GroupLimit)},
		{"limit-action", d.limitAction(&p.LimitAction)},
		{"host-limit", d.integer(&p.HostLimit)},
		{"senders", d.rules(func(permit bool, group, source netip.Prefix) {
			p.Senders = append(p.Senders, guard.SenderRule{Permit: permit, Sources: source, Groups: group})
		})},
		{"max-ttl", d.integer(&p.MaxTTL)},
		{"scope-boundary", d.boolean(&p.ScopeBoundary)},
		{"rate-limit", d.number(&p.RateLimit)},
		{"rate-burst", d.integer(&p.RateBurst)},
	})
}

// rules decodes acl and senders: lists of {action, group, source}.
func (d *decoder) rules(add func(permit bool, group, source netip.Prefix)) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		d.list(n, key, func(n *yaml.Node, key string) {
			var permit bool
			var group, source netip.Prefix
			d.mapping(n, key, []field{
				{"action", d.action(&permit)},
				{"group", d.prefix(&group, "239.1.0.0/16")},
				{"source", d.prefix(&source, "198.51.100.0/24")},
			})
			if d.schema || n.Kind != yaml.MappingNode {
				return
			}
			if _, ok := d.lines[key+".action"]; !ok {
				d.fail(n, key, "has no action; give action: permit or action: deny")
			}
			add(permit, group, source)
		})
	}
}

// mapping decodes the mapping n by fields. An empty value (a section
// written with no keys) is an empty mapping.
func (d *decoder) mapping(n *yaml.Node, key string, fields []field) {
	if d.schema {
		for _, f := range fields {
			k := join(key, f.name)
			d.keys = append(d.keys, k)
			f.decode(nil, k)
		}
		return
	}
	n = resolve(n)
	if isNull(n) {
		return
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	if n.Kind != yaml.MappingNode {
		d.typeError(n, key, "a mapping", "give the keys "+strings.Join(names, ", "))
		return
	}
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := resolve(n.Content[i]), resolve(n.Content[i+1])
		name := kn.Value
		k := join(key, name)
		if line, ok := seen[name]; ok {
			d.fail(kn, k, "given twice (also on line %d); give each key once", line)
			continue
		}
		seen[name] = kn.Line
		var f *field
		for i := range fields {
			if fields[i].name == name {
				f = &fields[i]
			}
		}
		if f == nil {
			where := "the top level"
			if key != "" {
				where = key
			}
			hint := ""
			if s := closest(name, names); s != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", s)
			}
			d.fail(kn, k, "unknown key %q%s; %s has the keys %s", name, hint, where, strings.Join(names, ", "))
			continue
		}
		d.lines[k] = kn.Line
		f.decode(vn, k)
	}
}

// list decodes the sequence n, item by item. An empty value is an empty
// list.
func (d *decoder) list(n *yaml.Node, key string, item func(n *yaml.Node, key string)) {
	if d.schema {
		item(nil, key+"[]")
		return
	}
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.typeError(n, key, "a list", "give one item per line, each starting with -")
		return
	}
	for i, it := range n.Content {
		it = resolve(it)
		k := fmt.Sprintf("%s[%d]", key, i)
		d.lines[k] = it.Line
		item(it, k)
	}
}

// scalar returns the scalar n, or reports that n is not one (and of which
// type it is) and returns nil.
func (d *decoder) scalar(n *yaml.Node, key, want, hint string) *yaml.Node {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.typeError(n, key, want, hint)
		return nil
	}
	return n
}

func (d *decoder) boolean(dst *bool) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		if d.schema {
			return
		}
		const hint = "use true or false"
		if n = d.scalar(n, key, "true or false", hint); n == nil {
			return
		}
		var b bool
		if n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.fail(n, key, "%q is not true or false; %s", n.Value, hint)
			return
		}
		*dst = b
	}
}

func (d *decoder) integer(dst *int) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		if d.schema {
			return
		}
		const hint = "use a whole number such as 2"
		if n = d.scalar(n, key, "a whole number", hint); n == nil {
			return
		}
		var i int
		if n.ShortTag() != "!!int" {
			d.fail(n, key, "%q is not a whole number; %s", n.Value, hint)
			return
		}
		if n.Decode(&i) != nil {
			d.fail(n, key, "%s is too large", n.Value)
			return
		}
		*dst = i
	}
}

// integers decodes a list of whole numbers.
func (d *decoder) integers(dst *[]int) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		var out []int
		d.list(n, key, func(n *yaml.Node, key string) {
			i := -1
			d.integer(&i)(n, key)
			if !d.schema && n.ShortTag() == "!!int" {
				out = append(out, i)
			}
		})
		*dst = out
	}
}

func (d *decoder) number(dst *float64) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		if d.schema {
			return
		}
		const hint = "use a number such as 100 or 2.5"
		if n = d.scalar(n, key, "a number", hint); n == nil {
			return
		}
		var f float64
		if t := n.ShortTag(); (t != "!!int" && t != "!!float") || n.Decode(&f) != nil {
			d.fail(n, key, "%q is not a number; %s", n.Value, hint)
			return
		}
		*dst = f
	}
}

func (d *decoder) str(dst *string) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		if d.schema {
			return
		}
		// Any scalar: an interface may be called 0 or true. "" is written
		// as "".
		if n = d.scalar(n, key, "a string", `use a string, or "" for none`); n == nil {
			return
		}
		*dst = n.Value
	}
}

func (d *decoder) duration(dst *time.Duration) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		if d.schema {
			return
		}
		const hint = "use a number with a unit (ms, s, m or h) such as 125s, 1m30s or 500ms"
		if n = d.scalar(n, key, "a duration", hint); n == nil {
			return
		}
		if t := n.ShortTag(); t == "!!int" || t == "!!float" {
			d.fail(n, key, "%s has no unit; write %ss for seconds (a duration is a number with a unit: ms, s, m or h)", n.Value, n.Value)
			return
		}
		v, err := time.ParseDuration(n.Value)
		if err != nil {
			d.fail(n, key, "%q is not a duration; %s", n.Value, hint)
			return
		}
		*dst = v
	}
}

func (d *decoder) level(dst *slog.Level) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		if d.schema {
			return
		}
		const hint = "use debug, info, warn or error"
		if n = d.scalar(n, key, "a log level", hint); n == nil {
			return
		}
		var l slog.Level
		if err := l.UnmarshalText([]byte(n.Value)); err != nil {
			d.fail(n, key, "%q is not a log level; %s", n.Value, hint)
			return
		}
		*dst = l
	}
}

// choice decodes one of words into set(index).
func (d *decoder) choice(words []string, set func(int)) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		if d.schema {
			return
		}
		hint := "use " + strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
		if n = d.scalar(n, key, "a word", hint); n == nil {
			return
		}
		for i, w := range words {
			if n.Value == w {
				set(i)
				return
			}
		}
		d.fail(n, key, "%q is not allowed; %s", n.Value, hint)
	}
}

func (d *decoder) role(dst *Role) func(*yaml.Node, string) {
	return d.choice(Roles, func(i int) { *dst = Role(i) })
}

func (d *decoder) action(permit *bool) func(*yaml.Node, string) {
	return d.choice([]string{"permit", "deny"}, func(i int) { *permit = i == 0 })
}

func (d *decoder) limitAction(dst *guard.LimitAction) func(*yaml.Node, string) {
	return d.choice([]string{"deny", "replace"}, func(i int) {
		*dst = []guard.LimitAction{guard.LimitDeny, guard.LimitReplace}[i]
	})
}

// addr decodes an IP address; "" is the zero Addr.
func (d *decoder) addr(dst *netip.Addr, example string) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		if d.schema {
			return
		}
		hint := "use an IP address such as " + example
		if n = d.scalar(n, key, "an address", hint); n == nil {
			return
		}
		if n.Value == "" {
			*dst = netip.Addr{}
			return
		}
		a, err := netip.ParseAddr(n.Value)
		if err != nil {
			d.fail(n, key, "%q is not an address; %s", n.Value, hint)
			return
		}
		*dst = a
	}
}

// prefix decodes a prefix, or an address as the prefix of that one address.
func (d *decoder) prefix(dst *netip.Prefix, example string) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		if d.schema {
			return
		}
		hint := "use an IPv4 or IPv6 prefix such as " + example
		if n = d.scalar(n, key, "a prefix", hint); n == nil {
			return
		}
		p, err := parsePrefix(n.Value)
		if err != nil {
			d.fail(n, key, "%q is not a prefix; %s", n.Value, hint)
			return
		}
		*dst = p
	}
}

// prefixes decodes a list of prefixes (or addresses) into *dst, replacing
// the default. An empty list is nil, or with keepEmpty an empty slice (for
// ssm-ranges, where nil is the default ranges and empty is none).
func (d *decoder) prefixes(dst *[]netip.Prefix, example string, keepEmpty bool) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		var ps []netip.Prefix
		if keepEmpty {
			ps = []netip.Prefix{}
		}
		d.list(n, key, func(n *yaml.Node, key string) {
			var p netip.Prefix
			d.prefix(&p, example)(n, key)
			if p.IsValid() {
				ps = append(ps, p)
			}
		})
		if !d.schema {
			*dst = ps
		}
	}
}

// parsePrefix parses a prefix, or an address as a full-length prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.ParsePrefix(s)
}

// fail records an error at n's line.
func (d *decoder) fail(n *yaml.Node, key, format string, a ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: n.Line, Key: key, Msg: fmt.Sprintf(format, a...)})
}

// typeError reports a value of the wrong type: what it is, what the key
// wants, and how to write that.
func (d *decoder) typeError(n *yaml.Node, key, want, hint string) {
	switch {
	case isNull(n):
		d.fail(n, key, "has no value; %s", hint)
	case n.Kind == yaml.MappingNode:
		d.fail(n, key, "is a mapping, not %s; %s", want, hint)
	case n.Kind == yaml.SequenceNode:
		d.fail(n, key, "is a list, not %s; %s", want, hint)
	default:
		d.fail(n, key, "%q is not %s; %s", n.Value, want, hint)
	}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns the YAML parser's error into an Error at its line.
func (d *decoder) syntaxError(err error) *Error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: d.file, Line: line, Msg: m[2] + " (not valid YAML)"}
	}
	return &Error{File: d.file, Msg: strings.TrimPrefix(msg, "yaml: ") + " (not valid YAML)"}
}

// line returns the line of key's value, or of the nearest enclosing key the
// file gives.
func (d *decoder) line(key string) int {
	for key != "" {
		if l, ok := d.lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

// resolve follows an alias (*name) to its anchor's node.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func join(key, name string) string {
	if key == "" {
		return name
	}
	return key + "." + name
}

// closest returns the name nearest to s, if one is within two edits.
func closest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if dist := editDistance(s, n); dist < bestD {
			best, bestD = n, dist
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
