package config_test

import (
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/snoop"
)

const example = "../../examples/snoopswitch.yaml"

var update = flag.Bool("update", false, "rewrite the testdata/*.err golden files")

// TestExampleIsTheDefaults loads the reference file and compares every value
// with the built-in defaults: the file documents what a switch without it
// does.
func TestExampleIsTheDefaults(t *testing.T) {
	c, err := config.Load(example)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := config.Default()
	want.File = example
	if !reflect.DeepEqual(c.Snooping, want.Snooping) {
		t.Errorf("snooping:\n got %+v\nwant %+v", c.Snooping, want.Snooping)
	}
	for _, s := range []struct {
		name      string
		got, want any
	}{
		{"querier", c.Querier, want.Querier},
		{"guard", c.Guard, want.Guard},
		{"limits", c.Limits, want.Limits},
		{"logging", c.Logging, want.Logging},
		{"control-socket", c.ControlSocket, want.ControlSocket},
		{"metrics", c.Metrics, want.Metrics},
		{"datapath", c.Datapath, want.Datapath},
	} {
		if !reflect.DeepEqual(s.got, s.want) {
			t.Errorf("%s: got %+v, want %+v", s.name, s.got, s.want)
		}
	}
	// The defaults are the owners' defaults.
	if c.Limits.MACAgingTime != fdb.DefaultAgingTime || c.Limits.MACPerPort != fdb.DefaultPortLimit {
		t.Errorf("limits %+v are not fdb's defaults", c.Limits)
	}
	if d := snoop.DefaultTimers(); c.Snooping.Timers.Robustness != d.Robustness || c.Snooping.Timers.QueryInterval != d.QueryInterval ||
		c.Snooping.Timers.QueryResponseInterval != d.QueryResponseInterval || c.Snooping.Timers.LastMemberInterval != d.LastMemberInterval {
		t.Errorf("timers %+v are not snoop's defaults %+v", c.Snooping.Timers, d)
	}
	if !slices.Equal(c.Snooping.SSMRanges, snoop.DefaultSSM()) {
		t.Errorf("ssm-ranges %v, want snoop.DefaultSSM %v", c.Snooping.SSMRanges, snoop.DefaultSSM())
	}

	wantPorts := []struct {
		name   string
		role   config.Role
		policy guard.PortPolicy
	}{
		{"veth-a", config.RoleHost, guard.HostPortDefaults()},
		{"veth-b", config.RoleHost, guard.HostPortDefaults()},
		{"uplink", config.RoleRouter, guard.RouterPortDefaults()},
		{"vx-b", config.RoleSwitch, guard.SwitchPortDefaults()},
		{"vx-c", config.RoleSwitch, guard.SwitchPortDefaults()}, // the tunnel's
	}
	if len(c.Ports) != len(wantPorts) {
		t.Fatalf("%d ports, want %d", len(c.Ports), len(wantPorts))
	}
	for i, w := range wantPorts {
		p := c.Ports[i]
		if p.Name != w.name || p.Role != w.role || p.FastLeave || p.FloodUnregistered || p.SplitHorizon {
			t.Errorf("ports[%d] = %s %v fast-leave %v flood-unregistered %v split-horizon %v, want %s %v and none", i, p.Name, p.Role, p.FastLeave, p.FloodUnregistered, p.SplitHorizon, w.name, w.role)
		}
		if !reflect.DeepEqual(p.Guard, w.policy) {
			t.Errorf("ports[%d] guard:\n got %+v\nwant %+v", i, p.Guard, w.policy)
		}
	}
}

// TestExampleListsEveryKey: every key the decoder knows is in the reference
// file, as a key or, for the items of the rule lists, which are empty by
// default, in the commented example rules.
func TestExampleListsEveryKey(t *testing.T) {
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	present := fileKeys(t, data)
	keys := config.Keys()
	if len(keys) < 50 {
		t.Fatalf("Keys() lists %d keys: %v", len(keys), keys)
	}
	ruleKey := regexp.MustCompile(`\.(acl|senders)\[\]\.([a-z-]+)$`)
	for _, k := range keys {
		if present[k] {
			continue
		}
		if m := ruleKey.FindStringSubmatch(k); m != nil && regexp.MustCompile(`(?m)^\s*#\s+(- )?`+m[2]+`: `).Match(data) {
			continue
		}
		t.Errorf("%s: not in %s", k, example)
	}
	for k := range present {
		if !slices.Contains(keys, k) && !strings.HasSuffix(k, "]") {
			t.Errorf("%s: in the example but not a key", k)
		}
	}
}

// fileKeys returns the keys of a YAML file as Keys spells them: items of a
// list as "ports[]", "ports[].name", ...
func fileKeys(t *testing.T, data []byte) map[string]bool {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	present := make(map[string]bool)
	var walk func(n *yaml.Node, key string)
	walk = func(n *yaml.Node, key string) {
		switch n.Kind {
		case yaml.DocumentNode:
			walk(n.Content[0], key)
		case yaml.MappingNode:
			for i := 0; i < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if key != "" {
					k = key + "." + k
				}
				present[k] = true
				walk(n.Content[i+1], k)
			}
		case yaml.SequenceNode:
			for _, it := range n.Content {
				walk(it, key+"[]")
			}
		}
	}
	walk(&doc, "")
	return present
}

// TestGoldenErrors loads each bad file in testdata and compares the errors
// with its .err file (go test -update rewrites them).
func TestGoldenErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			c, err := config.Load(f)
			if err == nil {
				err = c.Validate()
			}
			if err == nil {
				t.Fatal("loads and validates; want errors")
			}
			var es config.Errors
			if !errors.As(err, &es) {
				t.Fatalf("%v: not config.Errors", err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("errors:\n%s\nwant:\n%s", got, want)
			}
			for _, e := range es {
				if e.File != f {
					t.Errorf("%q does not name the file", e)
				}
			}
		})
	}
}

// TestRules decodes every guard key of a port into its policy, in order.
func TestRules(t *testing.T) {
	c, err := config.Parse("rules.yaml", []byte(`
ports:
  - name: veth-a
    fast-leave: true
    guard:
      min-igmp-version: 3
      min-mld-version: 2
      queriers: [192.0.2.1, 2001:db8::/64]
      strict-router-alert: false
      acl:
        - action: permit
          group: 232.1.0.0/16
          source: 198.51.100.0/24
        - action: deny
          group: 232.0.0.0/8
        - action: deny
      group-limit: 10
      limit-action: replace
      host-limit: 64
      senders:
        - action: deny
          source: 2001:db8::7
          group: ff0e::/16
        - action: permit
      max-ttl: 8
      scope-boundary: true
      rate-limit: 2.5
      rate-burst: 5
  - name: uplink
    role: router
    flood-unregistered: true
    guard:
      rate-limit: 0
snooping:
  ssm-ranges: []
  last-member-count: 3
`))
	if err != nil {
		t.Fatal(err)
	}
	want := guard.HostPortDefaults()
	want.MinIGMPVersion, want.MinMLDVersion = 3, 2
	want.Queriers = []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("2001:db8::/64")}
	want.StrictRouterAlert = false
	want.ACL = []guard.Rule{
		{Permit: true, Groups: netip.MustParsePrefix("232.1.0.0/16"), Sources: netip.MustParsePrefix("198.51.100.0/24")},
		{Permit: false, Groups: netip.MustParsePrefix("232.0.0.0/8")},
		{Permit: false},
	}
	want.GroupLimit, want.LimitAction, want.HostLimit = 10, guard.LimitReplace, 64
	want.Senders = []guard.SenderRule{
		{Permit: false, Sources: netip.MustParsePrefix("2001:db8::7/128"), Groups: netip.MustParsePrefix("ff0e::/16")},
		{Permit: true},
	}
	want.MaxTTL, want.ScopeBoundary, want.RateLimit, want.RateBurst = 8, true, 2.5, 5
	if !reflect.DeepEqual(c.Ports[0].Guard, want) {
		t.Errorf("guard:\n got %+v\nwant %+v", c.Ports[0].Guard, want)
	}
	router := guard.RouterPortDefaults()
	router.RateLimit = 0
	if !reflect.DeepEqual(c.Ports[1].Guard, router) {
		t.Errorf("router guard:\n got %+v\nwant %+v", c.Ports[1].Guard, router)
	}
	if c.Snooping.SSMRanges == nil || len(c.Snooping.SSMRanges) != 0 {
		t.Errorf("ssm-ranges: [] gave %#v, want an empty list (no SSM ranges)", c.Snooping.SSMRanges)
	}

	e := c.Engine(nil)
	s := e.Snooping
	if s == nil || len(e.Guard) != 2 || !reflect.DeepEqual(e.Guard[0], want) {
		t.Fatalf("engine config: snooping %v, guard %+v", s, e.Guard)
	}
	if !s.StaticRouterPorts.Has(1) || s.StaticRouterPorts.Has(0) || !s.FloodUnregistered.Has(1) || s.FloodUnregistered.Has(0) {
		t.Errorf("router ports %v, flood-unregistered %v; want port 1 in both", s.StaticRouterPorts.Ports(), s.FloodUnregistered.Ports())
	}
	if s.Membership.FastLeave == nil || !s.Membership.FastLeave(0) || s.Membership.FastLeave(1) {
		t.Errorf("fast leave is not port 0 alone")
	}
	if s.Membership.Timers.LastMemberCount != 3 || s.Membership.SSM == nil || len(s.Membership.SSM) != 0 {
		t.Errorf("membership %+v", s.Membership)
	}
}

// TestEngineDefaults: the engine configuration of the defaults is what the
// engine's and snoop's own defaults give.
func TestEngineDefaults(t *testing.T) {
	c := config.Default()
	c.SetPort("a", config.RoleHost)
	c.SetPort("b", config.RoleRouter)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	e := c.Engine(nil)
	if e.MACTable != (fdb.Config{AgingTime: fdb.DefaultAgingTime, PortLimit: fdb.DefaultPortLimit}) || e.ReceiveLoops != 1 {
		t.Errorf("MAC table %+v, receive loops %d", e.MACTable, e.ReceiveLoops)
	}
	s := e.Snooping
	if s == nil || s.Querier.Disabled || s.Querier.IGMPVersion != 3 || s.Querier.MLDVersion != 2 || s.Querier.IPv4Source != netip.IPv4Unspecified() || s.Querier.IPv6Source.IsValid() {
		t.Fatalf("snooping %+v", s)
	}
	if s.Membership.FastLeave != nil || !s.StaticRouterPorts.Has(1) || s.StaticRouterPorts.Len() != 1 {
		t.Errorf("fast leave set, or router ports %v", s.StaticRouterPorts.Ports())
	}
	if !reflect.DeepEqual(e.Guard, []guard.PortPolicy{guard.HostPortDefaults(), guard.RouterPortDefaults()}) {
		t.Errorf("guard %+v", e.Guard)
	}
	if got := c.PortNames(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("ports %v", got)
	}

	c.Guard.Enabled = false
	if e := c.Engine(nil); e.Guard != nil {
		t.Error("guard off still gives policies")
	}
	c.Guard.Enabled = true
	c.Snooping.Enabled = false
	if e := c.Engine(nil); e.Snooping != nil || e.Guard != nil {
		t.Error("snooping off still gives snooping or guard")
	}
}

// TestSetPortChangesRole: --router-port on a port the file lists as a host
// keeps the file's guard keys over the router defaults, and Validate then
// sees a router-guard the file set.
func TestSetPortChangesRole(t *testing.T) {
	c, err := config.Parse("f.yaml", []byte(`
ports:
  - name: a
    fast-leave: true
    guard:
      max-ttl: 4
  - name: b
    guard:
      router-guard: true
`))
	if err != nil {
		t.Fatal(err)
	}
	c.SetPort("a", config.RoleRouter)
	c.SetPort("c", config.RoleHost)
	want := guard.RouterPortDefaults()
	want.MaxTTL = 4
	if p := c.Port("a"); p.Role != config.RoleRouter || !p.FastLeave || !reflect.DeepEqual(p.Guard, want) {
		t.Errorf("a: %+v", p)
	}
	if p := c.Port("c"); len(c.Ports) != 3 || p.Role != config.RoleHost || !reflect.DeepEqual(p.Guard, guard.HostPortDefaults()) {
		t.Errorf("c: %+v", c.Ports)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.SetPort("b", config.RoleRouter)
	err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), "f.yaml: ports[1].guard.router-guard: true on a router port") {
		t.Errorf("router-guard on a port made a router: %v", err)
	}
}

func TestValidateNeedsTwoPorts(t *testing.T) {
	c, err := config.Parse("one.yaml", []byte("ports:\n  - name: a\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	if err == nil || err.Error() != "one.yaml: ports: a switch needs at least two ports; got 1 (list them under ports:, or give each with --port IFACE)" {
		t.Errorf("one port: %v", err)
	}

	// Without a file, the package names itself.
	c = config.Default()
	c.SetPort("a", config.RoleHost)
	err = c.Validate()
	if err == nil || err.Error() != "config: ports: a switch needs at least two ports; got 1 (list them under ports:, or give each with --port IFACE)" {
		t.Errorf("one port, no file: %v", err)
	}
}

func TestEmptyFileIsTheDefaults(t *testing.T) {
	for _, data := range []string{"", "# nothing\n", "snooping:\nlimits: {}\n"} {
		c, err := config.Parse("empty.yaml", []byte(data))
		if err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		if !reflect.DeepEqual(c.Snooping, config.Default().Snooping) || c.Limits != config.Default().Limits {
			t.Errorf("%q: %+v", data, c)
		}
	}
}

func TestAnchorsAndDurations(t *testing.T) {
	c, err := config.Parse("a.yaml", []byte(`
ports:
  - name: a
    guard: &strict
      min-igmp-version: 3
  - name: b
    guard: *strict
snooping:
  query-interval: 1m
  last-member-interval: 500ms
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Ports[1].Guard.MinIGMPVersion != 3 || c.Snooping.Timers.QueryInterval != time.Minute || c.Snooping.Timers.LastMemberInterval != 500*time.Millisecond {
		t.Errorf("%+v %+v", c.Ports[1].Guard, c.Snooping.Timers)
	}
}

// TestSwitchRole: role: switch and split-horizon decode, start from
// guard.SwitchPortDefaults (queries pass, header checks and the rate limit
// stay), keep the file's guard keys over them, and reach the document that
// `show config` writes; --switch-port (SetPort) turns a host port into one.
func TestSwitchRole(t *testing.T) {
	c, err := config.Parse("f.yaml", []byte(`
ports:
  - name: veth-a
  - name: vx-b
    role: switch
    split-horizon: true
  - name: vx-c
    role: switch
    guard:
      rate-limit: 50
  - name: vx-d
    guard:
      max-ttl: 4
`))
	if err != nil {
		t.Fatal(err)
	}
	sw := guard.SwitchPortDefaults()
	if sw.RouterGuard || sw.Router || !sw.StrictRouterAlert || sw.RateLimit <= 0 || sw.RateBurst <= 0 {
		t.Fatalf("SwitchPortDefaults %+v: want no router guard, not a static router port, header checks on and a rate limit", sw)
	}
	if err := sw.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := config.PortDefaults(config.RoleSwitch); !reflect.DeepEqual(got, sw) {
		t.Errorf("PortDefaults(RoleSwitch) = %+v", got)
	}
	if config.RoleSwitch.String() != "switch" {
		t.Errorf("RoleSwitch.String() = %q", config.RoleSwitch.String())
	}
	if p := c.Port("vx-b"); p.Role != config.RoleSwitch || !p.SplitHorizon || !reflect.DeepEqual(p.Guard, sw) {
		t.Errorf("vx-b: %+v", p)
	}
	wantC := sw
	wantC.RateLimit = 50
	if p := c.Port("vx-c"); p.Role != config.RoleSwitch || p.SplitHorizon || !reflect.DeepEqual(p.Guard, wantC) {
		t.Errorf("vx-c: %+v", p)
	}
	if p := c.Port("veth-a"); p.SplitHorizon {
		t.Error("split-horizon is on by default")
	}

	c.SetPort("vx-d", config.RoleSwitch)
	wantD := sw
	wantD.MaxTTL = 4
	if p := c.Port("vx-d"); p.Role != config.RoleSwitch || !reflect.DeepEqual(p.Guard, wantD) {
		t.Errorf("vx-d after SetPort: %+v", p)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	e := c.Engine(nil)
	if sp := e.Snooping.SwitchPorts; !sp.Has(1) || !sp.Has(2) || !sp.Has(3) || sp.Has(0) || !e.Snooping.StaticRouterPorts.IsEmpty() {
		t.Errorf("engine switch ports %v, static router ports %v: want ports 1 to 3, and none", sp.Ports(), e.Snooping.StaticRouterPorts.Ports())
	}

	doc := c.Document()
	if d := doc.Ports[1]; d.Role != "switch" || !d.SplitHorizon {
		t.Errorf("document vx-b: %+v", d)
	}
	data, err := doc.YAML()
	if err != nil {
		t.Fatal(err)
	}
	back, err := config.Parse("back.yaml", data)
	if err != nil {
		t.Fatalf("show config's YAML does not load: %v\n%s", err, data)
	}
	for i := range c.Ports {
		p, q := c.Ports[i], back.Ports[i]
		if p.Role != q.Role || p.SplitHorizon != q.SplitHorizon || !reflect.DeepEqual(p.Guard, q.Guard) {
			t.Errorf("ports[%d] round trip: %+v, want %+v", i, q, p)
		}
	}
}

// TestSteerCPUs: datapath.steer's words and CPU lists, and what is refused.
func TestSteerCPUs(t *testing.T) {
	for _, c := range []struct {
		in   config.Steer
		auto bool
		cpus []int
	}{
		{"auto", true, nil},
		{"off", false, nil},
		{"1", false, []int{1}},
		{"0-3,6", false, []int{0, 1, 2, 3, 6}},
		{"3,1,1-2", false, []int{1, 2, 3}},
		{"8191", false, []int{8191}},
	} {
		auto, cpus, err := c.in.CPUs()
		if err != nil || auto != c.auto || !slices.Equal(cpus, c.cpus) {
			t.Errorf("%q: %v %v %v, want %v %v", c.in, auto, cpus, err, c.auto, c.cpus)
		}
	}
	for _, bad := range []config.Steer{"", "on", "Auto", "-1", "1-0", "8192", "1,", "1-", "a-b", "0x2"} {
		if auto, cpus, err := bad.CPUs(); err == nil {
			t.Errorf("%q: %v %v, want an error", bad, auto, cpus)
		}
	}
	if config.Default().Datapath.Steer != config.SteerAuto {
		t.Errorf("default datapath.steer %q, want auto", config.Default().Datapath.Steer)
	}
}
