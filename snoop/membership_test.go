package snoop_test

import (
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/snoop"
)

// memT0 ("t0" in messages) is the fake clock's start; tests pass
// memT0.Add(...) as now.
var memT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	memVLAN = 10
	memGMI  = 260 * time.Second // RV*QI+QRI with the defaults
	memLMQT = 2 * time.Second   // LMQC*LMQI with the defaults
)

// memFamily holds what differs between IGMP and MLD in a test.
type memFamily struct {
	name    string
	family  int
	group   netip.Addr
	v3      snoop.MessageType // IGMPv3 / MLDv2 report
	older   snoop.MessageType // IGMPv2 / MLDv1 report
	leave   snoop.MessageType // IGMPv2 leave / MLDv1 done
	version int               // of the queries the switch sends
	host    netip.Addr
}

var (
	memIGMP = memFamily{
		name: "igmp", family: 4, group: netip.MustParseAddr("239.1.1.1"),
		v3: snoop.MsgIGMPv3Report, older: snoop.MsgIGMPv2Report, leave: snoop.MsgIGMPv2Leave,
		version: 3, host: netip.MustParseAddr("192.0.2.100"),
	}
	memMLD = memFamily{
		name: "mld", family: 6, group: netip.MustParseAddr("ff05::1:3"),
		v3: snoop.MsgMLDv2Report, older: snoop.MsgMLDv1Report, leave: snoop.MsgMLDv1Done,
		version: 2, host: netip.MustParseAddr("fe80::100"),
	}
	memFamilies = []memFamily{memIGMP, memMLD}
)

// src returns source number n: 10.0.0.n or 2001:db8::n.
func (f memFamily) src(n int) netip.Addr {
	if f.family == 4 {
		return netip.AddrFrom4([4]byte{10, 0, 0, byte(n)})
	}
	a := netip.MustParseAddr("2001:db8::").As16()
	a[15] = byte(n)
	return netip.AddrFrom16(a)
}

func (f memFamily) srcs(ns ...int) []netip.Addr {
	var out []netip.Addr
	for _, n := range ns {
		out = append(out, f.src(n))
	}
	return out
}

func (f memFamily) rec(typ snoop.RecordType, ns ...int) snoop.Record {
	return snoop.Record{Type: typ, Group: f.group, Sources: f.srcs(ns...)}
}

// report is an IGMPv3/MLDv2 report with recs.
func (f memFamily) report(recs ...snoop.Record) *snoop.Message {
	return &snoop.Message{Type: f.v3, Family: f.family, Src: f.host, Records: recs}
}

// olderReport is an IGMPv2 or MLDv1 report for f.group.
func (f memFamily) olderReport() *snoop.Message {
	return &snoop.Message{Type: f.older, Family: f.family, Src: f.host, Group: f.group}
}

// leaveMsg is an IGMPv2 leave or MLDv1 done for f.group.
func (f memFamily) leaveMsg() *snoop.Message {
	return &snoop.Message{Type: f.leave, Family: f.family, Src: f.host, Group: f.group}
}

// query returns the query action the switch owes port: Q(G) without
// sources, Q(G,S) with.
func (f memFamily) query(port fdb.PortID, ns ...int) snoop.QueryAction {
	var srcs []netip.Addr
	if len(ns) > 0 {
		srcs = f.srcs(ns...)
	}
	return snoop.QueryAction{
		Port: port, VLAN: memVLAN, Family: f.family,
		Query: snoop.Query{
			Version: f.version, Group: f.group, Sources: srcs,
			MaxResp: time.Second, QRV: 2, QQI: 125 * time.Second,
		},
	}
}

// groupQuery is a group-specific (or group-and-source-specific) query from
// the elected querier, as the parser would give it.
func (f memFamily) groupQuery(maxResp time.Duration, ns ...int) *snoop.Query {
	return &snoop.Query{Version: f.version, Group: f.group, Sources: f.srcs(ns...), MaxResp: maxResp, QRV: 2, QQI: 125 * time.Second}
}

// memState is a port's membership in test terms: sources by number, times as
// offsets from memT0 (0: the zero time).
type memState struct {
	Mode       fdb.FilterMode
	Requested  map[int]time.Duration
	Excluded   []int
	GroupTimer time.Duration
}

func (s memState) String() string {
	nums := slices.Sorted(maps.Keys(s.Requested))
	req := ""
	for _, n := range nums {
		req += fmt.Sprintf(" %d:%v", n, s.Requested[n])
	}
	return fmt.Sprintf("%v req{%s } exc%v gt %v", s.Mode, req, s.Excluded, s.GroupTimer)
}

func memAt(d time.Duration) time.Time {
	if d == 0 {
		return time.Time{}
	}
	return memT0.Add(d)
}

func memSince(t time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return t.Sub(memT0)
}

// memHarness is a Membership over a fresh table, with switchable querier and
// fast-leave answers.
type memHarness struct {
	t       *testing.T
	tab     *fdb.GroupTable
	m       *snoop.Membership
	querier bool
	fast    map[fdb.PortID]bool
}

func newMemHarness(t *testing.T, edit func(*snoop.MembershipConfig)) *memHarness {
	h := &memHarness{t: t, tab: fdb.NewGroupTable(), fast: map[fdb.PortID]bool{}}
	cfg := snoop.MembershipConfig{
		Querier:   func(v uint16, fam int) bool { return h.querier && v == memVLAN },
		FastLeave: func(p fdb.PortID) bool { return h.fast[p] },
	}
	if edit != nil {
		edit(&cfg)
	}
	h.m = snoop.NewMembership(h.tab, cfg)
	return h
}

// put writes s as port's membership of f.group.
func (h *memHarness) put(f memFamily, port fdb.PortID, s memState) {
	h.tab.Update(memVLAN, f.group, port, func(p *fdb.PortMembership) {
		p.Mode = s.Mode
		p.GroupTimer = memAt(s.GroupTimer)
		p.Requested = map[netip.Addr]time.Time{}
		for n, d := range s.Requested {
			p.Requested[f.src(n)] = memAt(d)
		}
		p.Excluded = map[netip.Addr]struct{}{}
		for _, n := range s.Excluded {
			p.Excluded[f.src(n)] = struct{}{}
		}
	})
}

// get reads port's membership of f.group; no membership reads as INCLUDE {}.
func (h *memHarness) get(f memFamily, port fdb.PortID) memState {
	p, ok := h.tab.Get(memVLAN, f.group, port)
	if !ok {
		return memState{}
	}
	var s memState
	s.Mode = p.Mode
	s.GroupTimer = memSince(p.GroupTimer)
	num := func(a netip.Addr) int {
		b := a.As16()
		return int(b[15])
	}
	for a, exp := range p.Requested {
		if s.Requested == nil {
			s.Requested = map[int]time.Duration{}
		}
		s.Requested[num(a)] = memSince(exp)
	}
	for a := range p.Excluded {
		s.Excluded = append(s.Excluded, num(a))
	}
	slices.Sort(s.Excluded)
	return s
}

func (h *memHarness) has(f memFamily, port fdb.PortID) bool {
	_, ok := h.tab.Get(memVLAN, f.group, port)
	return ok
}

func (h *memHarness) wantState(f memFamily, port fdb.PortID, want memState) {
	h.t.Helper()
	if len(want.Requested) == 0 {
		want.Requested = nil
	}
	if len(want.Excluded) == 0 {
		want.Excluded = nil
	}
	if got := h.get(f, port); !reflect.DeepEqual(got, want) {
		h.t.Errorf("port %d: state %v, want %v", port, got, want)
	}
}

func memWantActions(t *testing.T, got, want []snoop.QueryAction) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("query actions:\n got  %+v\n want %+v", got, want)
	}
}

const (
	memInc = fdb.ModeInclude
	memExc = fdb.ModeExclude
)

// TestStateTables walks every row of RFC 3376 s6.4.1 (current-state
// records) and s6.4.2 (state-change records), repeated for MLDv2 by RFC 3810
// s7.4.1/7.4.2, in three setups: the switch is not the querier (no queries,
// no timer lowered), it is (it returns "Send Q(...)" for the port and lowers
// that port's timers to LMQT, RFC 3376 s6.6.3), and the port has fast leave
// (what would be queried runs out at once). A second port holding the same
// state is never touched.
//
// INCLUDE (A): A = {1 (100s), 2 (150s), 3 (1s)}, record B = {2, 3, 4}:
// A*B = {2,3}, A-B = {1}, B-A = {4}.
// EXCLUDE (X,Y): X = {1 (100s), 2 (1s)}, Y = {3, 4}, group timer 200s,
// record A = {2, 3, 5}: X-A = {1}, Y*A = {3}, Y-A = {4}, A-X-Y = {5},
// A-Y = {2, 5}. Sources 3 (INCLUDE) and 2 (EXCLUDE) have timers under LMQT
// already: a query leaves them as they are.
func TestStateTables(t *testing.T) {
	in := memState{Mode: memInc, Requested: map[int]time.Duration{1: 100 * time.Second, 2: 150 * time.Second, 3: time.Second}}
	ex := memState{Mode: memExc, Requested: map[int]time.Duration{1: 100 * time.Second, 2: time.Second}, Excluded: []int{3, 4}, GroupTimer: 200 * time.Second}
	b := []int{2, 3, 4}
	a := []int{2, 3, 5}
	s := time.Second
	type req = map[int]time.Duration

	type row struct {
		name string
		from memState
		typ  snoop.RecordType
		srcs []int
		// want is the state when the switch is not the querier.
		want memState
		// querier is the state when it is (nil: as want), queries what it
		// sends: a nil element is Q(G), others Q(G,S).
		querier *memState
		queries [][]int
		// fast is the state with fast leave (nil: as want).
		fast *memState
	}
	rows := []row{
		// RFC 3376 s6.4.1
		{
			name: "INCLUDE(A) IS_IN(B) -> INCLUDE(A+B); (B)=GMI",
			from: in, typ: snoop.ModeIsInclude, srcs: b,
			want: memState{Mode: memInc, Requested: req{1: 100 * s, 2: memGMI, 3: memGMI, 4: memGMI}},
		},
		{
			name: "INCLUDE(A) IS_EX(B) -> EXCLUDE(A*B,B-A); (B-A)=0; Delete(A-B); GT=GMI",
			from: in, typ: snoop.ModeIsExclude, srcs: b,
			want: memState{Mode: memExc, Requested: req{2: 150 * s, 3: s}, Excluded: []int{4}, GroupTimer: memGMI},
		},
		{
			name: "EXCLUDE(X,Y) IS_IN(A) -> EXCLUDE(X+A,Y-A); (A)=GMI",
			from: ex, typ: snoop.ModeIsInclude, srcs: a,
			want: memState{Mode: memExc, Requested: req{1: 100 * s, 2: memGMI, 3: memGMI, 5: memGMI}, Excluded: []int{4}, GroupTimer: 200 * s},
		},
		{
			name: "EXCLUDE(X,Y) IS_EX(A) -> EXCLUDE(A-Y,Y*A); (A-X-Y)=GMI; Delete(X-A); Delete(Y-A); GT=GMI",
			from: ex, typ: snoop.ModeIsExclude, srcs: a,
			want: memState{Mode: memExc, Requested: req{2: s, 5: memGMI}, Excluded: []int{3}, GroupTimer: memGMI},
		},
		// RFC 3376 s6.4.2
		{
			name: "INCLUDE(A) ALLOW(B) -> INCLUDE(A+B); (B)=GMI",
			from: in, typ: snoop.AllowNewSources, srcs: b,
			want: memState{Mode: memInc, Requested: req{1: 100 * s, 2: memGMI, 3: memGMI, 4: memGMI}},
		},
		{
			name: "INCLUDE(A) BLOCK(B) -> INCLUDE(A); Send Q(G,A*B)",
			from: in, typ: snoop.BlockOldSources, srcs: b,
			want:    in,
			querier: &memState{Mode: memInc, Requested: req{1: 100 * s, 2: memLMQT, 3: s}},
			queries: [][]int{{2, 3}},
			fast:    &memState{Mode: memInc, Requested: req{1: 100 * s}},
		},
		{
			name: "INCLUDE(A) TO_EX(B) -> EXCLUDE(A*B,B-A); (B-A)=0; Delete(A-B); Send Q(G,A*B); GT=GMI",
			from: in, typ: snoop.ChangeToExclude, srcs: b,
			want:    memState{Mode: memExc, Requested: req{2: 150 * s, 3: s}, Excluded: []int{4}, GroupTimer: memGMI},
			querier: &memState{Mode: memExc, Requested: req{2: memLMQT, 3: s}, Excluded: []int{4}, GroupTimer: memGMI},
			queries: [][]int{{2, 3}},
			fast:    &memState{Mode: memExc, Excluded: []int{2, 3, 4}, GroupTimer: memGMI},
		},
		{
			name: "INCLUDE(A) TO_IN(B) -> INCLUDE(A+B); (B)=GMI; Send Q(G,A-B)",
			from: in, typ: snoop.ChangeToInclude, srcs: b,
			want:    memState{Mode: memInc, Requested: req{1: 100 * s, 2: memGMI, 3: memGMI, 4: memGMI}},
			querier: &memState{Mode: memInc, Requested: req{1: memLMQT, 2: memGMI, 3: memGMI, 4: memGMI}},
			queries: [][]int{{1}},
			fast:    &memState{Mode: memInc, Requested: req{2: memGMI, 3: memGMI, 4: memGMI}},
		},
		{
			name: "INCLUDE(A) TO_IN({}) (a leave) -> INCLUDE(A); Send Q(G,A)",
			from: in, typ: snoop.ChangeToInclude,
			want:    in,
			querier: &memState{Mode: memInc, Requested: req{1: memLMQT, 2: memLMQT, 3: s}},
			queries: [][]int{{1, 2, 3}},
			fast:    &memState{},
		},
		{
			name: "EXCLUDE(X,Y) ALLOW(A) -> EXCLUDE(X+A,Y-A); (A)=GMI",
			from: ex, typ: snoop.AllowNewSources, srcs: a,
			want: memState{Mode: memExc, Requested: req{1: 100 * s, 2: memGMI, 3: memGMI, 5: memGMI}, Excluded: []int{4}, GroupTimer: 200 * s},
		},
		{
			name: "EXCLUDE(X,Y) BLOCK(A) -> EXCLUDE(X+(A-Y),Y); (A-X-Y)=Group Timer; Send Q(G,A-Y)",
			from: ex, typ: snoop.BlockOldSources, srcs: a,
			want:    memState{Mode: memExc, Requested: req{1: 100 * s, 2: s, 5: 200 * s}, Excluded: []int{3, 4}, GroupTimer: 200 * s},
			querier: &memState{Mode: memExc, Requested: req{1: 100 * s, 2: s, 5: memLMQT}, Excluded: []int{3, 4}, GroupTimer: 200 * s},
			queries: [][]int{{2, 5}},
			fast:    &memState{Mode: memExc, Requested: req{1: 100 * s}, Excluded: []int{2, 3, 4, 5}, GroupTimer: 200 * s},
		},
		{
			name: "EXCLUDE(X,Y) TO_EX(A) -> EXCLUDE(A-Y,Y*A); (A-X-Y)=Group Timer; Delete(X-A); Delete(Y-A); Send Q(G,A-Y); GT=GMI",
			from: ex, typ: snoop.ChangeToExclude, srcs: a,
			want:    memState{Mode: memExc, Requested: req{2: s, 5: 200 * s}, Excluded: []int{3}, GroupTimer: memGMI},
			querier: &memState{Mode: memExc, Requested: req{2: s, 5: memLMQT}, Excluded: []int{3}, GroupTimer: memGMI},
			queries: [][]int{{2, 5}},
			fast:    &memState{Mode: memExc, Excluded: []int{2, 3, 5}, GroupTimer: memGMI},
		},
		{
			name: "EXCLUDE(X,Y) TO_IN(A) -> EXCLUDE(X+A,Y-A); (A)=GMI; Send Q(G,X-A); Send Q(G)",
			from: ex, typ: snoop.ChangeToInclude, srcs: a,
			want:    memState{Mode: memExc, Requested: req{1: 100 * s, 2: memGMI, 3: memGMI, 5: memGMI}, Excluded: []int{4}, GroupTimer: 200 * s},
			querier: &memState{Mode: memExc, Requested: req{1: memLMQT, 2: memGMI, 3: memGMI, 5: memGMI}, Excluded: []int{4}, GroupTimer: memLMQT},
			queries: [][]int{{1}, nil},
			// Q(G,X-A) runs source 1 out (to Y); Q(G) runs the group timer
			// out: RFC 3376 s6.5 keeps the sources with running timers.
			fast: &memState{Mode: memInc, Requested: req{2: memGMI, 3: memGMI, 5: memGMI}},
		},
		{
			name: "EXCLUDE(X,Y) TO_IN({}) (a leave) -> EXCLUDE(X,Y); Send Q(G,X); Send Q(G)",
			from: ex, typ: snoop.ChangeToInclude,
			want:    ex,
			querier: &memState{Mode: memExc, Requested: req{1: memLMQT, 2: s}, Excluded: []int{3, 4}, GroupTimer: memLMQT},
			queries: [][]int{{1, 2}, nil},
			fast:    &memState{},
		},
	}
	setups := []struct {
		name          string
		querier, fast bool
	}{
		{"non-querier", false, false},
		{"querier", true, false},
		{"fast-leave", false, true},
	}
	for _, f := range memFamilies {
		for _, r := range rows {
			for _, setup := range setups {
				t.Run(f.name+"/"+setup.name+"/"+r.name, func(t *testing.T) {
					h := newMemHarness(t, nil)
					h.querier = setup.querier
					h.fast[1] = setup.fast
					h.put(f, 1, r.from)
					h.put(f, 2, r.from)
					got := h.m.Report(memVLAN, 1, f.report(f.rec(r.typ, r.srcs...)), memT0)

					want, queries := r.want, [][]int(nil)
					switch {
					case setup.querier:
						if r.querier != nil {
							want = *r.querier
						}
						queries = r.queries
					case setup.fast:
						if r.fast != nil {
							want = *r.fast
						}
					}
					var wantQ []snoop.QueryAction
					for _, q := range queries {
						wantQ = append(wantQ, f.query(1, q...))
					}
					memWantActions(t, got, wantQ)
					h.wantState(f, 1, want)
					h.wantState(f, 2, r.from)
				})
			}
		}
	}
}

// An IGMPv2 report (MLDv1 report) puts the port's group in IGMPv2 (MLDv1)
// mode for the Older Host Present Interval: BLOCK records are ignored and
// TO_EX(S) is TO_EX({}) (RFC 3376 s7.3.2, RFC 3810 s8.3.2). When the timer
// runs out, IGMPv3/MLDv2 rules apply again.
func TestOlderHostV2Mode(t *testing.T) {
	for _, f := range memFamilies {
		t.Run(f.name, func(t *testing.T) {
			h := newMemHarness(t, nil)
			h.querier = true
			s := time.Second

			memWantActions(t, h.m.Report(memVLAN, 1, f.olderReport(), memT0), nil)
			h.wantState(f, 1, memState{Mode: memExc, GroupTimer: memGMI})
			p, _ := h.tab.Get(memVLAN, f.group, 1)
			older, other := p.V2HostTimer, p.V1HostTimer
			if f.family == 6 {
				// MLD keeps its one older-host timer, MLDv1's, in V1HostTimer.
				older, other = p.V1HostTimer, p.V2HostTimer
			}
			if !older.Equal(memT0.Add(memGMI)) || !other.IsZero() {
				t.Fatalf("older-host timers V1 %v V2 %v, want the %s one at t0+%v", memSince(p.V1HostTimer), memSince(p.V2HostTimer), f.name, memGMI)
			}

			// BLOCK is ignored: no source enters X, nothing is queried.
			memWantActions(t, h.m.Report(memVLAN, 1, f.report(f.rec(snoop.BlockOldSources, 1)), memT0.Add(10*s)), nil)
			h.wantState(f, 1, memState{Mode: memExc, GroupTimer: memGMI})

			// TO_EX(S) is TO_EX({}): S does not enter Y, so S still flows.
			memWantActions(t, h.m.Report(memVLAN, 1, f.report(f.rec(snoop.ChangeToExclude, 1)), memT0.Add(20*s)), nil)
			h.wantState(f, 1, memState{Mode: memExc, GroupTimer: 20*s + memGMI})

			// IS_EX keeps its sources in this mode.
			h.m.Report(memVLAN, 1, f.report(f.rec(snoop.ModeIsExclude)), memT0.Add(200*s))
			h.wantState(f, 1, memState{Mode: memExc, GroupTimer: 200*s + memGMI})

			// The older host timer runs out at t0+260s.
			if next := h.m.Tick(memT0.Add(259 * s)); !next.Equal(memT0.Add(memGMI)) {
				t.Errorf("Tick returned t0+%v, want the older-host timer t0+%v", memSince(next), memGMI)
			}
			h.m.Tick(memT0.Add(memGMI))
			p, _ = h.tab.Get(memVLAN, f.group, 1)
			if !p.V1HostTimer.IsZero() || !p.V2HostTimer.IsZero() {
				t.Fatalf("older-host timers V1 %v V2 %v after expiry, want zero", memSince(p.V1HostTimer), memSince(p.V2HostTimer))
			}

			// Back in v3 mode, BLOCK counts: EXCLUDE(X+(A-Y),Y) with
			// (A-X-Y)=Group Timer, and the querier asks Q(G,A-Y).
			got := h.m.Report(memVLAN, 1, f.report(f.rec(snoop.BlockOldSources, 1)), memT0.Add(270*s))
			memWantActions(t, got, []snoop.QueryAction{f.query(1, 1)})
			h.wantState(f, 1, memState{Mode: memExc, Requested: map[int]time.Duration{1: 270*s + memLMQT}, GroupTimer: 200*s + memGMI})
		})
	}
}

// An IGMPv1 report puts the group in IGMPv1 mode (RFC 3376 s7.3.2): on top
// of the IGMPv2 rules, IGMPv2 leaves and IGMPv3 TO_IN records are ignored,
// and (our choice) a group-specific query does not lower the port's timer.
// When the IGMPv1 timer runs out with the IGMPv2 one running, IGMPv2 mode
// honours the leave.
func TestOlderHostV1Mode(t *testing.T) {
	f := memIGMP
	h := newMemHarness(t, nil)
	h.querier = true
	s := time.Second
	v1 := &snoop.Message{Type: snoop.MsgIGMPv1Report, Family: 4, Src: f.host, Group: f.group}

	h.m.Report(memVLAN, 1, v1, memT0)
	h.m.Report(memVLAN, 1, f.olderReport(), memT0.Add(100*s))
	p, _ := h.tab.Get(memVLAN, f.group, 1)
	if !p.V1HostTimer.Equal(memT0.Add(memGMI)) || !p.V2HostTimer.Equal(memT0.Add(100*s+memGMI)) {
		t.Fatalf("V1HostTimer t0+%v, V2HostTimer t0+%v; want t0+%v, t0+%v", memSince(p.V1HostTimer), memSince(p.V2HostTimer), memGMI, 100*s+memGMI)
	}
	want := memState{Mode: memExc, GroupTimer: 100*s + memGMI}
	h.wantState(f, 1, want)

	for i, msg := range []*snoop.Message{
		f.leaveMsg(),
		f.report(f.rec(snoop.ChangeToInclude)),
		f.report(f.rec(snoop.ChangeToInclude, 1)),
		f.report(f.rec(snoop.BlockOldSources, 1)),
	} {
		if got := h.m.Report(memVLAN, 1, msg, memT0.Add(110*s)); len(got) != 0 {
			t.Errorf("message %d in IGMPv1 mode: queries %+v, want none", i, got)
		}
		h.wantState(f, 1, want)
	}
	h.m.Report(memVLAN, 1, f.report(f.rec(snoop.ChangeToExclude, 1)), memT0.Add(120*s))
	want = memState{Mode: memExc, GroupTimer: 120*s + memGMI}
	h.wantState(f, 1, want)

	h.m.QuerySeen(memVLAN, 0, f.groupQuery(s), memT0.Add(130*s))
	h.wantState(f, 1, want)

	// Fast leave does not make an ignored leave count.
	h.fast[1] = true
	h.m.Report(memVLAN, 1, f.leaveMsg(), memT0.Add(140*s))
	h.wantState(f, 1, want)
	h.fast[1] = false

	h.m.Tick(memT0.Add(memGMI))
	p, _ = h.tab.Get(memVLAN, f.group, 1)
	if !p.V1HostTimer.IsZero() || p.V2HostTimer.IsZero() {
		t.Fatalf("after t0+%v: V1HostTimer %v, V2HostTimer %v; want only the IGMPv2 one running", memGMI, memSince(p.V1HostTimer), memSince(p.V2HostTimer))
	}
	got := h.m.Report(memVLAN, 1, f.leaveMsg(), memT0.Add(270*s))
	memWantActions(t, got, []snoop.QueryAction{f.query(1)})
	h.wantState(f, 1, memState{Mode: memExc, GroupTimer: 270*s + memLMQT})
	h.m.Tick(memT0.Add(270*s + memLMQT))
	if h.has(f, 1) {
		t.Errorf("membership still there LMQT after the leave")
	}
}

// The querier answers a leave with Q(G) for that port, lowers that port's
// group timer to LMQT and nothing else; the port is gone LMQT later.
func TestLeaveAsQuerier(t *testing.T) {
	for _, f := range memFamilies {
		t.Run(f.name, func(t *testing.T) {
			h := newMemHarness(t, nil)
			h.querier = true
			s := time.Second
			h.m.Report(memVLAN, 1, f.olderReport(), memT0)
			h.m.Report(memVLAN, 2, f.olderReport(), memT0)

			got := h.m.Report(memVLAN, 1, f.leaveMsg(), memT0.Add(10*s))
			memWantActions(t, got, []snoop.QueryAction{f.query(1)})
			h.wantState(f, 1, memState{Mode: memExc, GroupTimer: 10*s + memLMQT})
			h.wantState(f, 2, memState{Mode: memExc, GroupTimer: memGMI})

			// A second leave within LMQT queries again but never raises the
			// timer (RFC 3376 s6.6.3.1 lowers it).
			got = h.m.Report(memVLAN, 1, f.leaveMsg(), memT0.Add(11*s))
			memWantActions(t, got, []snoop.QueryAction{f.query(1)})
			h.wantState(f, 1, memState{Mode: memExc, GroupTimer: 10*s + memLMQT})

			if next := h.m.Tick(memT0.Add(11 * s)); !next.Equal(memT0.Add(10*s + memLMQT)) {
				t.Errorf("Tick returned t0+%v, want t0+%v", memSince(next), 10*s+memLMQT)
			}
			if !h.has(f, 1) {
				t.Fatalf("port 1 left before LMQT ran out")
			}
			if next := h.m.Tick(memT0.Add(10*s + memLMQT)); !next.Equal(memT0.Add(memGMI)) {
				t.Errorf("Tick returned t0+%v, want port 2's timers at t0+%v", memSince(next), memGMI)
			}
			if h.has(f, 1) {
				t.Errorf("port 1 still a member LMQT after its leave")
			}
			h.wantState(f, 2, memState{Mode: memExc, GroupTimer: memGMI})

			// A leave from a port without state queries nobody.
			memWantActions(t, h.m.Report(memVLAN, 3, f.leaveMsg(), memT0.Add(20*s)), nil)
			if h.has(f, 3) {
				t.Errorf("a leave created state on port 3")
			}
		})
	}
}

// When another device is the querier, a leave changes nothing; the
// querier's group-specific query lowers every port's timer to LMQC x its Max
// Resp Time; a member that answers refreshes its port, the silent port ages
// out.
func TestLeaveNotQuerier(t *testing.T) {
	for _, f := range memFamilies {
		t.Run(f.name, func(t *testing.T) {
			h := newMemHarness(t, nil)
			s := time.Second
			h.m.Report(memVLAN, 1, f.olderReport(), memT0)
			h.m.Report(memVLAN, 2, f.olderReport(), memT0)
			h.put(f, 3, memState{Mode: memInc, Requested: map[int]time.Duration{1: memGMI}})

			memWantActions(t, h.m.Report(memVLAN, 1, f.leaveMsg(), memT0.Add(10*s)), nil)
			h.wantState(f, 1, memState{Mode: memExc, GroupTimer: memGMI})

			// A query for another VLAN or group changes nothing here.
			h.m.QuerySeen(memVLAN+1, 0, f.groupQuery(s), memT0.Add(11*s))
			other := f.groupQuery(s)
			other.Group = f.src(9) // not even multicast
			h.m.QuerySeen(memVLAN, 0, other, memT0.Add(11*s))
			h.wantState(f, 1, memState{Mode: memExc, GroupTimer: memGMI})

			h.m.QuerySeen(memVLAN, 0, f.groupQuery(s), memT0.Add(11*s))
			h.wantState(f, 1, memState{Mode: memExc, GroupTimer: 11*s + 2*s})
			h.wantState(f, 2, memState{Mode: memExc, GroupTimer: 11*s + 2*s})
			// INCLUDE has no group timer; its sources are not queried.
			h.wantState(f, 3, memState{Mode: memInc, Requested: map[int]time.Duration{1: memGMI}})

			// Port 2's member answers.
			h.m.Report(memVLAN, 2, f.olderReport(), memT0.Add(12*s))
			h.wantState(f, 2, memState{Mode: memExc, GroupTimer: 12*s + memGMI})

			h.m.Tick(memT0.Add(13 * s))
			if h.has(f, 1) {
				t.Errorf("port 1 still a member after the querier's LMQT")
			}
			h.wantState(f, 2, memState{Mode: memExc, GroupTimer: 12*s + memGMI})

			// A larger Max Resp Time never raises a timer.
			h.m.QuerySeen(memVLAN, 0, f.groupQuery(1000*s), memT0.Add(14*s))
			h.wantState(f, 2, memState{Mode: memExc, GroupTimer: 12*s + memGMI})
			// The S flag suppresses the lowering (RFC 3376 s6.6.1).
			q := f.groupQuery(s)
			q.SFlag = true
			h.m.QuerySeen(memVLAN, 0, q, memT0.Add(15*s))
			h.wantState(f, 2, memState{Mode: memExc, GroupTimer: 12*s + memGMI})
		})
	}
}

// With fast leave the port's membership goes at once and nothing is
// queried, even by the querier; other ports keep theirs.
func TestFastLeave(t *testing.T) {
	for _, f := range memFamilies {
		t.Run(f.name, func(t *testing.T) {
			h := newMemHarness(t, nil)
			h.querier = true
			h.fast[1] = true
			h.m.Report(memVLAN, 1, f.olderReport(), memT0)
			h.m.Report(memVLAN, 2, f.olderReport(), memT0)
			h.m.Report(memVLAN, 3, f.report(f.rec(snoop.ModeIsInclude, 1, 2)), memT0)

			memWantActions(t, h.m.Report(memVLAN, 1, f.leaveMsg(), memT0.Add(time.Second)), nil)
			if h.has(f, 1) {
				t.Errorf("fast leave: port 1 still a member")
			}
			h.wantState(f, 2, memState{Mode: memExc, GroupTimer: memGMI})
			h.wantState(f, 3, memState{Mode: memInc, Requested: map[int]time.Duration{1: memGMI, 2: memGMI}})

			// Port 2 has no fast leave: the querier queries it.
			got := h.m.Report(memVLAN, 2, f.leaveMsg(), memT0.Add(time.Second))
			memWantActions(t, got, []snoop.QueryAction{f.query(2)})

			// An IGMPv3/MLDv2 host's TO_IN({}) on an INCLUDE port.
			h.fast[3] = true
			memWantActions(t, h.m.Report(memVLAN, 3, f.report(f.rec(snoop.ChangeToInclude)), memT0.Add(time.Second)), nil)
			if h.has(f, 3) {
				t.Errorf("fast leave: port 3 still a member after TO_IN({})")
			}
		})
	}
}

// RFC 4604 s2.2.1: in the SSM ranges, IS_EX and TO_EX records are ignored,
// and so are IGMPv1/v2 and MLDv1 reports, which mean EXCLUDE({}).
func TestSSM(t *testing.T) {
	cases := []struct {
		name  string
		f     memFamily
		group string
		ssm   bool
	}{
		{"232/8", memIGMP, "232.1.2.3", true},
		{"239/8 is ASM", memIGMP, "239.1.2.3", false},
		{"ff3e::/32 (RFC 4607)", memMLD, "ff3e::8000:1", true},
		{"ff35::/32 (RFC 4607)", memMLD, "ff35::1234", true},
		// RFC 3306 unicast-prefix-based (prefix length 64): any-source.
		{"ff3e:40:2001:db8:: is ASM", memMLD, "ff3e:40:2001:db8::1", false},
		{"ff0e:: is ASM", memMLD, "ff0e::1234", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := c.f
			f.group = netip.MustParseAddr(c.group)
			h := newMemHarness(t, nil)
			h.querier = true

			h.m.Report(memVLAN, 1, f.olderReport(), memT0)
			h.m.Report(memVLAN, 2, f.report(f.rec(snoop.ModeIsExclude)), memT0)
			h.m.Report(memVLAN, 3, f.report(f.rec(snoop.ChangeToExclude, 1)), memT0)
			if !c.ssm {
				for port := fdb.PortID(1); port <= 3; port++ {
					if !h.has(f, port) {
						t.Errorf("port %d: no state for an ASM group", port)
					}
				}
				return
			}
			if n := h.tab.Len(); n != 0 {
				t.Fatalf("SSM group: %d groups registered by EXCLUDE requests, want 0", n)
			}

			// INCLUDE requests work, and EXCLUDE ones do not disturb them.
			h.m.Report(memVLAN, 1, f.report(f.rec(snoop.ModeIsInclude, 1)), memT0)
			want := memState{Mode: memInc, Requested: map[int]time.Duration{1: memGMI}}
			h.wantState(f, 1, want)
			h.m.Report(memVLAN, 1, f.report(f.rec(snoop.ChangeToExclude)), memT0.Add(time.Second))
			h.m.Report(memVLAN, 1, f.olderReport(), memT0.Add(time.Second))
			h.wantState(f, 1, want)
			p, _ := h.tab.Get(memVLAN, f.group, 1)
			if !p.V1HostTimer.IsZero() || !p.V2HostTimer.IsZero() {
				t.Errorf("an ignored older report started the older-host timer")
			}
			// BLOCK and TO_IN still query as usual.
			got := h.m.Report(memVLAN, 1, f.report(f.rec(snoop.BlockOldSources, 1)), memT0.Add(2*time.Second))
			memWantActions(t, got, []snoop.QueryAction{f.query(1, 1)})
		})
	}
}

func TestSSMConfig(t *testing.T) {
	f := memIGMP
	f.group = netip.MustParseAddr("232.1.1.1")

	// An empty, non-nil list turns the SSM rules off.
	h := newMemHarness(t, func(c *snoop.MembershipConfig) { c.SSM = []netip.Prefix{} })
	h.m.Report(memVLAN, 1, f.olderReport(), memT0)
	h.wantState(f, 1, memState{Mode: memExc, GroupTimer: memGMI})

	f.group = netip.MustParseAddr("239.9.9.9")
	h = newMemHarness(t, func(c *snoop.MembershipConfig) { c.SSM = []netip.Prefix{netip.MustParsePrefix("239.9.0.0/16")} })
	h.m.Report(memVLAN, 1, f.report(f.rec(snoop.ModeIsExclude)), memT0)
	if h.has(f, 1) {
		t.Errorf("configured SSM range: IS_EX created state")
	}

	for _, p := range snoop.DefaultSSM() {
		if p.Bits() != 8 && p.Bits() != 32 {
			t.Errorf("DefaultSSM has %v", p)
		}
	}
}

// Groups that get no state: the ones the switch floods anyway (224.0.0.0/24,
// RFC 4541 s2.1.2; IPv6 scopes 0, 1 and 2, link-scope solicited-node and
// mDNS groups among them), non-multicast addresses, a group of the other
// family; and groups that do: every other multicast group.
func TestSnoopedGroups(t *testing.T) {
	cases := []struct {
		f       memFamily
		group   string
		snooped bool
	}{
		{memIGMP, "224.0.0.251", false},
		{memIGMP, "224.0.0.1", false},
		{memIGMP, "224.0.0.22", false},
		{memIGMP, "10.1.1.1", false},
		{memIGMP, "ff05::1:3", false},
		{memIGMP, "224.0.1.1", true},
		{memIGMP, "239.255.255.250", true},
		{memIGMP, "::ffff:239.1.2.3", true}, // IPv4-mapped: the same group
		{memMLD, "ff02::1", false},
		{memMLD, "ff01::fb", false},
		{memMLD, "ff00::1234", false},
		{memMLD, "ff10::1234", false},
		{memMLD, "2001:db8::1", false},
		{memMLD, "::ffff:239.1.2.3", false},
		{memMLD, "239.1.2.3", false},
		{memMLD, "ff02::fb", false},          // mDNS: flooded
		{memMLD, "ff02::1:ff00:1234", false}, // solicited-node: flooded
		{memMLD, "ff02::2", false},
		{memMLD, "ff12::1234", false}, // link scope with the T flag
		{memMLD, "ff05::1:3", true},
		{memMLD, "ff15::1234", true},
		{memMLD, "ff0e::1234", true},
		{memMLD, "ff08::1", true},
	}
	for _, c := range cases {
		t.Run(c.f.name+"/"+c.group, func(t *testing.T) {
			f := c.f
			f.group = netip.MustParseAddr(c.group)
			for _, msg := range []*snoop.Message{f.olderReport(), f.report(f.rec(snoop.ModeIsExclude))} {
				h := newMemHarness(t, nil)
				h.m.Report(memVLAN, 1, msg, memT0)
				if got := h.tab.Len() == 1; got != c.snooped {
					t.Errorf("%v: registered %v, want %v", msg.Type, got, c.snooped)
				}
			}
		})
	}
}

// Records of unknown types and messages that are not reports change nothing.
func TestIgnoredMessages(t *testing.T) {
	f := memIGMP
	h := newMemHarness(t, nil)
	h.querier = true
	msgs := []*snoop.Message{
		f.report(snoop.Record{Type: 7, Group: f.group}),
		f.report(snoop.Record{Type: 0, Group: f.group}),
		{Type: snoop.MsgIGMPQuery, Family: 4, Group: f.group, Query: snoop.Query{Version: 2, Group: f.group}},
		{Type: snoop.MsgPIMHello, Family: 4, Group: f.group},
		{Type: snoop.MsgUnknown, Family: 4, Group: f.group},
		nil,
	}
	for i, msg := range msgs {
		if got := h.m.Report(memVLAN, 1, msg, memT0); len(got) != 0 {
			t.Errorf("message %d: queries %+v", i, got)
		}
	}
	if n := h.tab.Len(); n != 0 {
		t.Errorf("%d groups registered, want 0", n)
	}
}

// QuerySeen adopts QRV and QQI from IGMPv3 and MLDv2 queries (RFC 3376
// s4.1.6/4.1.7); a zero QRV or QQI means the configured value.
func TestQuerySeenAdoptsTimers(t *testing.T) {
	h := newMemHarness(t, nil)
	s := time.Second
	v3 := func(qrv int, qqi time.Duration) *snoop.Query {
		return &snoop.Query{Version: 3, Group: netip.IPv4Unspecified(), MaxResp: 10 * s, QRV: qrv, QQI: qqi}
	}
	wantFamilyTimers := func(family, rv int, qi time.Duration, lmc int) {
		t.Helper()
		want := snoop.DefaultTimers()
		want.Robustness, want.QueryInterval, want.LastMemberCount = rv, qi, lmc
		if got := h.m.Timers(memVLAN, family); got != want {
			t.Errorf("Timers(%d, %d) = %+v, want %+v", memVLAN, family, got, want)
		}
	}
	wantTimers := func(rv int, qi time.Duration, lmc int) {
		t.Helper()
		wantFamilyTimers(4, rv, qi, lmc)
	}

	h.m.QuerySeen(memVLAN, 0, v3(3, 60*s), memT0)
	wantTimers(3, 60*s, 3)

	// The adopted timers drive the state: GMI = 3*60s + 10s = 190s.
	h.m.Report(memVLAN, 1, memIGMP.olderReport(), memT0)
	h.wantState(memIGMP, 1, memState{Mode: memExc, GroupTimer: 190 * s})
	p, _ := h.tab.Get(memVLAN, memIGMP.group, 1)
	if !p.V2HostTimer.Equal(memT0.Add(190 * s)) {
		t.Errorf("V2HostTimer t0+%v, want t0+190s", memSince(p.V2HostTimer))
	}
	// LMQT = adopted LMQC (3) x the query's Max Resp Time. (The querier
	// puts its QRV and QQI in every IGMPv3 query.)
	gq := memIGMP.groupQuery(s)
	gq.QRV, gq.QQI = 3, 60*s
	h.m.QuerySeen(memVLAN, 0, gq, memT0.Add(10*s))
	h.wantState(memIGMP, 1, memState{Mode: memExc, GroupTimer: 13 * s})

	// IGMPv2 and IGMPv1 queries carry no QRV/QQI: nothing changes.
	h.m.QuerySeen(memVLAN, 0, &snoop.Query{Version: 2, Group: netip.IPv4Unspecified(), MaxResp: 10 * s}, memT0)
	h.m.QuerySeen(memVLAN, 0, &snoop.Query{Version: 1, Group: netip.IPv4Unspecified(), MaxResp: 10 * s}, memT0)
	h.m.QuerySeen(memVLAN, 0, &snoop.Query{Version: 1, Group: netip.IPv6Unspecified(), MaxResp: 10 * s}, memT0)
	wantTimers(3, 60*s, 3)

	// Zero means "use the default or statically configured value".
	h.m.QuerySeen(memVLAN, 0, v3(0, 0), memT0)
	wantTimers(2, 125*s, 2)

	// MLDv2 (version 2 with an IPv6 group): MLD's timers, not IGMP's.
	h.m.QuerySeen(memVLAN, 0, &snoop.Query{Version: 2, Group: netip.IPv6Unspecified(), QRV: 4, QQI: 30 * s}, memT0)
	wantFamilyTimers(6, 4, 30*s, 4)
	wantTimers(2, 125*s, 2)
	// A query without a group at all: version 2 with a QRV can only be
	// MLDv2, version 3 only IGMPv3.
	h.m.QuerySeen(memVLAN, 0, &snoop.Query{Version: 2, QRV: 5, QQI: 31 * s}, memT0)
	wantFamilyTimers(6, 5, 31*s, 5)
	h.m.QuerySeen(memVLAN, 0, &snoop.Query{Version: 3, QRV: 6, QQI: 32 * s}, memT0)
	wantTimers(6, 32*s, 6)
	wantFamilyTimers(6, 5, 31*s, 5)

	// A Last Member Query Count configured apart from the robustness stays.
	h = newMemHarness(t, func(c *snoop.MembershipConfig) { c.Timers = snoop.Timers{Robustness: 2, LastMemberCount: 5} })
	h.m.QuerySeen(memVLAN, 0, v3(3, 0), memT0)
	wantTimers(3, 125*s, 5)
	// A configured robustness is what QRV 0 returns to.
	h = newMemHarness(t, func(c *snoop.MembershipConfig) { c.Timers = snoop.Timers{Robustness: 4} })
	h.m.QuerySeen(memVLAN, 0, v3(6, 0), memT0)
	wantTimers(6, 125*s, 6)
	h.m.QuerySeen(memVLAN, 0, v3(0, 0), memT0)
	wantTimers(4, 125*s, 4)
}

// Each (VLAN, family) has its querier and so its own timers: an MLDv2
// query with QRV 5 and QQI 30 s makes MLD's GMI in its VLAN 5*30s+10s =
// 160 s, while IGMP's in the same VLAN and MLD's in another VLAN stay at
// the configured 260 s (RFC 3376 s4.1.6-7 and RFC 3810 s5.1.8-9 adopt the
// values of "the most recently received Query", which is per querier).
func TestQuerySeenAdoptsTimersPerVLANAndFamily(t *testing.T) {
	const otherVLAN = memVLAN + 1
	s := time.Second
	h := newMemHarness(t, nil)
	h.m.QuerySeen(memVLAN, 0, &snoop.Query{Version: 2, Group: netip.IPv6Unspecified(), MaxResp: 10 * s, QRV: 5, QQI: 30 * s}, memT0)

	if got, want := h.m.Timers(memVLAN, 6).GroupMembershipInterval(), 160*s; got != want {
		t.Errorf("MLD GMI in VLAN %d = %v, want %v", memVLAN, got, want)
	}
	if got := h.m.Timers(memVLAN, 4); got != snoop.DefaultTimers() {
		t.Errorf("IGMP timers in VLAN %d = %+v after an MLD query, want the defaults", memVLAN, got)
	}
	if got := h.m.Timers(otherVLAN, 6); got != snoop.DefaultTimers() {
		t.Errorf("MLD timers in VLAN %d = %+v after a query in VLAN %d, want the defaults", otherVLAN, got, memVLAN)
	}

	// The state follows: an MLDv1 report in the VLAN lives 160 s, an
	// IGMPv2 report there and an MLDv1 report in the other VLAN 260 s.
	h.m.Report(memVLAN, 1, memMLD.olderReport(), memT0)
	h.wantState(memMLD, 1, memState{Mode: memExc, GroupTimer: 160 * s})
	h.m.Report(memVLAN, 1, memIGMP.olderReport(), memT0)
	h.wantState(memIGMP, 1, memState{Mode: memExc, GroupTimer: memGMI})
	h.m.Report(otherVLAN, 1, memMLD.olderReport(), memT0)
	if p, ok := h.tab.Get(otherVLAN, memMLD.group, 1); !ok || !p.GroupTimer.Equal(memT0.Add(memGMI)) {
		t.Errorf("MLD membership in VLAN %d: %+v (present %v), want its group timer at t0+%v", otherVLAN, p, ok, memGMI)
	}
	// Older-host-present follows the same timers.
	if p, _ := h.tab.Get(memVLAN, memMLD.group, 1); !p.V1HostTimer.Equal(memT0.Add(160 * s)) {
		t.Errorf("MLDv1 host present until t0+%v, want t0+160s", memSince(p.V1HostTimer))
	}
	// And so does the last member query time of the elected querier's
	// group-specific query: LMQC (adopted QRV 5) x 1 s in MLD, 2 x 1 s in
	// IGMP.
	gq := memMLD.groupQuery(s)
	gq.QRV, gq.QQI = 5, 30*s
	h.m.QuerySeen(memVLAN, 0, gq, memT0)
	h.wantState(memMLD, 1, memState{Mode: memExc, GroupTimer: 5 * s})
	h.m.QuerySeen(memVLAN, 0, memIGMP.groupQuery(s), memT0)
	h.wantState(memIGMP, 1, memState{Mode: memExc, GroupTimer: memLMQT})
}

// A group-and-source-specific query lowers those sources' timers on every
// port of the group (RFC 3376 s6.6.1: "Q(G,A): Source Timer for sources in A
// are lowered to LMQT"), and nothing else.
func TestQuerySeenSourceSpecific(t *testing.T) {
	for _, f := range memFamilies {
		t.Run(f.name, func(t *testing.T) {
			h := newMemHarness(t, nil)
			s := time.Second
			type req = map[int]time.Duration
			h.put(f, 1, memState{Mode: memInc, Requested: req{1: memGMI, 2: memGMI, 4: s}})
			h.put(f, 2, memState{Mode: memExc, Requested: req{1: memGMI}, Excluded: []int{3}, GroupTimer: memGMI})

			h.m.QuerySeen(memVLAN, 0, f.groupQuery(s, 1, 3, 4), memT0)
			h.wantState(f, 1, memState{Mode: memInc, Requested: req{1: memLMQT, 2: memGMI, 4: s}})
			h.wantState(f, 2, memState{Mode: memExc, Requested: req{1: memLMQT}, Excluded: []int{3}, GroupTimer: memGMI})

			q := f.groupQuery(s, 2)
			q.SFlag = true
			h.m.QuerySeen(memVLAN, 0, q, memT0)
			h.wantState(f, 1, memState{Mode: memInc, Requested: req{1: memLMQT, 2: memGMI, 4: s}})

			// A member answers with IS_IN({1}): back to GMI.
			h.m.Report(memVLAN, 1, f.report(f.rec(snoop.ModeIsInclude, 1)), memT0.Add(s/2))
			h.wantState(f, 1, memState{Mode: memInc, Requested: req{1: s/2 + memGMI, 2: memGMI, 4: s}})
		})
	}
}

// Tick runs out each kind of timer and returns the earliest one left.
func TestTick(t *testing.T) {
	s := time.Second
	type req = map[int]time.Duration
	for _, f := range memFamilies {
		t.Run(f.name, func(t *testing.T) {
			h := newMemHarness(t, nil)
			if next := h.m.Tick(memT0); !next.IsZero() {
				t.Errorf("empty table: Tick returned t0+%v, want zero", memSince(next))
			}

			// INCLUDE: a source whose timer runs out is removed, and the
			// membership with it when it was the last.
			h.put(f, 1, memState{Mode: memInc, Requested: req{1: 10 * s, 2: 20 * s}})
			if next := h.m.Tick(memT0.Add(5 * s)); !next.Equal(memT0.Add(10 * s)) {
				t.Errorf("Tick returned t0+%v, want t0+10s", memSince(next))
			}
			if next := h.m.Tick(memT0.Add(10 * s)); !next.Equal(memT0.Add(20 * s)) {
				t.Errorf("Tick returned t0+%v, want t0+20s", memSince(next))
			}
			h.wantState(f, 1, memState{Mode: memInc, Requested: req{2: 20 * s}})
			if next := h.m.Tick(memT0.Add(20 * s)); !next.IsZero() {
				t.Errorf("Tick returned t0+%v, want zero", memSince(next))
			}
			if h.has(f, 1) {
				t.Errorf("INCLUDE {} membership left in the table")
			}

			h = newMemHarness(t, nil)
			// EXCLUDE: a source whose timer runs out moves from X to Y; the
			// group timer turns the port to INCLUDE with the sources still
			// running (RFC 3376 s6.5), Y deleted.
			h.put(f, 2, memState{Mode: memExc, Requested: req{1: 10 * s, 2: 50 * s}, Excluded: []int{3}, GroupTimer: 30 * s})
			if next := h.m.Tick(memT0.Add(10 * s)); !next.Equal(memT0.Add(30 * s)) {
				t.Errorf("Tick returned t0+%v, want the group timer t0+30s", memSince(next))
			}
			h.wantState(f, 2, memState{Mode: memExc, Requested: req{2: 50 * s}, Excluded: []int{1, 3}, GroupTimer: 30 * s})
			if next := h.m.Tick(memT0.Add(30 * s)); !next.Equal(memT0.Add(50 * s)) {
				t.Errorf("Tick returned t0+%v, want t0+50s", memSince(next))
			}
			h.wantState(f, 2, memState{Mode: memInc, Requested: req{2: 50 * s}})
			h.m.Tick(memT0.Add(50 * s))
			if h.has(f, 2) {
				t.Errorf("membership left after its last source ran out")
			}

			// An EXCLUDE with no running source goes when its group timer
			// runs out.
			h = newMemHarness(t, nil)
			h.put(f, 3, memState{Mode: memExc, Excluded: []int{1}, GroupTimer: 30 * s})
			h.m.Tick(memT0.Add(30 * s))
			if h.has(f, 3) {
				t.Errorf("EXCLUDE membership left after its group timer ran out")
			}

			// Older-host timers run out too, and count for the next time.
			h = newMemHarness(t, nil)
			h.m.Report(memVLAN, 4, f.olderReport(), memT0.Add(100*s))
			h.m.Report(memVLAN, 4, f.report(f.rec(snoop.ModeIsExclude)), memT0.Add(200*s))
			if next := h.m.Tick(memT0.Add(300 * s)); !next.Equal(memT0.Add(100*s + memGMI)) {
				t.Errorf("Tick returned t0+%v, want the older-host timer t0+%v", memSince(next), 100*s+memGMI)
			}
			h.m.Tick(memT0.Add(100*s + memGMI))
			p, _ := h.tab.Get(memVLAN, f.group, 4)
			if !p.V1HostTimer.IsZero() || !p.V2HostTimer.IsZero() {
				t.Errorf("older-host timer still set after it ran out")
			}
			if next := h.m.Tick(memT0.Add(100*s + memGMI)); !next.Equal(memT0.Add(200*s + memGMI)) {
				t.Errorf("Tick returned t0+%v, want the group timer t0+%v", memSince(next), 200*s+memGMI)
			}
		})
	}
}

// A report sees the state as it is at its now, even if Tick has not run: a
// source whose timer ran out is in Y, not queried.
func TestExpiryBeforeTick(t *testing.T) {
	for _, f := range memFamilies {
		t.Run(f.name, func(t *testing.T) {
			h := newMemHarness(t, nil)
			h.querier = true
			s := time.Second
			h.put(f, 1, memState{Mode: memExc, Requested: map[int]time.Duration{1: 10 * s, 2: 100 * s}, GroupTimer: 300 * s})
			got := h.m.Report(memVLAN, 1, f.report(f.rec(snoop.ChangeToInclude)), memT0.Add(20*s))
			memWantActions(t, got, []snoop.QueryAction{f.query(1, 2), f.query(1)})
			h.wantState(f, 1, memState{Mode: memExc, Requested: map[int]time.Duration{2: 20*s + memLMQT}, Excluded: []int{1}, GroupTimer: 20*s + memLMQT})
		})
	}
}

// Records apply in order, duplicates in a source list count once, and a
// report records its time and sender.
func TestReportDetails(t *testing.T) {
	for _, f := range memFamilies {
		t.Run(f.name, func(t *testing.T) {
			h := newMemHarness(t, nil)
			h.querier = true
			other := f
			if f.family == 4 {
				other.group = netip.MustParseAddr("239.2.2.2")
			} else {
				other.group = netip.MustParseAddr("ff05::2:2")
			}
			msg := f.report(
				f.rec(snoop.AllowNewSources, 1, 2, 1),
				f.rec(snoop.BlockOldSources, 2, 2),
				other.rec(snoop.ModeIsExclude, 3),
			)
			got := h.m.Report(memVLAN, 1, msg, memT0)
			memWantActions(t, got, []snoop.QueryAction{f.query(1, 2)})
			h.wantState(f, 1, memState{Mode: memInc, Requested: map[int]time.Duration{1: memGMI, 2: memLMQT}})
			h.wantState(other, 1, memState{Mode: memExc, Excluded: []int{3}, GroupTimer: memGMI})

			p, _ := h.tab.Get(memVLAN, f.group, 1)
			if !p.LastReport.Equal(memT0) || p.Reporter != f.host {
				t.Errorf("LastReport t0+%v, Reporter %v; want t0, %v", memSince(p.LastReport), p.Reporter, f.host)
			}
			h.m.Report(memVLAN, 1, f.report(f.rec(snoop.ModeIsInclude, 1)), memT0.Add(time.Second))
			p, _ = h.tab.Get(memVLAN, f.group, 1)
			if !p.LastReport.Equal(memT0.Add(time.Second)) {
				t.Errorf("LastReport t0+%v, want t0+1s", memSince(p.LastReport))
			}
		})
	}
}

// Sources are compared in the table's form: an IPv4-mapped source in an
// IGMPv3 record is the IPv4 source; a source of the other family is dropped.
func TestRecordSourceForms(t *testing.T) {
	f := memIGMP
	h := newMemHarness(t, nil)
	h.querier = true
	h.put(f, 1, memState{Mode: memInc, Requested: map[int]time.Duration{1: memGMI}})
	mapped := netip.AddrFrom16(f.src(1).As16())
	rec := snoop.Record{Type: snoop.BlockOldSources, Group: f.group, Sources: []netip.Addr{mapped, memMLD.src(1)}}
	got := h.m.Report(memVLAN, 1, f.report(rec), memT0)
	memWantActions(t, got, []snoop.QueryAction{f.query(1, 1)})
	h.wantState(f, 1, memState{Mode: memInc, Requested: map[int]time.Duration{1: memLMQT}})

	rec = snoop.Record{Type: snoop.ModeIsExclude, Group: f.group, Sources: []netip.Addr{memMLD.src(2)}}
	h.m.Report(memVLAN, 1, f.report(rec), memT0)
	h.wantState(f, 1, memState{Mode: memExc, GroupTimer: memGMI})
}

// The switch is the querier in one VLAN and not in another: the queries
// and the timer lowering follow the VLAN of the report.
func TestQuerierPerVLAN(t *testing.T) {
	f := memIGMP
	h := newMemHarness(t, nil)
	h.querier = true // for vlan only
	h.m.Report(memVLAN+1, 1, f.olderReport(), memT0)
	if got := h.m.Report(memVLAN+1, 1, f.leaveMsg(), memT0); len(got) != 0 {
		t.Errorf("not the querier in VLAN %d: queries %+v", memVLAN+1, got)
	}
	p, _ := h.tab.Get(memVLAN+1, f.group, 1)
	if !p.GroupTimer.Equal(memT0.Add(memGMI)) {
		t.Errorf("group timer t0+%v, want t0+%v", memSince(p.GroupTimer), memGMI)
	}
}

// Report, QuerySeen and Tick from several goroutines at once (run with
// -race).
func TestConcurrentUse(t *testing.T) {
	h := newMemHarness(t, func(c *snoop.MembershipConfig) {
		c.Querier = func(uint16, int) bool { return true }
		c.FastLeave = func(p fdb.PortID) bool { return p%2 == 0 }
	})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				now := memT0.Add(time.Duration(i) * time.Second)
				f := memFamilies[i%2]
				port := fdb.PortID(g*4 + i%4)
				switch i % 5 {
				case 0:
					h.m.Report(memVLAN, port, f.olderReport(), now)
				case 1:
					h.m.Report(memVLAN, port, f.report(f.rec(snoop.AllowNewSources, i%7, i%11)), now)
				case 2:
					h.m.Report(memVLAN, port, f.leaveMsg(), now)
				case 3:
					h.m.QuerySeen(memVLAN, 0, f.groupQuery(time.Second, i%7), now)
					h.m.QuerySeen(memVLAN, 0, &snoop.Query{Version: 3, Group: netip.IPv4Unspecified(), QRV: 2 + i%2}, now)
				case 4:
					h.m.Tick(now)
					_ = h.m.Timers(memVLAN, f.family)
				}
			}
		}()
	}
	wg.Wait()
	h.m.Tick(memT0.Add(24 * time.Hour))
	if n := h.tab.Len(); n != 0 {
		t.Errorf("%d groups left a day later", n)
	}
}

// A report that refreshes existing state costs the same two allocations
// (its run state) whatever its record count, and a Tick that expires
// nothing allocates nothing.
func TestReportAllocs(t *testing.T) {
	h := newMemHarness(t, nil)
	f := memIGMP
	one := f.report(f.rec(snoop.ModeIsInclude, 1, 2))
	var recs []snoop.Record
	for i := range 10 {
		r := f.rec(snoop.ModeIsInclude, i, i+1, i+2)
		r.Group = netip.AddrFrom4([4]byte{239, 1, 2, byte(i)})
		recs = append(recs, r)
	}
	ten := f.report(recs...)
	older := f.olderReport()
	now := memT0
	for _, msg := range []*snoop.Message{one, ten, older} {
		h.m.Report(memVLAN, 1, msg, now)
		n := testing.AllocsPerRun(100, func() {
			now = now.Add(time.Millisecond)
			h.m.Report(memVLAN, 1, msg, now)
		})
		if n > 2 {
			t.Errorf("%v with %d records: %v allocations per refresh, want at most 2", msg.Type, len(msg.Records), n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { h.m.Tick(now) }); n != 0 {
		t.Errorf("Tick with nothing to expire: %v allocations, want 0", n)
	}
}
