package testenv_test

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/testenv"
)

// twoHosts builds a lab with hosts a and b.
func twoHosts(t *testing.T) (*testenv.Lab, *testenv.Host, *testenv.Host) {
	t.Helper()
	lab := testenv.New(t)
	a, err := lab.AddHost("a", testenv.HostOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := lab.AddHost("b", testenv.HostOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return lab, a, b
}

// wantPings pings dst from h and fails unless every reply comes back.
func wantPings(t *testing.T, h *testenv.Host, dst netip.Addr) {
	t.Helper()
	const count = 3
	r, err := h.Ping(dst, count, 10*time.Millisecond, 2*time.Second)
	if err != nil {
		t.Fatalf("%s: ping %s: %v", h.Name, dst, err)
	}
	if r.Sent != count || r.Received != count || len(r.RTTs) != count {
		t.Fatalf("%s: ping %s: %+v, want %d of %d replies", h.Name, dst, r, count, count)
	}
	for _, rtt := range r.RTTs {
		if rtt <= 0 || rtt > 2*time.Second {
			t.Errorf("%s: ping %s: RTT %v out of range", h.Name, dst, rtt)
		}
	}
}

// wantNoPings pings dst from h and fails if any reply comes back.
func wantNoPings(t *testing.T, h *testenv.Host, dst netip.Addr) {
	t.Helper()
	start := time.Now()
	r, err := h.Ping(dst, 2, 10*time.Millisecond, 200*time.Millisecond)
	if err != nil {
		t.Fatalf("%s: ping %s: %v", h.Name, dst, err)
	}
	if r.Received != 0 || len(r.RTTs) != 0 {
		t.Errorf("%s: ping %s: %+v, want no replies", h.Name, dst, r)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("%s: ping %s took %v, want about 210ms", h.Name, dst, d)
	}
}

func TestPingThroughLinuxBridgeLinux(t *testing.T) {
	lab, a, b := twoHosts(t)

	// Nothing joins the switch ports yet.
	wantNoPings(t, a, b.IPv4.Addr())

	if _, err := lab.AddLinuxBridge(); err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]*testenv.Host{{a, b}, {b, a}} {
		from, to := pair[0], pair[1]
		wantPings(t, from, to.IPv4.Addr())
		wantPings(t, from, to.IPv6.Addr())
		wantPings(t, from, to.LinkLocal)
		wantPings(t, from, to.LinkLocal.WithZone("eth0"))
	}
	if _, err := a.Ping(b.LinkLocal.WithZone("eth9"), 1, 0, time.Second); err == nil {
		t.Error("ping with a zone other than eth0 succeeded")
	}

	// A host added later joins the bridge.
	c, err := lab.AddHost("c", testenv.HostOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantPings(t, c, a.IPv4.Addr())

	// Without the bridge the hosts are cut off again; with it back, joined.
	if err := lab.RemoveLinuxBridge(); err != nil {
		t.Fatal(err)
	}
	wantNoPings(t, a, b.IPv4.Addr())
	wantNoPings(t, a, b.IPv6.Addr())
	if err := lab.RemoveLinuxBridge(); err != nil {
		t.Errorf("second RemoveLinuxBridge: %v", err)
	}
	if _, err := lab.AddLinuxBridge(); err != nil {
		t.Fatal(err)
	}
	if _, err := lab.AddLinuxBridge(); err == nil {
		t.Error("a second AddLinuxBridge succeeded")
	}
	wantPings(t, a, b.IPv4.Addr())
}

func TestPingLostRepliesLinux(t *testing.T) {
	lab, a, _ := twoHosts(t)
	if _, err := lab.AddLinuxBridge(); err != nil {
		t.Fatal(err)
	}
	wantNoPings(t, a, netip.MustParseAddr("198.18.0.99"))
	wantNoPings(t, a, netip.MustParseAddr("2001:db8::99"))
}

func TestPingParallelLinux(t *testing.T) {
	lab, a, b := twoHosts(t)
	if _, err := lab.AddLinuxBridge(); err != nil {
		t.Fatal(err)
	}
	dsts := []netip.Addr{b.IPv4.Addr(), b.IPv4.Addr(), b.IPv6.Addr(), b.LinkLocal}
	// Resolve the neighbours first: a frame lost while the bridge and
	// neighbour discovery settle is not what this test is about.
	for _, dst := range dsts {
		a.Ping(dst, 3, 10*time.Millisecond, time.Second)
	}
	// Each ping socket gets its own echo identifier, so parallel Pings from
	// one host see only their own replies.
	var wg sync.WaitGroup
	for _, dst := range dsts {
		wg.Go(func() {
			r, err := a.Ping(dst, 20, time.Millisecond, 2*time.Second)
			if err != nil || r.Sent != 20 || r.Received != 20 {
				t.Errorf("ping %s: %+v, %v; want 20 of 20 replies", dst, r, err)
			}
		})
	}
	wg.Wait()
}
