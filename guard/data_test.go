package guard_test

import (
	"testing"

	"github.com/snoopswitch/snoopswitch/guard"
)

func TestData(t *testing.T) {
	senders := guard.HostPortDefaults()
	senders.Senders = []guard.SenderRule{
		{Permit: true, Sources: pf("10.0.0.5/32"), Groups: pf("239.1.0.0/16")},
		{Permit: false, Sources: pf("10.0.0.0/8")},
		{Permit: false, Groups: pf("ff0e::/16")},
	}
	senders.MaxTTL = 8
	tests := []struct {
		name          string
		policy        guard.PortPolicy
		group, source string
		ttl           uint8
		want          guard.Reason
	}{
		{"defaults permit", guard.HostPortDefaults(), "239.1.1.1", "10.0.0.9", 255, guard.Pass},
		{"first match permits", senders, "239.1.1.1", "10.0.0.5", 1, guard.Pass},
		{"permitted source, other group falls to deny", senders, "225.1.1.1", "10.0.0.5", 1, guard.ReasonSenderDeny},
		{"denied source prefix", senders, "239.1.1.1", "10.9.9.9", 1, guard.ReasonSenderDeny},
		{"no match permits", senders, "239.1.1.1", "192.0.2.1", 1, guard.Pass},
		{"ipv6 group deny", senders, "ff0e::1", "2001:db8::1", 1, guard.ReasonSenderDeny},
		{"ipv6 no match", senders, "ff05::1", "2001:db8::1", 1, guard.Pass},
		{"ipv4-mapped forms match", senders, "::ffff:239.1.1.1", "::ffff:10.9.9.9", 1, guard.ReasonSenderDeny},
		{"ttl at limit", senders, "239.1.1.1", "192.0.2.1", 8, guard.Pass},
		{"ttl above limit", senders, "239.1.1.1", "192.0.2.1", 9, guard.ReasonTTLExceeded},
		{"hop limit above limit", senders, "ff05::1", "2001:db8::1", 64, guard.ReasonTTLExceeded},
		{"sender deny before ttl", senders, "239.1.1.1", "10.9.9.9", 64, guard.ReasonSenderDeny},
		// Link-scoped groups never leave the link, and their senders use 255
		// on purpose: no TTL limit, but the sender policy still applies.
		{"mDNS ttl 255", senders, "224.0.0.251", "192.0.2.1", 255, guard.Pass},
		{"ipv4-mapped link-local", senders, "::ffff:224.0.0.251", "192.0.2.1", 255, guard.Pass},
		{"past 224.0.0.0/24 the limit holds", senders, "224.0.1.1", "192.0.2.1", 9, guard.ReasonTTLExceeded},
		{"neighbour solicitation hop limit 255", senders, "ff02::1:ff00:1", "2001:db8::1", 255, guard.Pass},
		{"interface-local hop limit 255", senders, "ff11::1", "2001:db8::1", 255, guard.Pass},
		{"realm-local is not link scope", senders, "ff03::1", "2001:db8::1", 9, guard.ReasonTTLExceeded},
		{"sender deny on a link-local group", senders, "224.0.0.251", "10.9.9.9", 255, guard.ReasonSenderDeny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGuard(t, tt.policy)
			if got := g.Data(0, a(tt.group), a(tt.source), tt.ttl); got != tt.want {
				t.Fatalf("Data = %v, want %v", got, tt.want)
			}
			if tt.want != guard.Pass && g.Counters(0)[tt.want.String()] != 1 {
				t.Fatalf("%s not counted", tt.want)
			}
		})
	}
}

func TestAdminScopedAndEgress(t *testing.T) {
	tests := []struct {
		group string
		want  bool
	}{
		{"239.0.0.1", true},
		{"239.255.255.255", true},
		{"238.255.255.255", false},
		{"224.0.0.251", false}, // link-local: same link
		{"232.1.1.1", false},
		{"::ffff:239.1.1.1", true},
		{"ff00::1", true},    // reserved scope
		{"ff01::1", true},    // interface-local: never on a wire
		{"ff02::fb", false},  // link-local: must reach every port
		{"ff03::1", true},    // realm-local
		{"ff04::1", true},    // admin-local
		{"ff05::1:3", true},  // site-local
		{"ff08::1", false},   // organisation-local
		{"ff0e::1", false},   // global
		{"ff15::1", true},    // transient, site-local
		{"ff35::1234", true}, // SSM, site-local
		{"ff3e::1234", false},
		{"ff75:140:2001:db8::1", true}, // embedded RP, site-local
		{"ff12::1", false},
		{"2001:db8::1", false},
		{"10.0.0.1", false},
	}
	g := newGuard(t, with2(guard.HostPortDefaults(), func(p *guard.PortPolicy) { p.ScopeBoundary = true }), guard.HostPortDefaults())
	for _, tt := range tests {
		if got := guard.AdminScoped(a(tt.group)); got != tt.want {
			t.Errorf("AdminScoped(%s) = %v, want %v", tt.group, got, tt.want)
		}
		if got := g.Egress(0, a(tt.group), a("198.18.0.1")); got == tt.want {
			t.Errorf("Egress(boundary, %s) = %v, want %v", tt.group, got, !tt.want)
		}
		if !g.Egress(1, a(tt.group), a("198.18.0.1")) {
			t.Errorf("Egress(non-boundary, %s) = false", tt.group)
		}
	}
	blocked := 0
	for _, tt := range tests {
		if tt.want {
			blocked++
		}
	}
	if c := g.Counters(0)["scope-boundary"]; c != uint64(blocked) {
		t.Errorf("scope-boundary counter = %d, want %d", c, blocked)
	}
}

func TestAllowNewEntry(t *testing.T) {
	deny := guard.HostPortDefaults()
	deny.GroupLimit = 3
	repl := deny
	repl.LimitAction = guard.LimitReplace
	unlimited := guard.RouterPortDefaults()
	tests := []struct {
		name                          string
		policy                        guard.PortPolicy
		port, evictable, sw, swLimit  int
		wantAllow, wantReplace, count bool
	}{
		{"below limits", deny, 2, 2, 10, 100, true, false, false},
		{"port at limit, deny", deny, 3, 3, 10, 100, false, false, true},
		{"port over limit (after a reload lowered it), deny", deny, 5, 5, 10, 100, false, false, true},
		{"port at limit, replace own", repl, 3, 2, 10, 100, true, true, false},
		{"port at limit, replace but all its entries in the group being changed", repl, 3, 0, 10, 100, false, false, true},
		{"switch full, deny", deny, 1, 1, 100, 100, false, false, true},
		{"switch full, replace own", repl, 1, 1, 100, 100, true, true, false},
		{"switch full, replace with nothing of its own", repl, 0, 0, 100, 100, false, false, true},
		{"no port limit, no switch limit", unlimited, 1_000_000, 1_000_000, 1_000_000, 0, true, false, false},
		{"no port limit, switch full", unlimited, 5, 5, 100, 100, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGuard(t, tt.policy)
			allow, replace := g.AllowNewEntry(0, tt.port, tt.evictable, tt.sw, tt.swLimit)
			if allow != tt.wantAllow || replace != tt.wantReplace {
				t.Fatalf("AllowNewEntry = %v, %v; want %v, %v", allow, replace, tt.wantAllow, tt.wantReplace)
			}
			if c := g.Counters(0)["group-limit"]; (c == 1) != tt.count {
				t.Fatalf("group-limit counter = %d", c)
			}
		})
	}
}

// TestAllowNewHost: host tracking stops at the port's HostLimit, counts
// each refusal, lets a host shrink or stay, and 0 means no limit.
func TestAllowNewHost(t *testing.T) {
	small := guard.HostPortDefaults()
	small.HostLimit = 4
	unlimited := guard.HostPortDefaults()
	unlimited.HostLimit = 0
	tests := []struct {
		name         string
		policy       guard.PortPolicy
		others, need int
		want         bool
	}{
		{"below the limit", small, 1, 2, true},
		{"exactly at the limit", small, 2, 2, true},
		{"one over", small, 3, 2, false},
		{"over (after a reload lowered it)", small, 10, 1, false},
		{"the default holds a VM host", guard.HostPortDefaults(), guard.DefaultHostLimit - 2, 2, true},
		{"the default is a limit", guard.HostPortDefaults(), guard.DefaultHostLimit, 1, false},
		{"a router port's default is a limit", guard.RouterPortDefaults(), guard.DefaultHostLimit, 1, false},
		{"no limit", unlimited, 1_000_000, 100, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGuard(t, tt.policy)
			if got := g.AllowNewHost(0, tt.others, tt.need); got != tt.want {
				t.Fatalf("AllowNewHost(%d, %d) = %v, want %v", tt.others, tt.need, got, tt.want)
			}
			if c := g.Counters(0)["host-limit"]; (c == 1) == tt.want {
				t.Fatalf("host-limit counter = %d after allow %v", c, tt.want)
			}
		})
	}
}

// TestEgressACL: data the port's ACL denies never leaves through it, even
// when the switch would flood it there; the refusal is counted on that port.
func TestEgressACL(t *testing.T) {
	p := guard.HostPortDefaults()
	p.ACL = []guard.Rule{
		{Permit: true, Groups: pf("232.1.1.1/32"), Sources: pf("198.18.0.5/32")},
		{Permit: false, Groups: pf("232.1.1.1/32")},
		{Permit: false, Groups: pf("239.1.0.0/16")},
	}
	g := newGuard(t, p, guard.HostPortDefaults())
	for _, tt := range []struct {
		group, source string
		want          bool
	}{
		{"239.1.2.3", "198.18.0.1", false},
		{"239.2.2.2", "198.18.0.1", true},
		{"232.1.1.1", "198.18.0.5", true},
		{"232.1.1.1", "198.18.0.6", false},
	} {
		if got := g.Egress(0, a(tt.group), a(tt.source)); got != tt.want {
			t.Errorf("Egress(port with ACL, %s from %s) = %v, want %v", tt.group, tt.source, got, tt.want)
		}
		if !g.Egress(1, a(tt.group), a(tt.source)) {
			t.Errorf("Egress(port without ACL, %s from %s) = false", tt.group, tt.source)
		}
	}
	if n := g.Counters(0)["acl-egress"]; n != 2 {
		t.Errorf("acl-egress = %d, want 2", n)
	}
}
