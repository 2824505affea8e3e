package daemon_test

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/internal/daemon"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

// fakeFast is a daemon.FastPath that records which ports are attached and
// refuses to attach the names in refuse.
type fakeFast struct {
	mu       sync.Mutex
	refuse   map[string]bool
	attached map[fdb.PortID]string
	closed   int
	cache    fakeCache
}

func newFakeFast(refuse ...string) *fakeFast {
	f := &fakeFast{refuse: map[string]bool{}, attached: map[fdb.PortID]string{}}
	for _, n := range refuse {
		f.refuse[n] = true
	}
	return f
}

func (f *fakeFast) FlowCache() switching.FlowCache { return &f.cache }
func (f *fakeFast) Attach(id fdb.PortID, b switching.Backend) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse[b.Name()] {
		return errors.New("fast path: port " + b.Name() + ": attach refused")
	}
	f.attached[id] = b.Name()
	return nil
}
func (f *fakeFast) Detach(id fdb.PortID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.attached, id)
	return nil
}
func (f *fakeFast) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed++
	return nil
}

// names returns the attached ports' names, sorted.
func (f *fakeFast) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Values(f.attached))
}

// fakeCache is a flow cache that takes nothing and counts invalidations.
type fakeCache struct {
	mu          sync.Mutex
	invalidated int
}

func (c *fakeCache) Generation() uint32                                         { return 1 }
func (c *fakeCache) Offer(uint32, switching.FlowKey, switching.FlowAction) bool { return false }
func (c *fakeCache) Invalidate() {
	c.mu.Lock()
	c.invalidated++
	c.mu.Unlock()
}
func (c *fakeCache) Hits(func(switching.FlowKey, time.Duration)) {}
func (c *fakeCache) Counters() []switching.FlowCounters          { return nil }

// TestFastPathFollowsThePorts: with a fast path, Start gives the engine its
// flow cache and attaches every port; a reload attaches the ports it adds
// and detaches those it removes; Close closes the fast path once.
func TestFastPathFollowsThePorts(t *testing.T) {
	r := &rig{t: t, ports: &ports{refuse: map[string]bool{}, closed: map[string]*bool{}}}
	r.file = t.TempDir() + "/snoopswitch.yaml"
	r.write(twoPorts)
	c, err := r.load()
	if err != nil {
		t.Fatal(err)
	}
	fast := newFakeFast()
	sw, err := daemon.Start(c, daemon.Options{Open: r.ports.open, Load: r.load, FastPath: fast})
	if err != nil {
		t.Fatal(err)
	}
	r.sw = sw
	if got := fast.names(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("attached %v after the start, want [a b]", got)
	}
	before := fast.cache.invalidated
	if err := sw.Engine().SetPortVLANs(0, []uint16{5}); err != nil {
		t.Fatal(err)
	}
	if fast.cache.invalidated == before {
		t.Error("the engine does not invalidate the fast path's flow cache: it was not given it")
	}

	r.write("ports:\n  - name: b\n  - name: c\n")
	if _, err := sw.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := fast.names(); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("attached %v after a reload that added c and removed a, want [b c]", got)
	}
	sw.Close()
	if fast.closed != 1 {
		t.Errorf("the fast path was closed %d times by Close, want once", fast.closed)
	}
}

// TestFastPathAttachFails: a port the fast path cannot attach to fails the
// start (closing the ports and the fast path), or refuses the reload that
// adds it, leaving the switch as it was.
func TestFastPathAttachFails(t *testing.T) {
	o := &ports{refuse: map[string]bool{}, closed: map[string]*bool{}}
	c, err := config.Parse("test.yaml", []byte("ports:\n  - name: a\n  - name: b\n"))
	if err != nil {
		t.Fatal(err)
	}
	fast := newFakeFast("b")
	if _, err := daemon.Start(c, daemon.Options{Open: o.open, FastPath: fast}); err == nil || !strings.Contains(err.Error(), "port b: attach refused") {
		t.Fatalf("Start = %v, want the attach error", err)
	}
	if !*o.closed["a"] || !*o.closed["b"] || fast.closed != 1 {
		t.Errorf("after a failed start: a closed %v, b closed %v, fast path closed %d times; want all closed, once",
			*o.closed["a"], *o.closed["b"], fast.closed)
	}

	r := &rig{t: t, ports: &ports{refuse: map[string]bool{}, closed: map[string]*bool{}}}
	r.file = t.TempDir() + "/snoopswitch.yaml"
	r.write(twoPorts)
	if c, err = r.load(); err != nil {
		t.Fatal(err)
	}
	fast = newFakeFast("d")
	if r.sw, err = daemon.Start(c, daemon.Options{Open: r.ports.open, Load: r.load, FastPath: fast}); err != nil {
		t.Fatal(err)
	}
	r.write(twoPorts + "  - name: c\n  - name: d\n")
	if _, err := r.sw.Reload(); err == nil || !strings.Contains(err.Error(), "port d: attach refused") {
		t.Fatalf("Reload = %v, want a refusal with the attach error", err)
	}
	if got := r.live(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("ports %v after the refused reload, want [a b]", got)
	}
	if got := fast.names(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("attached %v after the refused reload, want [a b]", got)
	}
	// The engine closes a port it removed when its receive loops have
	// moved on, or when it closes.
	r.sw.Close()
	if !*r.ports.closed["c"] || !*r.ports.closed["d"] {
		t.Error("the ports of the refused reload were left open")
	}
}
