package snoop_test

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/snoop"
)

// Two hosts behind one port, as a VM's bridge or an unmanaged switch puts
// them: hostA is f.host, hostB another address of the same family.
func (f memFamily) hostB() netip.Addr {
	if f.family == 4 {
		return netip.MustParseAddr("192.0.2.101")
	}
	return netip.MustParseAddr("fe80::101")
}

// from returns msg as sent by host.
func from(host netip.Addr, msg *snoop.Message) *snoop.Message {
	msg.Src = host
	return msg
}

// hostState is one tracked host in test terms: sources by number.
type hostState struct {
	Mode    fdb.FilterMode
	Sources []int
	Expires time.Duration
}

// hosts reads the tracked hosts of port's membership of f.group.
func (h *memHarness) hosts(f memFamily, port fdb.PortID) map[netip.Addr]hostState {
	p, _ := h.tab.Get(memVLAN, f.group, port)
	out := map[netip.Addr]hostState{}
	for a, hm := range p.Hosts {
		s := hostState{Mode: hm.Mode, Expires: memSince(hm.Expires)}
		for src := range hm.Sources {
			s.Sources = append(s.Sources, int(src.As16()[15]))
		}
		slices.Sort(s.Sources)
		out[a] = s
	}
	return out
}

func (h *memHarness) wantHosts(f memFamily, port fdb.PortID, want map[netip.Addr]hostState) {
	h.t.Helper()
	if got := h.hosts(f, port); !reflect.DeepEqual(got, want) {
		h.t.Errorf("port %d: hosts %+v, want %+v", port, got, want)
	}
}

// TestHostTrackingStates: each record type moves the reporting host's own
// state as RFC 3376 s5.1 has the host's interface state move (the record is
// the difference); a host at INCLUDE {} is forgotten, and every report of
// the group restarts its expiry at GMI.
func TestHostTrackingStates(t *testing.T) {
	s := time.Second
	steps := []struct {
		rec  snoop.Record
		want *hostState // nil: not tracked
	}{
		{snoop.Record{Type: snoop.AllowNewSources}, nil}, // ALLOW {} from nobody: nothing
		{memIGMP.rec(snoop.AllowNewSources, 1, 2), &hostState{memInc, []int{1, 2}, 0}},
		{memIGMP.rec(snoop.BlockOldSources, 2, 3), &hostState{memInc, []int{1}, 0}},
		{memIGMP.rec(snoop.ModeIsInclude, 1, 4), &hostState{memInc, []int{1, 4}, 0}},
		{memIGMP.rec(snoop.ChangeToExclude, 5), &hostState{memExc, []int{5}, 0}},
		{memIGMP.rec(snoop.BlockOldSources, 6), &hostState{memExc, []int{5, 6}, 0}},
		{memIGMP.rec(snoop.AllowNewSources, 5), &hostState{memExc, []int{6}, 0}},
		{memIGMP.rec(snoop.ModeIsExclude), &hostState{memExc, nil, 0}},
		{memIGMP.rec(snoop.ChangeToInclude, 7), &hostState{memInc, []int{7}, 0}},
		{memIGMP.rec(snoop.BlockOldSources, 7), nil},
	}
	for _, f := range memFamilies {
		t.Run(f.name, func(t *testing.T) {
			h := newMemHarness(t, nil)
			for i, st := range steps {
				now := time.Duration(i+1) * s
				rec := st.rec
				rec.Group = f.group
				for j := range rec.Sources {
					rec.Sources[j] = f.src(int(rec.Sources[j].As4()[3]))
				}
				h.m.Report(memVLAN, 1, f.report(rec), memT0.Add(now))
				want := map[netip.Addr]hostState{}
				if st.want != nil {
					w := *st.want
					w.Expires = now + memGMI
					want[f.host] = w
				}
				if got := h.hosts(f, 1); !reflect.DeepEqual(got, want) {
					t.Fatalf("step %d (%v %v): hosts %+v, want %+v", i, rec.Type, rec.Sources, got, want)
				}
			}
		})
	}
}

// The example: on a fast-leave port host A is EXCLUDE {} and host B
// INCLUDE {S1}. A's TO_IN({}) turns the port into INCLUDE {S1} at once (it
// used to cut S1 too), and nothing is queried, though the switch is the
// querier. B's BLOCK(S1) then ends the membership at once.
func TestHostTrackingFastLeaveKeepsOtherHost(t *testing.T) {
	for _, f := range memFamilies {
		t.Run(f.name, func(t *testing.T) {
			h := newMemHarness(t, nil)
			h.querier = true
			h.fast[1] = true
			h.m.Report(memVLAN, 1, f.report(f.rec(snoop.ChangeToExclude)), memT0)
			h.m.Report(memVLAN, 1, from(f.hostB(), f.report(f.rec(snoop.AllowNewSources, 1))), memT0)
			h.wantState(f, 1, memState{Mode: memExc, Requested: map[int]time.Duration{1: memGMI}, GroupTimer: memGMI})

			at := memT0.Add(time.Second)
			memWantActions(t, h.m.Report(memVLAN, 1, f.report(f.rec(snoop.ChangeToInclude)), at), nil)
			h.wantState(f, 1, memState{Mode: memInc, Requested: map[int]time.Duration{1: memGMI}})
			h.wantHosts(f, 1, map[netip.Addr]hostState{f.hostB(): {memInc, []int{1}, memGMI}})

			memWantActions(t, h.m.Report(memVLAN, 1, from(f.hostB(), f.report(f.rec(snoop.BlockOldSources, 1))), at), nil)
			if h.has(f, 1) {
				t.Errorf("the last host blocked S1: the port is still a member: %v", h.get(f, 1))
			}
		})
	}
}

// One host's BLOCK of a source another host of the port still includes
// keeps the source; the other host's BLOCK ends it at once. Two hosts in
// EXCLUDE mode: the first one's leave keeps the group.
func TestHostTrackingBlockKeepsSourceForOtherHost(t *testing.T) {
	for _, f := range memFamilies {
		t.Run(f.name, func(t *testing.T) {
			h := newMemHarness(t, nil)
			h.fast[1] = true
			h.m.Report(memVLAN, 1, f.report(f.rec(snoop.AllowNewSources, 1, 2)), memT0)
			h.m.Report(memVLAN, 1, from(f.hostB(), f.report(f.rec(snoop.AllowNewSources, 1))), memT0)

			at := memT0.Add(time.Second)
			h.m.Report(memVLAN, 1, f.report(f.rec(snoop.BlockOldSources, 1, 2)), at)
			h.wantState(f, 1, memState{Mode: memInc, Requested: map[int]time.Duration{1: memGMI}})
			h.m.Report(memVLAN, 1, from(f.hostB(), f.report(f.rec(snoop.BlockOldSources, 1))), at)
			if h.has(f, 1) {
				t.Errorf("both hosts blocked S1: the port is still a member: %v", h.get(f, 1))
			}

			// EXCLUDE {} and EXCLUDE {S3}: A leaves, the port stays EXCLUDE
			// with B's timers; B's leave ends it.
			h.m.Report(memVLAN, 1, f.report(f.rec(snoop.ChangeToExclude)), at)
			h.m.Report(memVLAN, 1, from(f.hostB(), f.report(f.rec(snoop.ChangeToExclude, 3))), at)
			h.m.Report(memVLAN, 1, f.report(f.rec(snoop.ChangeToInclude)), at.Add(time.Second))
			h.wantState(f, 1, memState{Mode: memExc, Excluded: []int{3}, GroupTimer: time.Second + memGMI})
			h.m.Report(memVLAN, 1, from(f.hostB(), f.leaveMsg()), at.Add(2*time.Second))
			if h.has(f, 1) {
				t.Errorf("the last EXCLUDE host left: the port is still a member: %v", h.get(f, 1))
			}
		})
	}
}

// While an IGMPv2/MLDv1 host holds the port's group in the older mode, its
// reports say nothing of who listens: a fast leave cuts the whole port, as
// without host tracking.
func TestHostTrackingOlderHostFallsBack(t *testing.T) {
	for _, f := range memFamilies {
		t.Run(f.name, func(t *testing.T) {
			h := newMemHarness(t, nil)
			h.fast[1] = true
			h.m.Report(memVLAN, 1, f.report(f.rec(snoop.ChangeToExclude)), memT0)
			h.m.Report(memVLAN, 1, from(f.hostB(), f.olderReport()), memT0)
			h.wantHosts(f, 1, map[netip.Addr]hostState{f.host: {memExc, nil, memGMI}})
			h.m.Report(memVLAN, 1, from(f.hostB(), f.leaveMsg()), memT0.Add(time.Second))
			if h.has(f, 1) {
				t.Errorf("older-version mode: a fast leave kept the port: %v", h.get(f, 1))
			}
		})
	}
}

// The host limit: a host beyond it is not tracked, the port's state takes
// its report all the same, and fast leave on that group falls back to
// queries (the switch is the querier) or to the elected querier's (it is
// not) until GMI has passed; another port's hosts are not touched.
func TestHostTrackingLimit(t *testing.T) {
	for _, f := range memFamilies {
		t.Run(f.name, func(t *testing.T) {
			type ask struct {
				port         fdb.PortID
				others, need int
			}
			var asked []ask
			h := newMemHarness(t, func(c *snoop.MembershipConfig) {
				c.AdmitHost = func(port fdb.PortID, others, need int) bool {
					asked = append(asked, ask{port, others, need})
					return others+need <= 2 // two host entries per port
				}
			})
			h.fast[1] = true
			h.m.Report(memVLAN, 2, f.report(f.rec(snoop.AllowNewSources, 1)), memT0)
			h.m.Report(memVLAN, 1, f.report(f.rec(snoop.ChangeToExclude)), memT0)
			h.m.Report(memVLAN, 1, from(f.hostB(), f.report(f.rec(snoop.AllowNewSources, 1))), memT0)
			want := []ask{{2, 0, 2}, {1, 0, 1}, {1, 1, 2}}
			if !reflect.DeepEqual(asked, want) {
				t.Errorf("AdmitHost calls %v, want %v", asked, want)
			}
			h.wantHosts(f, 1, map[netip.Addr]hostState{f.host: {memExc, nil, memGMI}})
			h.wantHosts(f, 2, map[netip.Addr]hostState{f.host: {memInc, []int{1}, memGMI}})
			h.wantState(f, 1, memState{Mode: memExc, Requested: map[int]time.Duration{1: memGMI}, GroupTimer: memGMI})
			p, _ := h.tab.Get(memVLAN, f.group, 1)
			if !p.UntrackedUntil.Equal(memT0.Add(memGMI)) {
				t.Errorf("UntrackedUntil = %v, want t0+GMI", p.UntrackedUntil)
			}
			if h.tab.PortHostEntries(1) != 1 || h.tab.PortHostEntries(2) != 2 {
				t.Errorf("PortHosts = %d, %d; want 1, 2", h.tab.PortHostEntries(1), h.tab.PortHostEntries(2))
			}

			// Not the querier: A's leave changes nothing until the elected
			// querier's query.
			at := memT0.Add(time.Second)
			h.m.Report(memVLAN, 1, f.report(f.rec(snoop.ChangeToInclude)), at)
			h.wantState(f, 1, memState{Mode: memExc, Requested: map[int]time.Duration{1: memGMI}, GroupTimer: memGMI})
			// The querier: it queries, as on a port without fast leave.
			h.querier = true
			got := h.m.Report(memVLAN, 1, f.report(f.rec(snoop.ChangeToInclude)), at)
			memWantActions(t, got, []snoop.QueryAction{f.query(1, 1), f.query(1)})

			// GMI after the refusal, with every reporter tracked, fast leave
			// by host is back: B's BLOCK ends the port's membership at once.
			later := memT0.Add(memGMI + time.Second)
			h.m.Report(memVLAN, 1, from(f.hostB(), f.report(f.rec(snoop.ModeIsInclude, 1))), later)
			h.wantHosts(f, 1, map[netip.Addr]hostState{f.hostB(): {memInc, []int{1}, memGMI + time.Second + memGMI}})
			memWantActions(t, h.m.Report(memVLAN, 1, from(f.hostB(), f.report(f.rec(snoop.BlockOldSources, 1))), later), nil)
			if h.has(f, 1) {
				t.Errorf("the only tracked host blocked S1 after the untracked mark ran out: the port is still a member: %v", h.get(f, 1))
			}
		})
	}
}

// A host that does not report again within GMI is forgotten by Tick, which
// counts its expiry among the timers it plans for; a report from 0.0.0.0 or
// :: names no host, so the port falls back as with an untracked host.
func TestHostTrackingExpiryAndUnnamedReporter(t *testing.T) {
	for _, f := range memFamilies {
		t.Run(f.name, func(t *testing.T) {
			h := newMemHarness(t, nil)
			h.fast[1] = true
			h.m.Report(memVLAN, 1, f.report(f.rec(snoop.ChangeToExclude)), memT0)
			// A's state is kept alive by B's later reports; A's own expires.
			at := memT0.Add(100 * time.Second)
			h.m.Report(memVLAN, 1, from(f.hostB(), f.report(f.rec(snoop.ModeIsExclude))), at)
			if next := h.m.Tick(memT0.Add(time.Second)); !next.Equal(memT0.Add(memGMI)) {
				t.Errorf("Tick's next = %v, want host A's expiry t0+GMI", memSince(next))
			}
			h.m.Tick(memT0.Add(memGMI))
			h.wantHosts(f, 1, map[netip.Addr]hostState{f.hostB(): {memExc, nil, 100*time.Second + memGMI}})

			unspecified := netip.IPv4Unspecified()
			if f.family == 6 {
				unspecified = netip.IPv6Unspecified()
			}
			at = memT0.Add(memGMI + time.Second)
			h.m.Report(memVLAN, 1, from(unspecified, f.report(f.rec(snoop.ModeIsInclude, 2))), at)
			h.m.Report(memVLAN, 1, from(f.hostB(), f.leaveMsg()), at)
			if !h.has(f, 1) {
				t.Errorf("a host that named no address reported: the last tracked host's leave cut the port")
			}
		})
	}
}

// A policy change that revokes a source takes it out of the hosts too.
func TestHostTrackingRevoke(t *testing.T) {
	f := memIGMP
	s := snoop.New(snoop.Config{})
	s.Membership().Report(memVLAN, 1, f.report(f.rec(snoop.AllowNewSources, 1, 2)), memT0)
	s.Membership().Report(memVLAN, 1, from(f.hostB(), f.report(f.rec(snoop.AllowNewSources, 1))), memT0)
	s.Revoke(func(_ fdb.PortID, _, src netip.Addr) bool { return src != f.src(1) })
	p, _ := s.Groups().Get(memVLAN, f.group, 1)
	if len(p.Hosts) != 1 || len(p.Hosts[f.host].Sources) != 1 {
		t.Errorf("hosts after revoking S1: %+v, want host A with S2 only", p.Hosts)
	}
	if s.Groups().PortHostEntries(1) != 2 {
		t.Errorf("PortHostEntries(1) = %d, want 2", s.Groups().PortHostEntries(1))
	}
}
