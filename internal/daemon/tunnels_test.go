package daemon_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/internal/daemon"
	"github.com/snoopswitch/snoopswitch/internal/tunnel"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

// fakeTunnels is a daemon.Tunnels that makes no device: it records what it
// was asked in events, shared with the port opener, and fails where told.
type fakeTunnels struct {
	mu      sync.Mutex
	events  *[]string
	refuse  map[string]bool // names Create refuses
	mtu     bool            // CheckMTU refuses
	devices map[string]bool
}

func (f *fakeTunnels) Create(t tunnel.Spec) (*tunnel.Device, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse[t.Name] {
		return nil, fmt.Errorf("tunnel %q: the kernel says no", t.Name)
	}
	if f.devices[t.Name] {
		return nil, fmt.Errorf("tunnel %q: created twice", t.Name)
	}
	f.devices[t.Name] = true
	*f.events = append(*f.events, "create "+t.Name)
	return &tunnel.Device{Spec: t, MTU: 1450, UnderlayMTU: 1500}, nil
}

func (f *fakeTunnels) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.devices[name] {
		return fmt.Errorf("tunnel %q: not made", name)
	}
	delete(f.devices, name)
	*f.events = append(*f.events, "remove "+name)
	return nil
}

func (f *fakeTunnels) CheckMTU(ts []tunnel.Spec, ports []string) ([]*tunnel.MTUError, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*f.events = append(*f.events, "check-mtu "+strings.Join(ports, ","))
	if f.mtu {
		return nil, &tunnel.MTUError{Tunnel: ts[0].Name, Port: ports[0], PortMTU: 1500, Overhead: 50, Family: "IPv4", Underlay: "eth1", UnderlayMTU: 1500}
	}
	return nil, nil
}

func (f *fakeTunnels) Close() error {
	f.mu.Lock()
	names := make([]string, 0, len(f.devices))
	for n := range f.devices {
		names = append(names, n)
	}
	f.mu.Unlock()
	slices.Sort(names)
	var errs []error
	for _, n := range names {
		errs = append(errs, f.Remove(n))
	}
	return errors.Join(errs...)
}

func (f *fakeTunnels) made() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for n := range f.devices {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// tunnelRig is a rig whose switch has fake tunnels.
type tunnelRig struct {
	*rig
	tunnels *fakeTunnels
	events  []string
}

func newTunnelRig(t *testing.T, yaml string) (*tunnelRig, error) {
	t.Helper()
	r := &tunnelRig{rig: &rig{t: t, file: filepath.Join(t.TempDir(), "snoopswitch.yaml"), ports: &ports{refuse: map[string]bool{}, closed: map[string]*bool{}}}}
	r.tunnels = &fakeTunnels{events: &r.events, refuse: map[string]bool{}, devices: map[string]bool{}}
	r.write(yaml)
	c, err := r.load()
	if err != nil {
		t.Fatal(err)
	}
	open := func(name string) (switching.Backend, error) {
		p, err := r.ports.open(name)
		if err == nil {
			r.tunnels.mu.Lock()
			r.events = append(r.events, "open "+name)
			r.tunnels.mu.Unlock()
		}
		return p, err
	}
	r.sw, err = daemon.Start(c, daemon.Options{Open: open, Load: r.load, Tunnels: r.tunnels})
	if err == nil {
		t.Cleanup(r.sw.Close)
	}
	return r, err
}

func tunnelYAML(names ...string) string {
	s := "ports:\n  - name: a\n  - name: b\ntunnels:\n"
	for i, n := range names {
		s += fmt.Sprintf("  - {name: %s, vni: %d, remote: 192.0.2.%d, local: 192.0.2.1, device: eth1}\n", n, 10+i, 10+i)
	}
	return s
}

// Start creates the tunnels, checks the MTU of every port against them,
// then opens the ports, tunnels included; Close removes the tunnels after
// the ports are closed.
func TestStartCreatesTunnelsFirst(t *testing.T) {
	r, err := newTunnelRig(t, tunnelYAML("vx-b", "vx-c"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"create vx-b", "create vx-c", "check-mtu a,b,vx-b,vx-c", "open a", "open b", "open vx-b", "open vx-c"}
	if !slices.Equal(r.events, want) {
		t.Errorf("events %q, want %q", r.events, want)
	}
	if got := r.live(); !slices.Equal(got, []string{"a", "b", "vx-b", "vx-c"}) {
		t.Errorf("ports %v", got)
	}
	r.sw.Close()
	if got := r.tunnels.made(); len(got) != 0 {
		t.Errorf("tunnels %v left after Close", got)
	}
	if !*r.ports.closed["vx-b"] {
		t.Error("the tunnel's port was not closed")
	}
}

// Every way a start can fail removes the tunnels it made.
func TestStartFailureRemovesTunnels(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(*tunnelRig)
		want string
	}{
		{"second tunnel refused", func(r *tunnelRig) { r.tunnels.refuse["vx-c"] = true }, "the kernel says no"},
		{"MTU", func(r *tunnelRig) { r.tunnels.mtu = true }, "1500 + 50 bytes of VXLAN over IPv4 = 1550"},
		{"a port does not open", func(r *tunnelRig) { r.ports.refuse["vx-c"] = true }, "port vx-c: no such interface"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &tunnelRig{rig: &rig{t: t, file: filepath.Join(t.TempDir(), "s.yaml"), ports: &ports{refuse: map[string]bool{}, closed: map[string]*bool{}}}}
			r.tunnels = &fakeTunnels{events: &r.events, refuse: map[string]bool{}, devices: map[string]bool{}}
			c.set(r)
			r.write(tunnelYAML("vx-b", "vx-c"))
			cfg, err := r.load()
			if err != nil {
				t.Fatal(err)
			}
			_, err = daemon.Start(cfg, daemon.Options{Open: r.ports.open, Tunnels: r.tunnels})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Start = %v, want an error with %q", err, c.want)
			}
			if got := r.tunnels.made(); len(got) != 0 {
				t.Errorf("tunnels %v left behind (events %q)", got, r.events)
			}
			for name, closed := range r.ports.closed {
				if !*closed {
					t.Errorf("port %s left open", name)
				}
			}
		})
	}
}

func TestStartWithoutTunnelsSupport(t *testing.T) {
	c, err := config.Parse("t.yaml", []byte(tunnelYAML("vx-b")))
	if err != nil {
		t.Fatal(err)
	}
	o := &ports{refuse: map[string]bool{}, closed: map[string]*bool{}}
	if _, err := daemon.Start(c, daemon.Options{Open: o.open}); err == nil || !strings.Contains(err.Error(), "cannot make tunnels") {
		t.Errorf("Start = %v", err)
	}
	if len(o.opened) != 0 {
		t.Errorf("opened %v", o.opened)
	}
}

// A reload adds and removes tunnels with their ports; the other ports stay.
func TestReloadAddsAndRemovesTunnels(t *testing.T) {
	r, err := newTunnelRig(t, tunnelYAML("vx-b"))
	if err != nil {
		t.Fatal(err)
	}
	r.events = nil
	r.write(strings.Replace(tunnelYAML("vx-b", "vx-c"), "{name: vx-c", "{split-horizon: true, name: vx-c", 1))
	res, err := r.sw.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"create vx-c", "check-mtu a,b,vx-b,vx-c", "open vx-c"}; !slices.Equal(r.events, want) {
		t.Errorf("events %q, want %q", r.events, want)
	}
	if !slices.Equal(res.Added, []string{"vx-c"}) || len(res.Removed) != 0 {
		t.Errorf("result %+v", res)
	}
	if p := r.sw.Config().Port("vx-c"); p == nil || !p.SplitHorizon || p.Role != config.RoleSwitch {
		t.Errorf("vx-c's port %+v", p)
	}

	r.events = nil
	r.write(tunnelYAML("vx-c")[:strings.Index(tunnelYAML("vx-c"), "  - {name: vx-c")] +
		"  - {name: vx-c, vni: 11, remote: 192.0.2.11, local: 192.0.2.1, device: eth1, split-horizon: true}\n")
	res, err = r.sw.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"check-mtu a,b,vx-c", "remove vx-b"}; !slices.Equal(r.events, want) {
		t.Errorf("events %q, want %q", r.events, want)
	}
	if !slices.Equal(res.Removed, []string{"vx-b"}) || len(res.Added) != 0 {
		t.Errorf("result %+v", res)
	}
	if got := r.live(); !slices.Equal(got, []string{"a", "b", "vx-c"}) {
		t.Errorf("ports %v, want a b vx-c", got)
	}
	if got := r.tunnels.made(); !slices.Equal(got, []string{"vx-c"}) {
		t.Errorf("tunnels %v, want vx-c", got)
	}
}

// A reload whose tunnel fails leaves the running configuration as it was:
// the tunnels made for it are removed, no port was opened or removed.
func TestReloadWithABadTunnelChangesNothing(t *testing.T) {
	for _, c := range []struct {
		name string
		yaml string
		set  func(*tunnelRig)
		want string
	}{
		{"kernel refuses", tunnelYAML("vx-b", "vx-c", "vx-d"), func(r *tunnelRig) { r.tunnels.refuse["vx-d"] = true }, "the kernel says no"},
		{"MTU", tunnelYAML("vx-b", "vx-c"), func(r *tunnelRig) { r.tunnels.mtu = true }, "= 1550"},
		{"port does not open", tunnelYAML("vx-b", "vx-c"), func(r *tunnelRig) { r.ports.refuse["vx-c"] = true }, "port vx-c"},
		{"changed in place", strings.Replace(tunnelYAML("vx-b"), "vni: 10", "vni: 99", 1), func(*tunnelRig) {}, `tunnel "vx-b": vni, remote, local, device, dstport or mtu-check changed`},
		{"VNI of a removed tunnel", strings.Replace(tunnelYAML("vx-z"), "vni: 10", "vni: 10", 1), func(*tunnelRig) {}, `VNI 10 on UDP port 4789 is still tunnel "vx-b"'s`},
		{"not valid", tunnelYAML("vx-b", "vx-b"), func(*tunnelRig) {}, "listed twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := newTunnelRig(t, tunnelYAML("vx-b"))
			if err != nil {
				t.Fatal(err)
			}
			before := r.sw.Config()
			c.set(r)
			r.events = nil
			r.write(c.yaml)
			_, err = r.sw.Reload()
			if err == nil || !strings.Contains(err.Error(), "reload refused") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Reload = %v, want refused with %q", err, c.want)
			}
			if r.sw.Config() != before {
				t.Error("the running configuration changed")
			}
			if got := r.tunnels.made(); !slices.Equal(got, []string{"vx-b"}) {
				t.Errorf("tunnels %v, want vx-b alone (events %q)", got, r.events)
			}
			if got := r.live(); !slices.Equal(got, []string{"a", "b", "vx-b"}) {
				t.Errorf("ports %v", got)
			}
		})
	}
}
