package daemon_test

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/internal/control"
	"github.com/snoopswitch/snoopswitch/internal/daemon"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/switch/fastpath"
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

// MaxFlows and Installer make it report on its flow table, as
// datapath.Fast does.
func (f *fakeFast) MaxFlows() int { return 1024 }
func (f *fakeFast) Installer() fastpath.InstallerStats {
	return fastpath.InstallerStats{Applied: 7, Dropped: 1, Full: 2, Failed: 3, LastErr: errors.New("map full")}
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

// TestDatapathReport: the switch reports the datapath its options say runs,
// why, and its fast path's flow table; the status starts with it.
func TestDatapathReport(t *testing.T) {
	c, err := config.Parse("test.yaml", []byte("ports:\n  - name: a\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := &ports{refuse: map[string]bool{}, closed: map[string]*bool{}}
	choice := daemon.DatapathChoice{Configured: config.DatapathAuto, Mode: config.DatapathFast, Reason: "eBPF and tcx are available and permitted"}
	sw, err := daemon.Start(c, daemon.Options{Open: o.open, FastPath: newFakeFast(), Datapath: choice})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	r := sw.Datapath()
	want := control.FlowTableReport{MaxFlows: 1024, Installed: 7, QueueFull: 1, TableFull: 2, Failed: 3, LastError: "map full"}
	if r.Mode != "fast" || r.Configured != "auto" || r.Reason != choice.Reason || r.Flows == nil || *r.Flows != want {
		t.Errorf("report %+v (flows %+v), want fast by auto with %+v", r, r.Flows, want)
	}
	var b bytes.Buffer
	if err := sw.WriteStatus(&b); err != nil {
		t.Fatal(err)
	}
	if w := "datapath: fast (datapath.mode auto: eBPF and tcx are available and permitted)\n" +
		"frames received: 0, forwarded in the kernel: 0 (-); sent: 0, by the kernel: 0 (-)\n" +
		"flow table: room for 1024; decisions installed 7, refused: queue full 1, table full 2, failed 3 (last: map full)\n\n"; !strings.HasPrefix(b.String(), w) {
		t.Errorf("status:\n%s\nwant it to start:\n%s", b.String(), w)
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
