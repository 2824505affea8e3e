//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package fastpath_test

import (
	"context"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/switch/fastpath"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// waitApplied waits until the installer has applied n decisions.
func waitApplied(t *testing.T, in *fastpath.Installer, n uint64) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if in.Stats().Applied >= n {
			return
		}
	}
	t.Fatalf("installer applied %d decisions, want %d (%+v)", in.Stats().Applied, n, in.Stats())
}

// TestCacheRepeatsTheEnginesDecisions: the engine's flow cache on the
// kernel: an offered decision is installed under the engine's key and
// forwards the frame; the kernel's hits and port counters come back in
// the engine's types; Invalidate makes the entry a miss, a decision
// offered with the old generation is skipped, and Hits makes room by
// removing the stale entry.
func TestCacheRepeatsTheEnginesDecisions(t *testing.T) {
	f := eth(macB, macA, 0x0800, ipv4(src4, uni4, 17, 64, nil, udp))
	loadOnLo(t, 64, 1, func(d *fastpath.Datapath, _ []*testenv.Host) {
		in := fastpath.NewInstaller(d, 16)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go in.Run(ctx)
		c := fastpath.NewCache(d, in, nil)
		var fc switching.FlowCache = c

		k := engineKey(t, f)
		var out fdb.PortSet
		out.Add(1)
		gen := fc.Generation()
		if !fc.Offer(gen, k, switching.FlowAction{Out: out}) {
			t.Fatal("offer refused by an empty queue")
		}
		waitApplied(t, in, 1)
		if got := run(t, d, f); got != fastpath.TCXRedirect {
			t.Fatalf("verdict %d after the offer, want a redirect to port 1", int32(got))
		}
		hits := 0
		fc.Hits(func(hk switching.FlowKey, idle time.Duration) {
			if hk != k || idle > time.Second {
				t.Errorf("hit of %v idle %v, want %v lately", hk, idle, k)
			}
			hits++
		})
		if hits != 1 {
			t.Errorf("Hits reported %d flows, want 1", hits)
		}
		cs := fc.Counters()
		if len(cs) != fdb.MaxPorts || cs[0].RxFrames != 1 || cs[0].RxBytes != uint64(len(f)) {
			t.Errorf("port 0 counters %+v, want the one frame the kernel forwarded", cs[0])
		}

		fc.Invalidate()
		if fc.Generation() == gen {
			t.Fatal("Invalidate did not move the generation")
		}
		if got := run(t, d, f); got != fastpath.TCXNext {
			t.Errorf("verdict %d after Invalidate, want a miss", int32(got))
		}
		fc.Offer(gen, k, switching.FlowAction{Out: out})
		waitApplied(t, in, 2)
		if got := run(t, d, f); got != fastpath.TCXNext {
			t.Errorf("verdict %d after a decision of the old generation, want a miss", int32(got))
		}
		fc.Hits(func(hk switching.FlowKey, _ time.Duration) { t.Errorf("Hits reported the stale flow %v", hk) })
		if _, ok, _ := d.FlowStats(engineKey(t, f)); ok {
			t.Error("Hits left the stale entry in the table")
		}
		if n := c.InvalidateFailures(); n != 0 {
			t.Errorf("%d invalidations failed", n)
		}
	})
}
