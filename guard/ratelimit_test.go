package guard_test

import (
	"sync"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/guard"
)

var t0 = time.Unix(1_700_000_000, 0)

func ratePort(rate float64, burst int) guard.PortPolicy {
	p := guard.HostPortDefaults()
	p.RateLimit, p.RateBurst = rate, burst
	return p
}

// admitted counts how many of n packets at now are admitted on port.
func admitted(g *guard.Guard, port fdb.PortID, now time.Time, n int) int {
	k := 0
	for range n {
		if g.Admit(port, now) == guard.Pass {
			k++
		}
	}
	return k
}

func TestAdmitBurstAndRefill(t *testing.T) {
	g := newGuard(t, ratePort(10, 5))
	if got := admitted(g, 0, t0, 20); got != 5 {
		t.Fatalf("burst at t0: %d admitted, want 5", got)
	}
	// 10/s: one token per 100 ms.
	if got := admitted(g, 0, t0.Add(99*time.Millisecond), 3); got != 0 {
		t.Fatalf("at +99ms: %d admitted, want 0", got)
	}
	if got := admitted(g, 0, t0.Add(100*time.Millisecond), 3); got != 1 {
		t.Fatalf("at +100ms: %d admitted, want 1", got)
	}
	if got := admitted(g, 0, t0.Add(350*time.Millisecond), 5); got != 2 {
		t.Fatalf("at +350ms: %d admitted, want 2", got)
	}
	// A long silence refills to the burst, never beyond.
	if got := admitted(g, 0, t0.Add(time.Hour), 100); got != 5 {
		t.Fatalf("after an hour: %d admitted, want 5 (the burst)", got)
	}
	if c := g.Counters(0)["rate-limit"]; c != 15+3+2+3+95 {
		t.Fatalf("rate-limit counter = %d, want %d", c, 15+3+2+3+95)
	}
}

func TestAdmitSustainedRate(t *testing.T) {
	g := newGuard(t, ratePort(100, 1))
	got := 0
	for ms := range 10_000 { // 10 s, one packet every ms
		got += admitted(g, 0, t0.Add(time.Duration(ms)*time.Millisecond), 1)
	}
	if got != 1000 {
		t.Fatalf("10 s at 1000 pkt/s through a 100/s limit: %d admitted, want 1000", got)
	}
}

func TestAdmitPerPortIndependence(t *testing.T) {
	g := newGuard(t, ratePort(10, 5), ratePort(10, 5), ratePort(0, 0))
	if got := admitted(g, 0, t0, 1000); got != 5 {
		t.Fatalf("flooding port 0: %d admitted", got)
	}
	if got := admitted(g, 1, t0, 5); got != 5 {
		t.Fatalf("port 1 after port 0's flood: %d admitted, want its full burst 5", got)
	}
	if got := admitted(g, 2, t0, 10_000); got != 10_000 {
		t.Fatalf("unlimited port: %d admitted", got)
	}
	if c := g.Counters(1)["rate-limit"]; c != 0 {
		t.Fatalf("port 1 rate-limit counter = %d, want 0", c)
	}
}

func TestAdmitDefaultBurstAndReload(t *testing.T) {
	g := newGuard(t, ratePort(3, 0)) // burst 0 = max(1, rate) = 3
	if got := admitted(g, 0, t0, 10); got != 3 {
		t.Fatalf("default burst: %d admitted, want 3", got)
	}
	// A reload to unlimited takes effect at once.
	if err := g.SetPolicies([]guard.PortPolicy{ratePort(0, 0)}); err != nil {
		t.Fatal(err)
	}
	if got := admitted(g, 0, t0, 10); got != 10 {
		t.Fatalf("after reload to unlimited: %d admitted", got)
	}
	if got := g.Admit(fdb.MaxPorts+1, t0); got != guard.ReasonRateLimit {
		t.Fatalf("port beyond MaxPorts: %v, want rate-limit (fail closed)", got)
	}
}

// Concurrent Admit on one port never admits more than the bucket allows.
func TestAdmitConcurrent(t *testing.T) {
	g := newGuard(t, ratePort(1, 100))
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for range 8 {
		wg.Go(func() {
			n := admitted(g, 0, t0, 1000)
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if total != 100 {
		t.Fatalf("8 goroutines x 1000 packets: %d admitted, want exactly the burst 100", total)
	}
	if c := g.Counters(0)["rate-limit"]; c != 8000-100 {
		t.Fatalf("rate-limit counter = %d", c)
	}
}
