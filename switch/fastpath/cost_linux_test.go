//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package fastpath_test

import (
	"context"
	"testing"

	"github.com/snoopswitch/snoopswitch/fdb"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/switch/fastpath"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// What invalidation costs: one generation bump for every entry at once,
// against one delete per entry, and the sweep that frees the room of a
// full table of stale entries.
//
//	sudo go test -run '^$' -bench . ./switch/fastpath/

func loadFull(b *testing.B, n int) (*fastpath.Datapath, []fastpath.FlowKey) {
	b.Helper()
	testenv.RequireRoot(b)
	d, err := fastpath.Load(n)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	keys := make([]fastpath.FlowKey, n)
	for i := range keys {
		keys[i] = switching.UnicastFlow(fdb.PortID(i%4), 0, macA, fdb.MAC{2, 1, 0, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	return d, keys
}

func install(b *testing.B, d *fastpath.Datapath, keys []fastpath.FlowKey) {
	b.Helper()
	var out fdb.PortSet
	out.Add(5)
	for _, k := range keys {
		if err := d.Install(k, fastpath.FlowAction{Verdict: fastpath.Forward, Out: out}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInvalidate(b *testing.B) {
	d, keys := loadFull(b, 10000)
	install(b, d, keys)
	for b.Loop() {
		if err := d.Invalidate(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInstall(b *testing.B) {
	d, keys := loadFull(b, 10000)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		install(b, d, keys[i%len(keys):i%len(keys)+1])
	}
}

func BenchmarkDelete(b *testing.B) {
	d, keys := loadFull(b, 10000)
	for i := 0; b.Loop(); i++ {
		k := keys[i%len(keys)]
		if i%len(keys) == 0 {
			b.StopTimer()
			install(b, d, keys)
			b.StartTimer()
		}
		if err := d.Delete(k); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSweep10000 removes 10 000 stale entries per op.
func BenchmarkSweep10000(b *testing.B) {
	d, keys := loadFull(b, 10000)
	for b.Loop() {
		b.StopTimer()
		install(b, d, keys)
		if err := d.Invalidate(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if n, err := d.Sweep(0); err != nil || n != len(keys) {
			b.Fatalf("swept %d (%v), want %d", n, err, len(keys))
		}
	}
}

// TestInstallerOfferAllocatesNothing: the per-frame side of the queue.
func TestInstallerOfferAllocatesNothing(t *testing.T) {
	in := fastpath.NewInstaller(nil, 4)
	k := switching.MulticastFlow(1, 10, macA, group6, src6)
	var out fdb.PortSet
	out.Add(2)
	a := fastpath.FlowAction{Verdict: fastpath.Forward, Out: out}
	if n := testing.AllocsPerRun(100, func() { in.Offer(7, k, a) }); n != 0 {
		t.Errorf("Offer allocates %.0f times, want 0", n)
	}
	if s := in.Stats(); s.Dropped != 100-4+1 {
		// AllocsPerRun runs once more to warm up; 4 fit in the queue.
		t.Errorf("%d offers dropped, want the %d the queue had no room for", s.Dropped, 100-4+1)
	}
}

// TestInstallerAppliesInOrder: decisions reach the kernel through the
// queue; one of an old generation does not.
func TestInstallerAppliesInOrder(t *testing.T) {
	testenv.RequireRoot(t)
	d, err := fastpath.Load(16)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := fastpath.NewInstaller(d, 16)
	k1 := switching.UnicastFlow(0, 0, macA, macB)
	k2 := switching.UnicastFlow(0, 0, macB, macA)
	old := d.Generation()
	in.Offer(old, k1, fastpath.FlowAction{Verdict: fastpath.Drop})
	in.OfferDelete(k1)
	if err := d.Invalidate(); err != nil {
		t.Fatal(err)
	}
	in.Offer(old, k2, fastpath.FlowAction{Verdict: fastpath.Drop})            // decided before the change
	in.Offer(d.Generation(), k1, fastpath.FlowAction{Verdict: fastpath.Punt}) // after it
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	for in.Stats().Applied < 3 { // two skipped as stale, one written
		if s := in.Stats(); s.Failed > 0 {
			t.Fatal(s.LastErr)
		}
	}
	cancel()
	<-done
	if _, ok, _ := d.FlowStats(k2); ok {
		t.Error("a decision of the old generation was installed")
	}
	if s, ok, _ := d.FlowStats(k1); !ok || s.Stale {
		t.Errorf("the current decision: %+v %v, want installed and valid", s, ok)
	}
}
