package switching_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/snoop"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// TestFabricQuerierOverVXLAN: three machines (namespaces) joined by a full
// mesh of real VXLAN tunnels, each running its own switch with the tunnels
// as split-horizon switch ports and the querier at its default 0.0.0.0:
// every switch names the same querier (the lowest MAC) for IGMP and MLD,
// and when that switch stops, the next takes over once the
// other-querier-present interval has run out, and not long before.
func TestFabricQuerierOverVXLAN(t *testing.T) {
	f := testenv.NewFabric(t, testenv.FabricOptions{Tunnels: testenv.FullMesh})
	type machine struct {
		name string
		sw   *testenv.Switch
		mac  [6]byte
	}
	var ms []*machine
	timers := snoop.DefaultTimers()
	timers.QueryInterval, timers.QueryResponseInterval = 4*time.Second, time.Second
	oqpi := timers.OtherQuerierPresent()
	for _, name := range []string{"a", "b", "c"} {
		if _, err := f.AddMachine(name); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range f.Machines() {
		name := m.Name
		c := m.Config(config.RoleSwitch)
		c.Snooping.Timers = timers
		for _, tun := range m.Tunnels() {
			c.Port(tun.Name).SplitHorizon = true
		}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		ec := c.Engine(nil)
		// In-process switches share the test's network namespace, from
		// which the default MAC is derived: each machine gets its own,
		// as its own `snoopswitch run` would.
		ec.MAC = snoop.SwitchMAC([]byte("machine " + name))
		sw := testenv.StartSwitch(t, m.Lab, testenv.SwitchConfig{Engine: ec})
		for _, p := range c.Ports {
			id, ok := sw.Engine.PortID(p.Name)
			if !ok {
				t.Fatalf("machine %s: no port %s", name, p.Name)
			}
			if err := sw.Engine.SetPortSplitHorizon(id, p.SplitHorizon); err != nil {
				t.Fatal(err)
			}
		}
		ms = append(ms, &machine{name: name, sw: sw, mac: ec.MAC})
	}
	lowest := func(up []*machine) *machine {
		best := up[0]
		for _, m := range up[1:] {
			if bytes.Compare(m.mac[:], best.mac[:]) < 0 {
				best = m
			}
		}
		return best
	}
	// agree returns "" when every switch of up names want as the querier of
	// both families (and only want says it is itself), else what differs.
	agree := func(up []*machine, want *machine) string {
		for _, family := range []int{4, 6} {
			for _, m := range up {
				var found bool
				for _, st := range m.sw.Engine.Snooper().Querier().Status(time.Now()) {
					if st.VLAN != 0 || st.Family != family {
						continue
					}
					found = true
					if st.QuerierMAC != want.mac || st.SelfQuerier != (m == want) {
						return fmt.Sprintf("machine %s, family %d: querier %v %v (self %v), want machine %s's %v", m.name, family, st.Querier, st.QuerierMAC, st.SelfQuerier, want.name, want.mac)
					}
				}
				if !found {
					return fmt.Sprintf("machine %s, family %d: no election yet", m.name, family)
				}
			}
		}
		return ""
	}
	waitAgree := func(up []*machine, want *machine, timeout time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		var why string
		for time.Since(start) < timeout {
			if why = agree(up, want); why == "" {
				return time.Since(start)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("after %v: %s", timeout, why)
		return 0
	}

	first := lowest(ms)
	waitAgree(ms, first, 5*time.Second)
	// It stays so: nobody else starts querying.
	time.Sleep(2 * timers.QueryInterval)
	if why := agree(ms, first); why != "" {
		t.Fatalf("%v later: %s", 2*timers.QueryInterval, why)
	}

	var rest []*machine
	for _, m := range ms {
		if m != first {
			rest = append(rest, m)
		}
	}
	stopped := time.Now()
	if err := first.sw.Close(); err != nil {
		t.Fatal(err)
	}
	next := lowest(rest)
	waitAgree(rest, next, oqpi+timers.QueryInterval)
	took := time.Since(stopped)
	// The last query heard came at most a query interval before the stop.
	if took < oqpi-timers.QueryInterval {
		t.Errorf("machine %s took over %v after machine %s stopped, before the other-querier-present interval (%v) could run out", next.name, took, first.name, oqpi)
	}
	t.Logf("machine %s took over %v after machine %s stopped (other-querier-present interval %v)", next.name, took.Round(time.Millisecond), first.name, oqpi)
}
