package guard_test

import (
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/guard"
)

func TestReasonStrings(t *testing.T) {
	want := []string{"router-guard", "min-version", "querier-guard", "bad-ttl", "no-router-alert",
		"bad-query-dst", "bad-source", "acl-deny", "group-limit", "sender-deny", "ttl-exceeded",
		"scope-boundary", "rate-limit", "bad-dst", "acl-egress", "host-limit"}
	var got []string
	for _, r := range guard.Reasons() {
		got = append(got, r.String())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Reasons = %v\nwant     %v", got, want)
	}
	if guard.Pass.String() != "pass" || guard.Reason(200).String() != "unknown" {
		t.Fatal("Pass/out-of-range strings")
	}
}

func TestDefaults(t *testing.T) {
	h := guard.HostPortDefaults()
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	if h.Router || !h.RouterGuard || !h.StrictRouterAlert || h.MinIGMPVersion != 1 || h.MinMLDVersion != 1 ||
		h.RateLimit != 100 || h.RateBurst != 200 || h.GroupLimit == 0 || h.LimitAction != guard.LimitDeny {
		t.Fatalf("HostPortDefaults = %+v", h)
	}
	r := guard.RouterPortDefaults()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	if !r.Router || r.RouterGuard || r.StrictRouterAlert || r.RateLimit == 0 {
		t.Fatalf("RouterPortDefaults = %+v", r)
	}
	// The zero policy is valid and permissive.
	if err := (guard.PortPolicy{}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*guard.PortPolicy)
		want []string // substrings of the error
	}{
		{"router and router guard", func(p *guard.PortPolicy) { p.Router = true }, []string{"RouterGuard", "clear Router or RouterGuard"}},
		{"igmp version 4", func(p *guard.PortPolicy) { p.MinIGMPVersion = 4 }, []string{"MinIGMPVersion 4", "1, 2 or 3"}},
		{"mld version 3", func(p *guard.PortPolicy) { p.MinMLDVersion = 3 }, []string{"MinMLDVersion 3", "1 or 2"}},
		{"querier zero prefix", func(p *guard.PortPolicy) { p.Queriers = []netip.Prefix{{}} }, []string{"Queriers[0]", "address/length"}},
		{"querier host bits", func(p *guard.PortPolicy) { p.Queriers = []netip.Prefix{pf("192.0.2.1/24")} }, []string{"Queriers[0]", "did you mean 192.0.2.0/24"}},
		{"querier multicast", func(p *guard.PortPolicy) { p.Queriers = []netip.Prefix{pf("224.0.0.1/32")} }, []string{"Queriers[0]", "sources are unicast"}},
		{"acl group not multicast", func(p *guard.PortPolicy) { p.ACL = []guard.Rule{{Groups: pf("10.0.0.0/8")}} }, []string{"ACL[0].Groups 10.0.0.0/8", "224.0.0.0/4"}},
		{"acl group too wide", func(p *guard.PortPolicy) { p.ACL = []guard.Rule{{Groups: pf("fe00::/7")}} }, []string{"ACL[0].Groups", "ff00::/8"}},
		{"acl mixed families", func(p *guard.PortPolicy) {
			p.ACL = []guard.Rule{{}, {Groups: pf("239.0.0.0/8"), Sources: pf("2001:db8::/32")}}
		}, []string{"ACL[1]", "different IP families"}},
		{"acl mapped", func(p *guard.PortPolicy) { p.ACL = []guard.Rule{{Groups: pf("::ffff:239.0.0.0/104")}} }, []string{"ACL[0].Groups", "write it as IPv4, 239.0.0.0/8"}},
		{"group limit negative", func(p *guard.PortPolicy) { p.GroupLimit = -1 }, []string{"GroupLimit -1", "0 = unlimited"}},
		{"host limit negative", func(p *guard.PortPolicy) { p.HostLimit = -1 }, []string{"HostLimit -1", "0 = unlimited"}},
		{"limit action", func(p *guard.PortPolicy) { p.LimitAction = 7 }, []string{"LimitAction 7", "LimitDeny or LimitReplace"}},
		{"sender source multicast", func(p *guard.PortPolicy) { p.Senders = []guard.SenderRule{{Sources: pf("239.0.0.0/8")}} }, []string{"Senders[0].Sources"}},
		{"max ttl", func(p *guard.PortPolicy) { p.MaxTTL = 256 }, []string{"MaxTTL 256", "0..255"}},
		{"rate NaN", func(p *guard.PortPolicy) { p.RateLimit = math.NaN() }, []string{"RateLimit NaN", "finite"}},
		{"rate negative", func(p *guard.PortPolicy) { p.RateLimit = -1 }, []string{"RateLimit -1"}},
		{"burst negative", func(p *guard.PortPolicy) { p.RateBurst = -1 }, []string{"RateBurst -1"}},
		{"two errors at once", func(p *guard.PortPolicy) { p.MaxTTL, p.GroupLimit = -1, -1 }, []string{"MaxTTL -1", "GroupLimit -1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := guard.HostPortDefaults()
			tt.mod(&p)
			err := p.Validate()
			if err == nil {
				t.Fatal("Validate = nil")
			}
			for _, w := range append(tt.want, "guard: ") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestNewAndSetPolicies(t *testing.T) {
	bad := guard.HostPortDefaults()
	bad.MaxTTL = -5
	if _, err := guard.New([]guard.PortPolicy{guard.HostPortDefaults(), bad}); err == nil ||
		!strings.Contains(err.Error(), "port 1") || !strings.Contains(err.Error(), "MaxTTL -5") {
		t.Fatalf("New with a bad port 1: %v", err)
	}
	if _, err := guard.New(make([]guard.PortPolicy, fdb.MaxPorts+1)); err == nil {
		t.Fatal("New with too many ports: nil error")
	}

	acl := []guard.Rule{{Permit: false, Groups: pf("239.0.0.0/8")}}
	p := guard.HostPortDefaults()
	p.ACL = acl
	g := newGuard(t, p)
	acl[0].Permit = true // the caller's slice is not the guard's
	if g.Policy(0).ACL[0].Permit {
		t.Fatal("Guard shares the caller's ACL slice")
	}
	g.Policy(0).ACL[0].Permit = true // nor is Policy's copy
	if g.Policy(0).ACL[0].Permit {
		t.Fatal("Policy returns the guard's own ACL slice")
	}

	// A failed reload changes nothing.
	g.Count(0, guard.ReasonBadTTL)
	if err := g.SetPolicies([]guard.PortPolicy{bad}); err == nil {
		t.Fatal("SetPolicies(bad) = nil")
	}
	if g.Policy(0).MaxTTL != 0 || len(g.Policy(0).ACL) != 1 {
		t.Fatal("a failed reload changed the policy")
	}
	// A good one replaces it; counters carry over.
	if err := g.SetPolicies([]guard.PortPolicy{guard.RouterPortDefaults()}); err != nil {
		t.Fatal(err)
	}
	if !g.Policy(0).Router || g.Counters(0)["bad-ttl"] != 1 {
		t.Fatal("reload did not apply, or lost counters")
	}
	// Zero minimum versions read back as 1.
	g = newGuard(t, guard.PortPolicy{})
	if pp := g.Policy(0); pp.MinIGMPVersion != 1 || pp.MinMLDVersion != 1 {
		t.Fatalf("zero versions in force as %d/%d", pp.MinIGMPVersion, pp.MinMLDVersion)
	}
}

func TestCounters(t *testing.T) {
	g := newGuard(t)
	g.Count(3, guard.ReasonGroupLimit)
	g.Count(3, guard.ReasonGroupLimit)
	g.Count(3, guard.Pass) // not a drop
	g.Count(fdb.MaxPorts+3, guard.ReasonGroupLimit)
	c := g.Counters(3)
	if len(c) != len(guard.Reasons())+1 || c["group-limit"] != 2 || c["pass"] != 0 {
		t.Fatalf("Counters(3) = %v", c)
	}
	if c := g.Counters(fdb.MaxPorts + 3); c["group-limit"] != 0 {
		t.Fatalf("Counters beyond MaxPorts = %v", c)
	}
}
