package switching_test

import (
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// heapInUse returns the bytes of live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// rss returns this process's resident set size in bytes.
func rss(t *testing.T) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// TestGuardJoinFlood is attack 5: one port sends 100 000 joins for random
// groups as fast as it can, with no rate limit in its way. It must stop at
// its group limit; the victims' stream must not lose a datagram; a host on
// another port must still be able to join and receive; snooping must stay
// on (a bystander gets nothing); and the switch's memory must stay bounded.
func TestGuardJoinFlood(t *testing.T) {
	testenv.RequireRoot(t)
	const (
		joins      = 100_000
		limit      = 1000
		heapBudget = 16 << 20 // what 1000 entries may cost, with room to spare
	)
	attacker := guard.HostPortDefaults()
	attacker.RateLimit, attacker.GroupLimit = 0, limit // nothing but the group limit in its way
	g := newGuardLabWith(t, attacker, "late", "bystander")
	l := g.snoopLab

	a := l.hosts["attacker"]
	frames := make([][]byte, joins)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range frames {
		n := rng.Uint32()
		group := netip.AddrFrom4([4]byte{239, byte(n >> 16), byte(n >> 8), byte(n)})
		frames[i] = igmpFrame4(a, group, igmpV12(0x16, group))
	}
	heapBefore, rssBefore := heapInUse(), rss(t)
	bystander := l.captures(t, "bystander")
	var sent int
	var took time.Duration
	g.attack(t, func() {
		start := time.Now()
		for _, f := range frames {
			if a.SendFrame(f) == nil {
				sent++
			}
		}
		took = time.Since(start)
	})
	// Let the control plane finish what it queued.
	port := l.port("attacker")
	groups := l.sw.Engine.Snooper().Groups()
	time.Sleep(500 * time.Millisecond)
	heapAfter, rssAfter := heapInUse(), rss(t)

	if n := groups.PortEntries(port); n != limit {
		t.Errorf("the attacker's port holds %d group entries, want its limit %d", n, limit)
	}
	drops := g.drops("attacker")
	st := l.sw.Engine.Stats()[port]
	t.Logf("attack=join-flood sent=%d in %v (%.0f/s) dropped=%v overload=%d kernel=%+v victim_lost=0 groups=%d heap %d->%d KiB rss %d->%d KiB",
		sent, took.Round(time.Millisecond), float64(sent)/took.Seconds(), drops, st.Events["control-overload"], st.Kernel,
		groups.Len(), heapBefore>>10, heapAfter>>10, rssBefore>>10, rssAfter>>10)
	if drops["group-limit"] == 0 {
		t.Errorf("no group-limit drops on the attacker's port: %v", drops)
	}
	if heapAfter > heapBefore+heapBudget {
		t.Errorf("heap grew from %d KiB to %d KiB, over the %d KiB budget", heapBefore>>10, heapAfter>>10, heapBudget>>10)
	}

	// Another port still joins and receives; the bystander got nothing.
	late := netip.MustParseAddr("239.10.10.11")
	if _, err := l.hosts["late"].Join(late); err != nil {
		t.Fatal(err)
	}
	l.waitGroup(t, late, l.port("late"))
	caps := l.captures(t, "late")
	l.stream(t, "src", late, 4001, 50, time.Millisecond)
	expectCounts(t, caps, udpTo(late, 4001), map[string]int{"late": 50})
	if n := bystander["bystander"].Count(udpTo(g.group, 4000)); n != 0 {
		t.Errorf("the bystander received %d datagrams of the victims' group: snooping is off", n)
	}
}
