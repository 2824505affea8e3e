package guard_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/snoop"
)

func aclPort(rules ...guard.Rule) guard.PortPolicy {
	p := guard.HostPortDefaults()
	p.ACL = rules
	return p
}

func TestFilterReportV1V2(t *testing.T) {
	p := aclPort(
		guard.Rule{Permit: true, Groups: pf("239.1.1.1/32")},                            // first match wins...
		guard.Rule{Permit: false, Groups: pf("239.0.0.0/8")},                            // ...over this wider deny
		guard.Rule{Permit: false, Groups: pf("ff05::/16")},                              // MLD
		guard.Rule{Permit: false, Groups: pf("226.0.0.0/8"), Sources: pf("10.0.0.0/8")}, // source-specific: not for (*,G)
	)
	tests := []struct {
		name  string
		typ   snoop.MessageType
		group string
		want  guard.Reason
	}{
		{"v2 report permitted by first rule", snoop.MsgIGMPv2Report, "239.1.1.1", guard.Pass},
		{"v2 report denied", snoop.MsgIGMPv2Report, "239.1.1.2", guard.ReasonACLDeny},
		{"v1 report denied", snoop.MsgIGMPv1Report, "239.9.9.9", guard.ReasonACLDeny},
		{"v2 leave denied", snoop.MsgIGMPv2Leave, "239.1.1.2", guard.ReasonACLDeny},
		{"no match permits", snoop.MsgIGMPv2Report, "225.1.1.1", guard.Pass},
		{"source-specific rule skipped for any-source join", snoop.MsgIGMPv2Report, "226.1.1.1", guard.Pass},
		{"mldv1 report denied", snoop.MsgMLDv1Report, "ff05::1:3", guard.ReasonACLDeny},
		{"mldv1 done denied", snoop.MsgMLDv1Done, "ff05::1:3", guard.ReasonACLDeny},
		{"mldv1 report other scope permitted", snoop.MsgMLDv1Report, "ff0e::1:3", guard.Pass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGuard(t, p)
			m := ok(tt.typ)
			m.Group = a(tt.group)
			got, n := g.FilterReport(0, &m)
			if got != tt.want {
				t.Fatalf("FilterReport = %v, want %v", got, tt.want)
			}
			if wantN := map[bool]int{true: 1, false: 0}[tt.want != guard.Pass]; n != wantN {
				t.Errorf("removed = %d, want %d", n, wantN)
			}
			if c := g.Counters(0)["acl-deny"]; (c == 1) != (tt.want == guard.ReasonACLDeny) {
				t.Errorf("acl-deny counter = %d", c)
			}
		})
	}
}

func rec(t snoop.RecordType, group string, srcs ...string) snoop.Record {
	r := snoop.Record{Type: t, Group: a(group)}
	for _, s := range srcs {
		r.Sources = append(r.Sources, a(s))
	}
	return r
}

func TestFilterReportV3(t *testing.T) {
	p := aclPort(
		guard.Rule{Permit: true, Groups: pf("232.1.1.0/24"), Sources: pf("10.1.0.0/16")}, // SSM from 10.1/16 only
		guard.Rule{Permit: false, Groups: pf("232.1.1.0/24")},
		guard.Rule{Permit: false, Groups: pf("225.0.0.0/8"), Sources: pf("10.66.0.0/16")},
		guard.Rule{Permit: false, Groups: pf("239.0.0.0/8")},
		guard.Rule{Permit: false, Groups: pf("ff05::/16"), Sources: pf("2001:db8:bad::/48")},
		guard.Rule{Permit: false, Groups: pf("ff08::/16")},
	)
	tests := []struct {
		name        string
		records     []snoop.Record
		want        guard.Reason
		wantRemoved int
		wantRecords []snoop.Record
	}{
		{
			name: "mixed: denied records removed, the rest kept in order",
			records: []snoop.Record{
				rec(snoop.ChangeToExclude, "225.1.1.1"),
				rec(snoop.ChangeToExclude, "239.1.1.1"),
				rec(snoop.ModeIsExclude, "226.1.1.1", "10.0.0.1"),
				rec(snoop.ModeIsExclude, "239.2.2.2"),
				rec(snoop.AllowNewSources, "227.1.1.1", "10.0.0.1"),
			},
			wantRemoved: 2,
			wantRecords: []snoop.Record{
				rec(snoop.ChangeToExclude, "225.1.1.1"),
				rec(snoop.ModeIsExclude, "226.1.1.1", "10.0.0.1"),
				rec(snoop.AllowNewSources, "227.1.1.1", "10.0.0.1"),
			},
		},
		{
			name: "source-prefix rule removes denied sources, keeps permitted ones",
			records: []snoop.Record{
				rec(snoop.ModeIsInclude, "225.1.1.1", "10.66.0.1", "10.1.0.1", "10.66.9.9"),
				rec(snoop.AllowNewSources, "225.1.1.2", "10.66.0.1"),
			},
			wantRemoved: 4, // three sources, then the emptied ALLOW record
			wantRecords: []snoop.Record{rec(snoop.ModeIsInclude, "225.1.1.1", "10.1.0.1")},
		},
		{
			name: "SSM permit-from-sources then deny: INCLUDE from allowed source passes, EXCLUDE denied",
			records: []snoop.Record{
				rec(snoop.AllowNewSources, "232.1.1.1", "10.1.2.3", "10.2.0.1"),
				rec(snoop.ChangeToExclude, "232.1.1.1"),
			},
			wantRemoved: 2,
			wantRecords: []snoop.Record{rec(snoop.AllowNewSources, "232.1.1.1", "10.1.2.3")},
		},
		{
			name:        "TO_IN of only denied sources becomes TO_IN({})",
			records:     []snoop.Record{rec(snoop.ChangeToInclude, "232.1.1.1", "10.2.0.1")},
			wantRemoved: 1,
			wantRecords: []snoop.Record{rec(snoop.ChangeToInclude, "232.1.1.1")},
		},
		{
			name: "BLOCK and leaves pass untouched, even for denied groups",
			records: []snoop.Record{
				rec(snoop.BlockOldSources, "232.1.1.1", "10.1.2.3", "10.2.0.1"),
				rec(snoop.ChangeToInclude, "239.1.1.1"),
			},
			wantRecords: []snoop.Record{
				rec(snoop.BlockOldSources, "232.1.1.1", "10.1.2.3", "10.2.0.1"),
				rec(snoop.ChangeToInclude, "239.1.1.1"),
			},
		},
		{
			name: "everything denied drops the report",
			records: []snoop.Record{
				rec(snoop.ChangeToExclude, "239.1.1.1"),
				rec(snoop.AllowNewSources, "225.9.9.9", "10.66.1.1"),
			},
			want:        guard.ReasonACLDeny,
			wantRemoved: 3,
			wantRecords: []snoop.Record{},
		},
		{
			name: "MLDv2: scope deny and source-prefix deny",
			records: []snoop.Record{
				rec(snoop.ChangeToExclude, "ff08::1"),
				rec(snoop.ModeIsInclude, "ff05::1:3", "2001:db8:bad::1", "2001:db8:1::1"),
				rec(snoop.ChangeToExclude, "ff05::1:3"),
			},
			wantRemoved: 2,
			wantRecords: []snoop.Record{
				rec(snoop.ModeIsInclude, "ff05::1:3", "2001:db8:1::1"),
				rec(snoop.ChangeToExclude, "ff05::1:3"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGuard(t, p)
			typ := snoop.MsgIGMPv3Report
			if tt.records[0].Group.Is6() {
				typ = snoop.MsgMLDv2Report
			}
			m := ok(typ)
			m.Records = tt.records
			got, n := g.FilterReport(0, &m)
			if got != tt.want || n != tt.wantRemoved {
				t.Fatalf("FilterReport = %v, %d; want %v, %d", got, n, tt.want, tt.wantRemoved)
			}
			if !slices.EqualFunc(m.Records, tt.wantRecords, func(x, y snoop.Record) bool {
				return x.Type == y.Type && x.Group == y.Group && slices.Equal(x.Sources, y.Sources)
			}) {
				t.Fatalf("records = %v\nwant      %v", m.Records, tt.wantRecords)
			}
			c := g.Counters(0)
			if c["acl-removed"] != uint64(tt.wantRemoved) {
				t.Errorf("acl-removed = %d, want %d", c["acl-removed"], tt.wantRemoved)
			}
			if (c["acl-deny"] == 1) != (tt.want == guard.ReasonACLDeny) {
				t.Errorf("acl-deny = %d", c["acl-deny"])
			}
		})
	}
}

func TestFilterReportNoACLAndQueries(t *testing.T) {
	g := newGuard(t, guard.HostPortDefaults(), aclPort(guard.Rule{Permit: false}))
	m := ok(snoop.MsgIGMPv3Report)
	if r, n := g.FilterReport(0, &m); r != guard.Pass || n != 0 || len(m.Records) != 1 {
		t.Fatalf("no ACL: %v %d %v", r, n, m.Records)
	}
	q := ok(snoop.MsgIGMPQuery)
	if r, _ := g.FilterReport(1, &q); r != guard.Pass {
		t.Fatalf("deny-all ACL on a query: %v, want pass (queries are not ACL'd)", r)
	}
	if r, _ := g.FilterReport(1, &m); r != guard.ReasonACLDeny {
		t.Fatalf("deny-all ACL: %v", r)
	}
}

func TestPermits(t *testing.T) {
	g := newGuard(t, aclPort(
		guard.Rule{Permit: true, Groups: pf("232.1.1.0/24"), Sources: pf("10.1.0.0/16")},
		guard.Rule{Permit: false, Groups: pf("232.1.1.0/24")},
	))
	for _, tt := range []struct {
		group, source string
		want          bool
	}{
		{"232.1.1.1", "", false},
		{"232.1.1.1", "10.1.0.5", true},
		{"232.1.1.1", "10.2.0.5", false},
		{"225.1.1.1", "", true},
		{"::ffff:232.1.1.1", "::ffff:10.1.0.5", true}, // IPv4-mapped forms match IPv4 rules
	} {
		var src netip.Addr
		if tt.source != "" {
			src = a(tt.source)
		}
		if got := g.Permits(0, a(tt.group), src); got != tt.want {
			t.Errorf("Permits(%s, %s) = %v, want %v", tt.group, tt.source, got, tt.want)
		}
	}
}
