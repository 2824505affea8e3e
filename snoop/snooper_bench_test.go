package snoop_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/snoop"
)

// How many IGMPv3 reports per second Snooper.Control takes: parse, count,
// apply every record to the group table, decide where the report goes.
// BENCHMARKS.md ("Multicast snooping") has the figures.

const (
	// ctlBenchHosts is the number of host ports, one reporting host behind
	// each; port ctlBenchHosts is a static router port.
	ctlBenchHosts = 8
	// ctlBenchGroupsPerHost is how many groups each host is a member of:
	// 8 x 512 = 4096 groups in the table.
	ctlBenchGroupsPerHost = 512
)

// ctlBenchGroup returns the g-th group of host p: 239.1.x.y, one port per
// group.
func ctlBenchGroup(p, g int) netip.Addr {
	i := g*ctlBenchHosts + p
	return netip.AddrFrom4([4]byte{239, 1, byte(i >> 8), byte(i)})
}

// ctlBenchReport returns an IGMPv3 report (from the IP header on, to
// 224.0.0.22 with Router Alert and TTL 1, checksums set) from host p
// holding one record without sources per group: recTypes[i] for groups[i].
func ctlBenchReport(p int, groups []netip.Addr, recTypes []snoop.RecordType) []byte {
	igmp := make([]byte, 8, 8+8*len(groups))
	igmp[0] = 0x22
	igmp[6], igmp[7] = byte(len(groups)>>8), byte(len(groups))
	for i, g := range groups {
		a := g.As4()
		igmp = append(igmp, byte(recTypes[i]), 0, 0, 0, a[0], a[1], a[2], a[3])
	}
	return wireIP4{src: fmt.Sprintf("198.18.0.%d", p+1), dst: "224.0.0.22", opts: wireRA4, upper: igmp}.bytes()
}

// ctlBenchPacket is one report and the port it arrives on.
type ctlBenchPacket struct {
	port fdb.PortID
	ip   []byte
}

// ctlBenchReports builds the report stream: the hosts take turns, each
// sending reports of `records` records for its groups in rotation (the
// m-th report of a host covers its groups m*records .. m*records+records-1,
// modulo ctlBenchGroupsPerHost). recType gives the record type of the
// host's n-th record overall. The stream holds perHost reports per host
// and repeats.
func ctlBenchReports(records, perHost int, recType func(n int) snoop.RecordType) []ctlBenchPacket {
	var out []ctlBenchPacket
	groups := make([]netip.Addr, records)
	types := make([]snoop.RecordType, records)
	for m := range perHost {
		for p := range ctlBenchHosts {
			for j := range records {
				n := m*records + j
				groups[j] = ctlBenchGroup(p, n%ctlBenchGroupsPerHost)
				types[j] = recType(n)
			}
			out = append(out, ctlBenchPacket{port: fdb.PortID(p), ip: ctlBenchReport(p, groups, types)})
		}
	}
	return out
}

// ctlBenchSnooper returns a snooper with the host ports and one static
// router port (where the reports go), and the set of all ports.
func ctlBenchSnooper(fastLeave bool) (*snoop.Snooper, fdb.PortSet) {
	var all, routers fdb.PortSet
	for p := range ctlBenchHosts + 1 {
		all.Add(fdb.PortID(p))
	}
	routers.Add(ctlBenchHosts)
	cfg := snoop.Config{StaticRouterPorts: routers}
	if fastLeave {
		cfg.Membership.FastLeave = func(p fdb.PortID) bool { return p < ctlBenchHosts }
	}
	return snoop.New(cfg), all
}

// ctlBenchRun feeds the stream to s, one report per call to next, with a
// clock that advances 1 ms per report, and checks the verdicts. With tick,
// it also runs s.Tick every 100 ms of that clock, as the switch's control
// loop does, and counts the queries Tick asks for.
type ctlBenchRun struct {
	s        *snoop.Snooper
	all      fdb.PortSet
	pkts     []ctlBenchPacket
	k        int
	now      time.Time
	tick     bool
	nextTick time.Time
	queries  int
}

func (r *ctlBenchRun) next(tb testing.TB) {
	p := &r.pkts[r.k]
	v := r.s.Control(0, p.port, 0x0800, p.ip, r.all, r.now)
	if v.Drop != 0 || !v.Ports.Has(ctlBenchHosts) || v.Ports.Len() != 1 {
		tb.Fatalf("report %d: verdict %+v, want to the router port only", r.k, v)
	}
	if r.tick && !r.now.Before(r.nextTick) {
		sends, _ := r.s.Tick(r.now)
		r.queries += len(sends)
		r.nextTick = r.now.Add(100 * time.Millisecond)
	}
	r.now = r.now.Add(time.Millisecond)
	if r.k++; r.k == len(r.pkts) {
		r.k = 0
	}
}

// BenchmarkSnooperControlIGMPv3 measures Control on IGMPv3 reports of 1 and
// 10 records from 8 hosts, each a member of 512 groups (4096 in all), which
// they report in rotation:
//
//   - refresh: MODE_IS_EXCLUDE {} records for groups the port already holds,
//     as hosts answer the querier's general queries: the steady state.
//   - join-leave: each host joins all its groups (CHANGE_TO_EXCLUDE {}), then
//     leaves them all (CHANGE_TO_INCLUDE {}), and again, with fast leave on,
//     so every record creates or deletes a membership and its group; the
//     table swings between 0 and 4096 groups.
//   - join-leave-querier: the same stream without fast leave, the switch
//     being the querier (the default): a leave lowers the group timer to
//     the last member query time (2 s) and queues group-specific queries;
//     Tick runs every 100 ms of the benchmark's clock, sends the queries and
//     removes the memberships whose timers ran out, and its time counts.
//
// The clock advances 1 ms per report (1000 reports/s); in refresh and
// join-leave no timer runs out.
func BenchmarkSnooperControlIGMPv3(b *testing.B) {
	for _, records := range []int{1, 10} {
		b.Run(fmt.Sprintf("refresh/records=%d", records), func(b *testing.B) {
			s, all := ctlBenchSnooper(false)
			pkts := ctlBenchReports(records, ctlBenchGroupsPerHost, func(int) snoop.RecordType { return snoop.ModeIsExclude })
			r := &ctlBenchRun{s: s, all: all, pkts: pkts, now: t0}
			for range pkts { // every group joined once
				r.next(b)
			}
			if n := s.Groups().Len(); n != ctlBenchHosts*ctlBenchGroupsPerHost {
				b.Fatalf("%d groups after the first round, want %d", n, ctlBenchHosts*ctlBenchGroupsPerHost)
			}
			ctlBenchLoop(b, r)
			if n := s.Groups().Len(); n != ctlBenchHosts*ctlBenchGroupsPerHost {
				b.Fatalf("%d groups after the run, want %d", n, ctlBenchHosts*ctlBenchGroupsPerHost)
			}
		})
		b.Run(fmt.Sprintf("join-leave/records=%d", records), func(b *testing.B) {
			s, all := ctlBenchSnooper(true)
			pkts := ctlBenchJoinLeave(records)
			r := &ctlBenchRun{s: s, all: all, pkts: pkts, now: t0}
			peak := 0
			for range pkts {
				r.next(b)
				peak = max(peak, s.Groups().Len())
			}
			if n := s.Groups().Len(); n != 0 || peak != ctlBenchHosts*ctlBenchGroupsPerHost {
				b.Fatalf("after a round of joins and leaves: %d groups (peak %d), want 0 (peak %d)", n, peak, ctlBenchHosts*ctlBenchGroupsPerHost)
			}
			ctlBenchLoop(b, r)
		})
		b.Run(fmt.Sprintf("join-leave-querier/records=%d", records), func(b *testing.B) {
			s, all := ctlBenchSnooper(false)
			pkts := ctlBenchJoinLeave(records)
			r := &ctlBenchRun{s: s, all: all, pkts: pkts, now: t0, tick: true, nextTick: t0}
			for range 2 * len(pkts) { // into the steady state of joins, leaves and queries
				r.next(b)
			}
			if r.queries == 0 || s.Groups().Len() == 0 {
				b.Fatalf("after two rounds: %d group-specific queries, %d groups; want both above 0", r.queries, s.Groups().Len())
			}
			ctlBenchLoop(b, r)
		})
	}
}

func ctlBenchLoop(b *testing.B, r *ctlBenchRun) {
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r.next(b)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
}

// ctlBenchJoinLeave is the join-leave stream: each host's records join
// its 512 groups in turn (CHANGE_TO_EXCLUDE {}), then leave them
// (CHANGE_TO_INCLUDE {}), and so on. The stream is as many reports as it
// takes to end where it started, with every group left.
func ctlBenchJoinLeave(records int) []ctlBenchPacket {
	gcd := func(a, b int) int {
		for b != 0 {
			a, b = b, a%b
		}
		return a
	}
	perHost := 2 * ctlBenchGroupsPerHost / gcd(records, 2*ctlBenchGroupsPerHost)
	return ctlBenchReports(records, perHost, func(n int) snoop.RecordType {
		if n/ctlBenchGroupsPerHost%2 == 0 {
			return snoop.ChangeToExclude
		}
		return snoop.ChangeToInclude
	})
}

// BenchmarkSnooperTick measures the control plane's timer work after a
// report. refresh: a report that only restarts timers, then Snooper.Tick.
// tick: Membership.Tick with no timer due, which looks at the group
// table's due-time index and nothing else. walk: a walk of every
// membership under the group table's lock (Snooper.Revoke keeping all),
// what every timer tick cost before the index and what a policy reload
// still costs. The groups are (*,G) joins, spread over 8 ports.
func BenchmarkSnooperTick(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("groups=%d", n), func(b *testing.B) {
			s, all := ctlBenchSnooper(false)
			now := t0
			types := make([]snoop.RecordType, 64)
			for i := range types {
				types[i] = snoop.ModeIsExclude
			}
			for p := range ctlBenchHosts {
				var groups []netip.Addr
				for i := p; i < n; i += ctlBenchHosts {
					groups = append(groups, netip.AddrFrom4([4]byte{239, byte(i >> 16), byte(i >> 8), byte(i)}))
					if len(groups) == len(types) || i+ctlBenchHosts >= n {
						s.Control(0, fdb.PortID(p), 0x0800, ctlBenchReport(p, groups, types[:len(groups)]), all, now)
						groups = groups[:0]
					}
				}
			}
			if got := s.Groups().Len(); got != n {
				b.Fatalf("%d groups joined, want %d", got, n)
			}
			refresh := ctlBenchReport(0, []netip.Addr{netip.AddrFrom4([4]byte{239, 0, 0, 0})}, types[:1])
			s.Tick(now)
			b.Run("refresh", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					s.Control(0, 0, 0x0800, refresh, all, now)
					s.Tick(now)
				}
			})
			b.Run("tick", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					s.Membership().Tick(now)
				}
			})
			keep := func(fdb.PortID, netip.Addr, netip.Addr) bool { return true }
			b.Run("walk", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					s.Revoke(keep)
				}
			})
			if got := s.Groups().Len(); got != n {
				b.Fatalf("%d groups after the run, want %d: timers ran out", got, n)
			}
		})
	}
}

// TestDataPortsUnregisteredAllocatesNothing: the per-frame lookup of a
// group nobody joined, which reads the VLAN's and family's start-up state,
// allocates nothing, flooding or constrained, IGMP or MLD.
func TestDataPortsUnregisteredAllocatesNothing(t *testing.T) {
	s, all := ctlBenchSnooper(false)
	g4, g6 := netip.MustParseAddr("239.9.9.9"), netip.MustParseAddr("ff05::9:9")
	src := netip.MustParseAddr("198.18.0.9")
	check := func(when string) {
		t.Helper()
		for _, g := range []netip.Addr{g4, g6} {
			if n := testing.AllocsPerRun(100, func() { s.DataPorts(0, g, src, all) }); n != 0 {
				t.Errorf("%s: DataPorts(%v) allocated %.1f times, want 0", when, g, n)
			}
		}
	}
	check("learning")
	s.Tick(t0)
	s.Tick(t0.Add(time.Minute))
	if s.LearningAny() {
		t.Fatal("still learning a minute after the start")
	}
	check("constrained")
	if n := testing.AllocsPerRun(100, func() { s.Tick(t0.Add(time.Minute)) }); n != 0 {
		t.Errorf("an idle Tick allocated %.1f times, want 0", n)
	}
}

// BenchmarkDataPortsUnregistered is the per-frame cost of data to a group
// nobody joined, once the start-up window is over.
func BenchmarkDataPortsUnregistered(b *testing.B) {
	s, all := ctlBenchSnooper(false)
	s.Tick(t0)
	s.Tick(t0.Add(time.Minute))
	g := netip.MustParseAddr("239.9.9.9")
	src := netip.MustParseAddr("198.18.0.9")
	b.ReportAllocs()
	for b.Loop() {
		s.DataPorts(0, g, src, all)
	}
}
