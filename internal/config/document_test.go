package config_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/config"
)

// full sets every key away from its default, rules included.
const full = `
ports:
  - name: h1
    fast-leave: true
    vlans: [0, 10]
    guard:
      min-igmp-version: 3
      min-mld-version: 2
      queriers: [198.18.0.1, fe80::1/128]
      acl:
        - {action: deny, group: 239.9.0.0/16}
        - {action: permit, group: 232.1.1.1, source: 198.18.0.9}
      group-limit: 10
      limit-action: replace
      senders:
        - {action: deny, source: 198.18.0.66, group: 239.1.0.0/16}
      max-ttl: 8
      scope-boundary: true
      rate-limit: 2.5
      rate-burst: 7
  - name: h2
    flood-unregistered: true
  - name: up
    role: router
tunnels:
  - name: vx-b
    vni: 42
    remote: 2001:db8:ff::2
    local: 2001:db8:ff::1
    device: eth1
    dstport: 4790
    mtu-check: warn
    split-horizon: true
    vlans: [10]
    guard:
      min-igmp-version: 2
      acl:
        - {action: deny, group: 239.9.0.0/16, source: 198.18.0.7}
      senders:
        - {action: deny, source: 198.18.0.66, group: 239.1.0.0/16}
      rate-limit: 50
  - name: vx-c
    vni: 43
    remote: 192.0.2.3
    local: 192.0.2.1
    device: eth1
snooping:
  igmp-version: 2
  mld-version: 1
  robustness: 3
  query-interval: 1m
  query-response-interval: 5s
  last-member-interval: 500ms
  last-member-count: 4
  ssm-ranges: []
  zero-source-router-ports: true
querier:
  enabled: false
  ipv4-source: 198.18.0.254
  ipv6-source: fe80::254
guard:
  enabled: true
limits:
  mac-per-port: 10
  mac-aging-time: 30s
  group-entries: 500
logging:
  level: debug
control-socket:
  path: /tmp/x.sock
metrics:
  address: 127.0.0.1:9310
datapath:
  mode: fast
  receive-loops: 2
  express: false
  sendmmsg: true
  steer: 0-1,3
`

// TestDocumentRoundTrips: what `show config` prints loads back to the same
// configuration, and holds every key a file may hold.
func TestDocumentRoundTrips(t *testing.T) {
	exampleConfig, err := config.Load(example)
	if err != nil {
		t.Fatal(err)
	}
	fullConfig, err := config.Parse("full.yaml", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*config.Config{exampleConfig, fullConfig} {
		data, err := c.Document().YAML()
		if err != nil {
			t.Fatal(err)
		}
		back, err := config.Parse("show-config.yaml", data)
		if err != nil {
			t.Fatalf("%s: the document does not load: %v\n%s", c.File, err, data)
		}
		if !sameConfig(c, back) {
			t.Errorf("%s: the document loads to another configuration\n%s", c.File, data)
		}
		keys := fileKeys(t, data)
		for _, k := range config.Keys() {
			if !keys[k] && c == fullConfig {
				t.Errorf("%s: key %s missing from the document", c.File, k)
			}
		}
		var fromJSON map[string]any
		js, err := json.Marshal(c.Document())
		if err != nil || json.Unmarshal(js, &fromJSON) != nil || len(fromJSON) != 10 {
			t.Errorf("%s: JSON document %s (%v)", c.File, js, err)
		}
	}
}

// sameConfig compares two configurations by what they configure (not the
// file or lines they came from).
func sameConfig(a, b *config.Config) bool {
	if len(a.Ports) != len(b.Ports) {
		return false
	}
	for i := range a.Ports {
		p, q := a.Ports[i], b.Ports[i]
		if p.Name != q.Name || p.Role != q.Role || p.FastLeave != q.FastLeave || p.FloodUnregistered != q.FloodUnregistered ||
			p.SplitHorizon != q.SplitHorizon || p.Tunnel != q.Tunnel || !slices.Equal(p.VLANs, q.VLANs) || !reflect.DeepEqual(p.Guard, q.Guard) {
			return false
		}
	}
	if len(a.Tunnels) != len(b.Tunnels) {
		return false
	}
	for i := range a.Tunnels {
		if a.Tunnels[i].Spec != b.Tunnels[i].Spec {
			return false
		}
	}
	return reflect.DeepEqual(a.Snooping, b.Snooping) && a.Querier == b.Querier && a.Guard == b.Guard && a.Limits == b.Limits &&
		a.Logging == b.Logging && a.ControlSocket == b.ControlSocket && a.Metrics == b.Metrics && a.Datapath == b.Datapath
}
