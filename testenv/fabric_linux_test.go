package testenv_test

import (
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// fabricNamespaces lists the entries under /run/netns whose names start
// with a fabric's prefix (its machines' labs add their names to it).
func fabricNamespaces(t *testing.T, prefix string) []string {
	t.Helper()
	entries, err := os.ReadDir("/run/netns")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	return names
}

// TestFabricStar builds three machines in a star, one host each, with a
// switch on each machine that floods multicast over its tunnels (router
// ports), and checks the names, the addresses, that a ping from b's host
// to c's crosses the two tunnels through the hub a, and that Close leaves
// nothing behind.
func TestFabricStar(t *testing.T) {
	testenv.RequireRoot(t)
	f, err := testenv.BuildFabric(testenv.FabricOptions{})
	if err != nil {
		t.Fatal(err)
	}
	prefix := f.Prefix()
	closed := false
	defer func() {
		if !closed {
			f.Close()
		}
	}()
	var hosts []*testenv.Host
	for _, name := range []string{"a", "b", "c"} {
		m, err := f.AddMachine(name)
		if err != nil {
			t.Fatal(err)
		}
		if m.Prefix() != prefix+name || m.SwitchNS().Name != prefix+name+"-sw" {
			t.Errorf("machine %s: lab prefix %s, namespace %s", name, m.Prefix(), m.SwitchNS().Name)
		}
		h, err := m.AddHost("h1", testenv.HostOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	a, b, c := f.Machine("a"), f.Machine("b"), f.Machine("c")
	// Hosts on different machines share one segment: their MACs and
	// addresses must differ.
	if hosts[0].MAC.String() == hosts[1].MAC.String() || hosts[1].IPv4 == hosts[2].IPv4 || hosts[0].IPv6 == hosts[2].IPv6 {
		t.Fatalf("hosts share addresses: %v %v %v", hosts[0].IPv4, hosts[1].IPv4, hosts[2].IPv4)
	}
	if got := hosts[1].Index; got != testenv.DefaultHostsPerMachine+1 {
		t.Errorf("b's first host has index %d, want %d", got, testenv.DefaultHostsPerMachine+1)
	}
	// A star: a has a tunnel to b and to c, b and c one to a.
	if len(a.Tunnels()) != 2 || len(b.Tunnels()) != 1 || len(c.Tunnels()) != 1 || f.Tunnel(b, c) != nil {
		t.Fatalf("tunnels: a %d, b %d, c %d; b-c %v", len(a.Tunnels()), len(b.Tunnels()), len(c.Tunnels()), f.Tunnel(b, c))
	}
	ab := f.Tunnel(a, b)
	if ab.Name != prefix+"a-vxb" || ab.Local != a.Underlay.Addr() || ab.Remote != b.Underlay.Addr() {
		t.Errorf("a-b tunnel: %+v", ab)
	}
	if want := []string{prefix + "ah1", prefix + "a-vxb", prefix + "a-vxc"}; !slices.Equal(a.SwitchPorts(), want) {
		t.Errorf("a's switch ports %v, want %v", a.SwitchPorts(), want)
	}

	for _, m := range f.Machines() {
		cfg := m.Config(config.RoleRouter)
		for _, tn := range m.Tunnels() {
			if got := cfg.Port(tn.Name); got == nil || got.Role != config.RoleRouter {
				t.Errorf("machine %s: tunnel port %+v, want a router port", m.Name, got)
			}
		}
		sw, err := m.StartSwitch(testenv.SwitchConfig{Engine: cfg.Engine(slog.New(slog.DiscardHandler))})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if t.Failed() {
				t.Logf("machine %s: %+v", m.Name, sw.Engine.Stats())
			}
		}()
	}
	before, err := f.Tunnel(a, c).Stats()
	if err != nil {
		t.Fatal(err)
	}
	cap, err := f.Tunnel(c, a).Capture()
	if err != nil {
		t.Fatal(err)
	}
	for _, dst := range []netip.Addr{hosts[2].IPv4.Addr(), hosts[2].IPv6.Addr()} {
		res, err := hosts[1].Ping(dst, 3, 10*time.Millisecond, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if res.Received != res.Sent {
			t.Errorf("ping %s from b's host to c's across two tunnels: %d of %d answered", dst, res.Received, res.Sent)
		}
	}
	after, err := f.Tunnel(a, c).Stats()
	if err != nil {
		t.Fatal(err)
	}
	if after.TxPackets-before.TxPackets < 6 {
		t.Errorf("a sent %d frames into its tunnel to c during 6 pings, want at least the 6 requests", after.TxPackets-before.TxPackets)
	}
	fromB := func(fr []byte) bool { return len(fr) >= 12 && string(fr[6:12]) == string(hosts[1].MAC) }
	if !cap.WaitFor(fromB, 6, time.Second) {
		t.Errorf("c's end of the tunnel from a captured %d frames of b's host, want the 6 echo requests", cap.Count(fromB))
	}

	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	if left := fabricNamespaces(t, prefix); len(left) > 0 {
		t.Errorf("namespaces left after Close: %v", left)
	}
}

// TestFabricIPv6Underlay carries a star's tunnels over IPv6 and checks
// that b's host reaches c's across the two tunnels.
func TestFabricIPv6Underlay(t *testing.T) {
	f := testenv.NewFabric(t, testenv.FabricOptions{UnderlayIPv6: true})
	var hosts []*testenv.Host
	for _, name := range []string{"a", "b", "c"} {
		m, err := f.AddMachine(name)
		if err != nil {
			t.Fatal(err)
		}
		if !m.Underlay.Addr().Is6() {
			t.Fatalf("machine %s: underlay %s, want IPv6", name, m.Underlay)
		}
		h, err := m.AddHost("h1", testenv.HostOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	for _, m := range f.Machines() {
		testenv.StartSwitch(t, m.Lab, testenv.SwitchConfig{Engine: m.Config(config.RoleRouter).Engine(slog.New(slog.DiscardHandler))})
	}
	for _, dst := range []netip.Addr{hosts[2].IPv4.Addr(), hosts[2].IPv6.Addr()} {
		res, err := hosts[1].Ping(dst, 2, 10*time.Millisecond, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if res.Received != res.Sent {
			t.Errorf("ping %s: %d of %d answered", dst, res.Received, res.Sent)
		}
	}
}

// TestFabricFullMesh checks a full mesh's tunnels: one between every two
// machines, each with a VNI of its own (Linux takes one VXLAN device per VNI
// and port in a namespace). Traffic over a mesh needs split horizon, which
// the switch tests use.
func TestFabricFullMesh(t *testing.T) {
	f := testenv.NewFabric(t, testenv.FabricOptions{Tunnels: testenv.FullMesh})
	for _, name := range []string{"a", "b", "c", "d"} {
		if _, err := f.AddMachine(name); err != nil {
			t.Fatal(err)
		}
	}
	ends := f.Tunnels()
	if len(ends) != 12 {
		t.Fatalf("%d tunnel ends, want 12 (6 tunnels)", len(ends))
	}
	vnis := make(map[int]int)
	for _, e := range ends {
		vnis[e.VNI]++
		back := f.Tunnel(e.Peer, e.Machine)
		if back == nil || back.VNI != e.VNI || back.Remote != e.Local {
			t.Errorf("tunnel %s: the other end is %+v", e.Name, back)
		}
	}
	for vni, n := range vnis {
		if n != 2 {
			t.Errorf("VNI %d is on %d devices, want the 2 ends of one tunnel", vni, n)
		}
	}
	for _, m := range f.Machines() {
		if n := len(m.Tunnels()); n != 3 {
			t.Errorf("machine %s has %d tunnels, want 3", m.Name, n)
		}
	}
}

// TestFabricErrors checks what AddMachine and Connect refuse.
func TestFabricErrors(t *testing.T) {
	f := testenv.NewFabric(t, testenv.FabricOptions{Tunnels: testenv.ManualTunnels})
	a, err := f.AddMachine("a")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "abcd", "a-b", "ul", "a"} {
		if _, err := f.AddMachine(bad); err == nil {
			t.Errorf("AddMachine(%q) succeeded", bad)
		}
	}
	if _, _, err := f.Connect(a, a); err == nil {
		t.Error("Connect(a, a) succeeded")
	}
	b, err := f.AddMachine("b")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Tunnels()) != 0 {
		t.Fatalf("ManualTunnels made tunnels: %v", a.Tunnels())
	}
	if _, _, err := f.Connect(a, b); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Connect(b, a); err == nil {
		t.Error("a second tunnel between a and b was made")
	}
	if _, err := testenv.BuildFabric(testenv.FabricOptions{Prefix: "toolong"}); err == nil {
		t.Error("a 7-character fabric prefix was taken")
	}
}
