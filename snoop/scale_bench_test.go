package snoop_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/snoop"
)

// The snooping control plane at scale: what one control tick and one
// group-specific query cost with 100 000 groups in the table. BENCHMARKS.md
// ("Snooping control plane at scale") has the figures and the command.

const (
	// scaleGroups is the size of the table: one (VLAN 0, group) per
	// membership, group i on port i%ctlBenchHosts.
	scaleGroups = 100000
	// scaleBatches is how many control ticks one group membership interval
	// lasts (scaleTimers: 10 s, ticks of 100 ms); the source timers of
	// group i come due at tick i%scaleBatches, 1% of the memberships at
	// every tick.
	scaleBatches = 100
	scaleTick    = 100 * time.Millisecond
)

// scaleTimers make the group membership interval 10 s (2 x 4 s + 2 s), so
// that 100 000 memberships whose timers are spread evenly over it give 1000
// due per 100 ms tick. With the default 260 s, 1% per tick would need a
// table of 2.6 million memberships.
var scaleTimers = snoop.Timers{Robustness: 2, QueryInterval: 4 * time.Second, QueryResponseInterval: 2 * time.Second}

// scaleSource is the one source of the x-to-y memberships.
var scaleSource = netip.MustParseAddr("10.0.0.1")

func scaleGroup(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{239, byte(i >> 16), byte(i >> 8), byte(i)})
}

// scaleReports returns, for each of n classes, the IGMPv3 reports (IP
// packets, at most 64 records each, one host per port) that carry a record
// of type typ with sources srcs for every group i of class i%n.
func scaleReports(n int, typ snoop.RecordType, srcs ...netip.Addr) [][]ctlBenchPacket {
	out := make([][]ctlBenchPacket, n)
	for k := range n {
		var byPort [ctlBenchHosts][]netip.Addr
		for i := k; i < scaleGroups; i += n {
			byPort[i%ctlBenchHosts] = append(byPort[i%ctlBenchHosts], scaleGroup(i))
		}
		for p, groups := range byPort {
			for len(groups) > 0 {
				c := min(len(groups), 64)
				out[k] = append(out[k], ctlBenchPacket{port: fdb.PortID(p), ip: scaleReport(p, groups[:c], typ, srcs)})
				groups = groups[c:]
			}
		}
	}
	return out
}

// scaleReport is one IGMPv3 report from host p with one record of type typ
// and sources srcs per group.
func scaleReport(p int, groups []netip.Addr, typ snoop.RecordType, srcs []netip.Addr) []byte {
	igmp := make([]byte, 8, 8+len(groups)*(8+4*len(srcs)))
	igmp[0] = 0x22
	igmp[6], igmp[7] = byte(len(groups)>>8), byte(len(groups))
	for _, g := range groups {
		a := g.As4()
		igmp = append(igmp, byte(typ), 0, byte(len(srcs)>>8), byte(len(srcs)), a[0], a[1], a[2], a[3])
		for _, s := range srcs {
			b := s.As4()
			igmp = append(igmp, b[:]...)
		}
	}
	return wireIP4{src: fmt.Sprintf("198.18.0.%d", p+1), dst: "224.0.0.22", opts: wireRA4, upper: igmp}.bytes()
}

// scaleSnooper returns a snooper (querier off, scaleTimers) with the 8 host
// ports and a static router port, and the set of all ports.
func scaleSnooper(b *testing.B) (*snoop.Snooper, fdb.PortSet) {
	var all, routers fdb.PortSet
	for p := range ctlBenchHosts + 1 {
		all.Add(fdb.PortID(p))
	}
	routers.Add(ctlBenchHosts)
	s := snoop.New(snoop.Config{
		StaticRouterPorts: routers,
		Membership:        snoop.MembershipConfig{Timers: scaleTimers},
		// The switch's own general queries would add a slice of queries to
		// one tick in 40 (every query interval); they are not timer expiry.
		Querier: snoop.QuerierConfig{Disabled: true},
	})
	return s, all
}

func scaleSend(b *testing.B, s *snoop.Snooper, all fdb.PortSet, pkts []ctlBenchPacket, now time.Time) {
	for _, p := range pkts {
		if v := s.Control(0, p.port, 0x0800, p.ip, all, now); v.Drop != 0 {
			b.Fatalf("report dropped: %s", v.Drop)
		}
	}
}

// BenchmarkSnooperTickScale measures one control tick (Snooper.Tick) with
// 100 000 memberships, (*,G) joins of one host per group over 8 ports, in a
// steady state: every host answers the general queries of every query
// interval (4 s, 40 ticks; group i in the query interval's tick i%40) and
// its report restarts the group timer at the group membership interval
// (10 s, 100 ticks). Only the tick is timed: the reports that keep the state
// steady run with the timer stopped, so allocs/op are the tick's own. Ticks
// are 100 ms apart.
//
//   - refreshed: nothing runs out. A membership's earliest timer comes up
//     one group membership interval after the report the tick last saw it
//     with; the reports since have pushed it later, so the tick files it
//     again. With reports every 40 ticks that is every 80 ticks: 1250
//     memberships (1.25%) at every tick, and no forwarding changes.
//   - x-to-y: the memberships are EXCLUDE ({S}, {}), the reports
//     MODE_IS_EXCLUDE ({S}); S's source timer runs out one group membership
//     interval after an ALLOW ({S}) report, sent for group i at tick i%100.
//     So at every tick 1000 memberships (1%) move S from X to Y (RFC 3376
//     s6.3), which changes what their groups forward: the tick publishes
//     1000 new forwarding views. After the tick, the batch's ALLOW brings S
//     back into X. The group timers are filed again as in refreshed.
func BenchmarkSnooperTickScale(b *testing.B) {
	const (
		classes = 80 // group i's timers come up at tick i%80 (refreshed)
		period  = 40 // ticks between two reports of a host
	)
	run := func(b *testing.B, refresh, allow [][]ctlBenchPacket) {
		s, all := scaleSnooper(b)
		base := t0.Add(time.Hour)
		at := func(j int) time.Time { return base.Add(time.Duration(j) * scaleTick) }
		report := func(j int) {
			// Group class c is joined at tick c-120 and reported every 40
			// ticks from then on, 1 ms before the tick: its timer comes
			// up at c-20, after the report of c-40, and so at c+60+80m.
			for c := range classes {
				if c-120 <= j && (j-c)%period == 0 {
					scaleSend(b, s, all, refresh[c], at(j).Add(-time.Millisecond))
				}
			}
		}
		afterTick := func(j int) {
			if allow == nil {
				return
			}
			k := ((j % scaleBatches) + scaleBatches) % scaleBatches
			if ports, _ := s.Groups().Lookup(0, scaleGroup(k), scaleSource); j >= 0 && !ports.IsEmpty() {
				b.Fatalf("tick %d: S still forwarded to %v after its timer ran out", j, ports.Ports())
			}
			scaleSend(b, s, all, allow[k], at(j))
		}
		for j := -120; j < 0; j++ {
			report(j)
			s.Tick(at(j))
			afterTick(j)
		}
		scaleWantGroups(b, s)
		b.ReportAllocs()
		b.ResetTimer()
		for j := range b.N {
			b.StopTimer()
			report(j)
			b.StartTimer()
			s.Tick(at(j))
			b.StopTimer()
			afterTick(j)
			b.StartTimer()
		}
		b.StopTimer()
		scaleWantGroups(b, s)
	}
	b.Run("groups=100000/refreshed", func(b *testing.B) {
		run(b, scaleReports(classes, snoop.ModeIsExclude), nil)
	})
	b.Run("groups=100000/x-to-y", func(b *testing.B) {
		run(b, scaleReports(classes, snoop.ModeIsExclude, scaleSource), scaleReports(scaleBatches, snoop.AllowNewSources, scaleSource))
	})
}

func scaleWantGroups(b *testing.B, s *snoop.Snooper) {
	b.Helper()
	if n := s.Groups().Len(); n != scaleGroups {
		b.Fatalf("%d groups in the table, want %d", n, scaleGroups)
	}
}

// BenchmarkGroupSpecificQuery measures Membership.QuerySeen for a
// group-specific query from the elected querier with 100 000 groups in the
// table, (*,G) joins with default timers.
//
//   - lowers: every query lowers its group's timer (RFC 3376 s6.6.1), the
//     usual case. The queries go to each group in turn; so that every pass
//     over the table lowers the timers again, each pass announces a Max
//     Response Time 1 ms shorter than the last.
//   - unchanged: the same query again within the last member query time:
//     the timer is already low and nothing changes.
func BenchmarkGroupSpecificQuery(b *testing.B) {
	setup := func(b *testing.B) *snoop.Snooper {
		s, all := ctlBenchSnooper(false)
		for _, pkts := range scaleReports(1, snoop.ModeIsExclude) {
			scaleSend(b, s, all, pkts, t0)
		}
		scaleWantGroups(b, s)
		return s
	}
	now := t0.Add(time.Second)
	b.Run("groups=100000/lowers", func(b *testing.B) {
		s := setup(b)
		m := s.Membership()
		q := snoop.Query{Version: 3}
		b.ReportAllocs()
		b.ResetTimer()
		for j := range b.N {
			q.Group = scaleGroup(j % scaleGroups)
			q.MaxResp = 10*time.Second - time.Duration(j/scaleGroups)*time.Millisecond
			m.QuerySeen(0, ctlBenchHosts, &q, now)
		}
		b.StopTimer()
		scaleWantGroups(b, s)
		if p, _ := s.Groups().Get(0, scaleGroup(0), 0); p.GroupTimer.After(now.Add(20 * time.Second)) {
			b.Fatalf("group timer at now+%v after the queries, want at most 20 s", p.GroupTimer.Sub(now))
		}
	})
	b.Run("groups=100000/unchanged", func(b *testing.B) {
		s := setup(b)
		m := s.Membership()
		q := snoop.Query{Version: 3, Group: scaleGroup(12345), MaxResp: time.Second}
		m.QuerySeen(0, ctlBenchHosts, &q, now)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			m.QuerySeen(0, ctlBenchHosts, &q, now)
		}
	})
}
