package switching_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// Explicit host tracking with two real host kernels behind one switch port:
// host "src" on port 0, hosts "a" and "b" behind a hub (an unmanaged
// switch) on port 1, which has fast leave.

const hubPort fdb.PortID = 1

// hubTimers are shortTimers with a last member query time of 2 x 1 s, so
// that a fast leave (which needs no query) is told apart from a leave that
// waits for queries even on a loaded machine: fastLeaveLimit.
func hubTimers() snoop.Timers {
	t := shortTimers()
	t.LastMemberInterval = time.Second
	return t
}

const fastLeaveLimit = time.Second

// waitLearned waits until the switch no longer floods unregistered groups,
// so that data to a group nobody wants reaches nobody.
func (l *snoopLab) waitLearned(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for l.sw.Engine.Snooper().LearningAny() {
		if time.Now().After(deadline) {
			t.Fatal("the switch still floods unregistered groups after 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newHubLab builds the lab; guards, if not nil, are the ports' policies.
func newHubLab(t *testing.T, guards []guard.PortPolicy) *snoopLab {
	t.Helper()
	l := &snoopLab{Lab: testenv.New(t), hosts: make(map[string]*testenv.Host)}
	src, err := l.AddHost("src", testenv.HostOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l.hosts["src"] = src
	behind, err := l.AddHostsBehindPort("vm", "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	l.hosts["a"], l.hosts["b"] = behind[0], behind[1]
	if ports := l.SwitchPorts(); len(ports) != 2 || ports[1] != behind[0].SwitchPort || behind[1].SwitchPort != ports[1] {
		t.Fatalf("switch ports %v, hosts behind %s and %s: want the shared port once", ports, behind[0].SwitchPort, behind[1].SwitchPort)
	}
	cfg := snoop.Config{}
	cfg.Membership.Timers = hubTimers()
	cfg.Membership.FastLeave = func(p fdb.PortID) bool { return p == hubPort }
	l.sw = testenv.StartSwitch(t, l.Lab, testenv.SwitchConfig{Engine: switching.Config{Snooping: &cfg, Guard: guards}})
	return l
}

// hubFamily is what an IGMPv3 and an MLDv2 run of a test differ in.
type hubFamily struct {
	name   string
	group  netip.Addr // any-source
	ssm    netip.Addr
	addr   func(*testenv.Host) netip.Addr // the address the host reports from
	source func(*testenv.Host) netip.Addr // the address the host sends data from
	older  func(*testenv.Host) error      // forces IGMPv2 / MLDv1
}

var hubFamilies = []hubFamily{
	{"IGMPv3", netip.MustParseAddr("239.5.5.5"), netip.MustParseAddr("232.5.5.5"),
		func(h *testenv.Host) netip.Addr { return h.IPv4.Addr() },
		func(h *testenv.Host) netip.Addr { return h.IPv4.Addr() },
		func(h *testenv.Host) error { return h.ForceIGMPVersion(2) }},
	{"MLDv2", netip.MustParseAddr("ff0e::5:5"), netip.MustParseAddr("ff3e::8000:5"),
		func(h *testenv.Host) netip.Addr { return h.LinkLocal },
		func(h *testenv.Host) netip.Addr { return h.IPv6.Addr() },
		func(h *testenv.Host) error { return h.ForceMLDVersion(1) }},
}

// membership returns the hub port's membership of group.
func (l *snoopLab) membership(group netip.Addr) (fdb.PortMembership, bool) {
	return l.sw.Engine.Snooper().Groups().Get(0, group, hubPort)
}

// waitHosts waits until the hub port tracks exactly the given hosts for
// group.
func (l *snoopLab) waitHosts(t *testing.T, group netip.Addr, want ...netip.Addr) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		m, _ := l.membership(group)
		ok := len(m.Hosts) == len(want)
		for _, a := range want {
			_, tracked := m.Hosts[a]
			ok = ok && tracked
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hub port tracks hosts %v for %s after 3s, want %v (membership %+v, drops %v)", m.Hosts, group, want, m, l.sw.Engine.Stats()[hubPort].Drops)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGone waits until the hub port has no membership of group, within
// limit of now.
func (l *snoopLab) waitGone(t *testing.T, group netip.Addr, limit time.Duration, why string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		m, ok := l.membership(group)
		if !ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the hub port still holds %s after %v: %+v", why, group, limit, m)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHostTrackingLeaveKeepsOtherHost: a and b join a group; a leaves and
// b keeps its stream, at once and without a query; b leaves and the port's
// membership ends at once.
func TestHostTrackingLeaveKeepsOtherHost(t *testing.T) {
	for _, f := range hubFamilies {
		t.Run(f.name, func(t *testing.T) {
			l := newHubLab(t, nil)
			a, err := l.hosts["a"].Join(f.group)
			if err != nil {
				t.Fatal(err)
			}
			b, err := l.hosts["b"].Join(f.group)
			if err != nil {
				t.Fatal(err)
			}
			l.waitHosts(t, f.group, f.addr(l.hosts["a"]), f.addr(l.hosts["b"]))
			if err := a.Leave(); err != nil {
				t.Fatal(err)
			}
			l.waitHosts(t, f.group, f.addr(l.hosts["b"]))
			if _, ok := l.membership(f.group); !ok {
				t.Fatal("a's leave ended the port's membership, which b still wants")
			}
			caps := l.captures(t, "b")
			l.stream(t, "src", f.group, 9000, 10, 5*time.Millisecond)
			expectCounts(t, caps, udpTo(f.group, 9000), map[string]int{"b": 10})

			if err := b.Leave(); err != nil {
				t.Fatal(err)
			}
			l.waitGone(t, f.group, fastLeaveLimit, "the last host left")
			l.waitLearned(t)
			caps = l.captures(t, "a", "b")
			l.stream(t, "src", f.group, 9001, 10, 5*time.Millisecond)
			expectCounts(t, caps, udpTo(f.group, 9001), map[string]int{"a": 0, "b": 0})
		})
	}
}

// TestHostTrackingBlockKeepsSource: a and b both receive (S, G); a's BLOCK
// (its leave of the source) keeps S for b; b's ends it at once.
func TestHostTrackingBlockKeepsSource(t *testing.T) {
	for _, f := range hubFamilies {
		t.Run(f.name, func(t *testing.T) {
			l := newHubLab(t, nil)
			s := f.source(l.hosts["src"])
			a, err := l.hosts["a"].JoinSource(f.ssm, s)
			if err != nil {
				t.Fatal(err)
			}
			b, err := l.hosts["b"].JoinSource(f.ssm, s)
			if err != nil {
				t.Fatal(err)
			}
			l.waitHosts(t, f.ssm, f.addr(l.hosts["a"]), f.addr(l.hosts["b"]))
			if err := a.Leave(); err != nil {
				t.Fatal(err)
			}
			l.waitHosts(t, f.ssm, f.addr(l.hosts["b"]))
			if m, _ := l.membership(f.ssm); !m.Forwards(s) {
				t.Fatalf("a's BLOCK removed the source b still wants: %+v", m)
			}
			caps := l.captures(t, "b")
			l.stream(t, "src", f.ssm, 9002, 10, 5*time.Millisecond)
			expectCounts(t, caps, udpTo(f.ssm, 9002), map[string]int{"b": 10})

			if err := b.Leave(); err != nil {
				t.Fatal(err)
			}
			l.waitGone(t, f.ssm, fastLeaveLimit, "the last host blocked the source")
		})
	}
}

// TestHostTrackingOlderHostFallsBack: with an IGMPv2/MLDv1 host behind the
// port, a fast leave cuts the port as a whole, as without host tracking.
func TestHostTrackingOlderHostFallsBack(t *testing.T) {
	for _, f := range hubFamilies {
		t.Run(f.name, func(t *testing.T) {
			l := newHubLab(t, nil)
			if err := f.older(l.hosts["b"]); err != nil {
				t.Fatal(err)
			}
			a, err := l.hosts["a"].Join(f.group)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.hosts["b"].Join(f.group); err != nil {
				t.Fatal(err)
			}
			l.waitHosts(t, f.group, f.addr(l.hosts["a"]))
			deadline := time.Now().Add(3 * time.Second)
			for m, _ := l.membership(f.group); m.V1HostTimer.IsZero() && m.V2HostTimer.IsZero(); m, _ = l.membership(f.group) {
				if time.Now().After(deadline) {
					t.Fatalf("no older-version host seen on the hub port after 3s: %+v", m)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := a.Leave(); err != nil {
				t.Fatal(err)
			}
			l.waitGone(t, f.group, fastLeaveLimit, "older-version mode: fast leave acts on the whole port")
		})
	}
}

// TestHostTrackingHostLimit: with a host limit of one entry on the hub
// port, a and b are not both tracked for the group; the refusal is counted
// as host-limit and marks the port, so that a's leave falls back to the
// switch's group-specific queries, which b answers: b keeps its stream.
// (Link-scope groups hold no membership, so the hosts' solicited-node
// groups take no entry.)
func TestHostTrackingHostLimit(t *testing.T) {
	for _, f := range hubFamilies {
		t.Run(f.name, func(t *testing.T) {
			policies := []guard.PortPolicy{guard.HostPortDefaults(), guard.HostPortDefaults()}
			policies[hubPort].HostLimit = 1
			l := newHubLab(t, policies)
			a, err := l.hosts["a"].Join(f.group)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.hosts["b"].Join(f.group); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(3 * time.Second)
			for m, _ := l.membership(f.group); m.UntrackedUntil.IsZero(); m, _ = l.membership(f.group) {
				if time.Now().After(deadline) {
					t.Fatalf("the hub port's membership is not marked as holding an untracked host after 3s: %+v", m)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if m, _ := l.membership(f.group); len(m.Hosts) != 1 {
				t.Fatalf("hosts %v: a limit of one entry tracks one", m.Hosts)
			}
			if n := l.sw.Engine.Stats()[hubPort].Drops["host-limit"]; n == 0 {
				t.Errorf("no host-limit counted on the hub port: %v", l.sw.Engine.Stats()[hubPort].Drops)
			}
			if err := a.Leave(); err != nil {
				t.Fatal(err)
			}
			// Two queries 1 s apart, then the timers would have run out: b
			// answers them, and the port is a member throughout.
			for end := time.Now().Add(2*time.Second + 500*time.Millisecond); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
				if _, ok := l.membership(f.group); !ok {
					t.Fatal("with an untracked host, a's leave ended the port's membership")
				}
			}
			caps := l.captures(t, "b")
			l.stream(t, "src", f.group, 9003, 10, 5*time.Millisecond)
			expectCounts(t, caps, udpTo(f.group, 9003), map[string]int{"b": 10})
		})
	}
}
