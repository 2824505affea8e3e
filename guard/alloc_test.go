package guard_test

import (
	"testing"

	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/snoop"
)

func hotGuard(t testing.TB) *guard.Guard {
	p := guard.HostPortDefaults()
	p.RateLimit, p.RateBurst = 1e6, 1e6
	p.Senders = []guard.SenderRule{{Permit: false, Sources: pf("10.66.0.0/16")}, {Permit: true}}
	p.MaxTTL = 32
	p.ScopeBoundary = true
	p.ACL = []guard.Rule{{Permit: false, Groups: pf("239.0.0.0/8")}, {Permit: false, Groups: pf("225.0.0.0/8"), Sources: pf("10.66.0.0/16")}}
	return newGuard(t, p, p)
}

func TestHotPathsAllocateNothing(t *testing.T) {
	g := hotGuard(t)
	grp, src, scoped := a("225.1.1.1"), a("10.0.0.1"), a("239.1.1.1")
	m := ok(snoop.MsgIGMPv3Report)
	recs := []snoop.Record{
		rec(snoop.ChangeToExclude, "239.1.1.1"),
		rec(snoop.AllowNewSources, "225.1.1.1", "10.66.0.1", "10.1.0.1"),
	}
	for name, f := range map[string]func(){
		"Admit":         func() { g.Admit(1, t0) },
		"Data":          func() { g.Data(1, grp, src, 1) },
		"DataTTL":       func() { g.Data(1, grp, src, 64) },
		"Egress":        func() { g.Egress(1, scoped, src) },
		"ControlPacket": func() { g.ControlPacket(1, &m) },
		"FilterReport": func() {
			m.Records = append(m.Records[:0], recs...)
			g.FilterReport(1, &m)
		},
		"AllowNewEntry": func() { g.AllowNewEntry(1, 10, 10, 10, 0) },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", name, n)
		}
	}
}

func BenchmarkAdmit(b *testing.B) {
	g := hotGuard(b)
	b.ReportAllocs()
	for b.Loop() {
		g.Admit(1, t0)
	}
}

func BenchmarkData(b *testing.B) {
	g := hotGuard(b)
	grp, src := a("225.1.1.1"), a("10.0.0.1")
	b.ReportAllocs()
	for b.Loop() {
		g.Data(1, grp, src, 1)
	}
}

func BenchmarkEgress(b *testing.B) {
	g := hotGuard(b)
	grp, src := a("239.1.1.1"), a("10.0.0.1")
	b.ReportAllocs()
	for b.Loop() {
		g.Egress(1, grp, src)
	}
}

// Ports flooding their own buckets in parallel share nothing.
func BenchmarkAdmitParallel(b *testing.B) {
	g := hotGuard(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			g.Admit(1, t0)
		}
	})
}
