package config_test

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/internal/tunnel"
)

// TestTunnels decodes tunnels into their Specs and their ports, which come
// after the listed ports even when the file lists the tunnels first.
func TestTunnels(t *testing.T) {
	c, err := config.Parse("tunnels.yaml", []byte(`
tunnels:
  - name: vx-b
    vni: 42
    remote: 192.0.2.2
    local: 192.0.2.1
    device: eth1
  - name: vx-c
    vni: 16777215
    remote: 2001:db8:ff::3
    local: 2001:db8:ff::1
    device: eth2
    dstport: 8472
    mtu-check: warn
    split-horizon: true
    vlans: [0, 10]
    guard:
      rate-limit: 10
ports:
  - name: veth-a
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := []tunnel.Spec{
		{Name: "vx-b", VNI: 42, Remote: netip.MustParseAddr("192.0.2.2"), Local: netip.MustParseAddr("192.0.2.1"), Device: "eth1", DstPort: 4789},
		{Name: "vx-c", VNI: 16777215, Remote: netip.MustParseAddr("2001:db8:ff::3"), Local: netip.MustParseAddr("2001:db8:ff::1"), Device: "eth2", DstPort: 8472, WarnMTU: true},
	}
	if got := c.TunnelSpecs(); !reflect.DeepEqual(got, want) {
		t.Errorf("specs:\n got %+v\nwant %+v", got, want)
	}
	if got := c.PortNames(); strings.Join(got, " ") != "veth-a vx-b vx-c" {
		t.Errorf("ports %v, want veth-a vx-b vx-c", got)
	}
	b, cc := c.Ports[1], c.Ports[2]
	if !b.Tunnel || b.Role != config.RoleSwitch || b.SplitHorizon || b.VLANs != nil || !reflect.DeepEqual(b.Guard, guard.SwitchPortDefaults()) {
		t.Errorf("vx-b's port %+v, want a tunnel's, role switch, with the switch port's defaults", b)
	}
	wantGuard := guard.SwitchPortDefaults()
	wantGuard.RateLimit = 10
	if !cc.Tunnel || cc.Role != config.RoleSwitch || !cc.SplitHorizon || !reflect.DeepEqual(cc.VLANs, []int{0, 10}) || !reflect.DeepEqual(cc.Guard, wantGuard) {
		t.Errorf("vx-c's port %+v: want split-horizon, VLANs 0 and 10, rate-limit 10", cc)
	}
	if c.Ports[0].Tunnel || c.Tunnel("veth-a") != nil || c.Tunnel("vx-c").VNI != 16777215 {
		t.Errorf("Tunnel() or Port.Tunnel mix the tunnels with the ports")
	}
	if d := c.Document(); len(d.Ports) != 1 || len(d.Tunnels) != 2 || d.Tunnels[0].DstPort != 4789 || d.Tunnels[1].MTUCheck != "warn" {
		t.Errorf("document ports %+v tunnels %+v", d.Ports, d.Tunnels)
	}
}

// TestTunnelGivenAsAPortToo: --port or --router-port with a tunnel's name
// would change its port's role; Validate refuses that.
func TestTunnelGivenAsAPortToo(t *testing.T) {
	c, err := config.Parse("t.yaml", []byte(`
ports: [{name: veth-a}]
tunnels: [{name: vx-b, vni: 1, remote: 192.0.2.2, local: 192.0.2.1, device: eth1}]
`))
	if err != nil {
		t.Fatal(err)
	}
	c.SetPort("vx-b", config.RoleSwitch) // --switch-port: the same role, no change
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.SetPort("vx-b", config.RoleHost)
	err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), `tunnels[0].name: "vx-b" is a tunnel, whose port has role switch, and is given as a host port too`) {
		t.Errorf("Validate: %v", err)
	}
}

// TestAddTunnel: a tunnel added in code gets its port and the defaults, and
// counts as one of the two ports a switch needs.
func TestAddTunnel(t *testing.T) {
	c := config.Default()
	c.SetPort("veth-a", config.RoleHost)
	p := c.AddTunnel(config.Tunnel{Spec: tunnel.Spec{Name: "vx-b", VNI: 7, Remote: netip.MustParseAddr("192.0.2.2"), Local: netip.MustParseAddr("192.0.2.1"), Device: "eth1"}})
	p.SplitHorizon = true
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.Tunnel("vx-b").DstPort; got != tunnel.DefaultDstPort {
		t.Errorf("dstport %d, want %d", got, tunnel.DefaultDstPort)
	}
	if q := c.Port("vx-b"); q == nil || !q.Tunnel || !q.SplitHorizon || q.Role != config.RoleSwitch {
		t.Errorf("port %+v", q)
	}
	// A tunnel without its port is a program's mistake, and named.
	c.Tunnels = append(c.Tunnels, config.Tunnel{Spec: tunnel.Spec{Name: "vx-c", VNI: 8, Remote: netip.MustParseAddr("192.0.2.3"), Local: netip.MustParseAddr("192.0.2.1"), Device: "eth1", DstPort: 4789}})
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `"vx-c" has no port of its own`) {
		t.Errorf("Validate of a tunnel without a port: %v", err)
	}
}
