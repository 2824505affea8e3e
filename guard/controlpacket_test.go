package guard_test

import (
	"net/netip"
	"testing"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/snoop"
)

func TestControlPacket(t *testing.T) {
	host := guard.HostPortDefaults()
	router := guard.RouterPortDefaults()
	learning := guard.HostPortDefaults() // a host port allowed to learn routers
	learning.RouterGuard = false
	lax := guard.HostPortDefaults()
	lax.StrictRouterAlert = false
	minV3 := guard.HostPortDefaults()
	minV3.MinIGMPVersion, minV3.MinMLDVersion = 3, 2
	minV3Learning := minV3
	minV3Learning.RouterGuard = false
	minV3Router := guard.RouterPortDefaults()
	minV3Router.MinIGMPVersion, minV3Router.MinMLDVersion = 3, 2
	sw := guard.SwitchPortDefaults() // a link to another switch of the fabric
	queriers := guard.RouterPortDefaults()
	queriers.Queriers = []netip.Prefix{pf("192.0.2.1/32"), pf("fe80::1/128")}

	v1 := func(m *snoop.Message) { m.Query.Version, m.RouterAlert = 1, false }
	v2 := func(m *snoop.Message) { m.Query.Version = 2 }
	mldv1 := func(m *snoop.Message) { m.Query.Version = 1 }
	noRA := func(m *snoop.Message) { m.RouterAlert = false }
	ttl := func(n uint8) func(*snoop.Message) { return func(m *snoop.Message) { m.TTL = n } }
	src := func(s string) func(*snoop.Message) { return func(m *snoop.Message) { m.Src = a(s) } }
	dst := func(s string) func(*snoop.Message) { return func(m *snoop.Message) { m.Dst = a(s) } }
	gsq := func(g, d string) func(*snoop.Message) {
		return func(m *snoop.Message) { m.Query.Group, m.Dst = a(g), a(d) }
	}

	tests := []struct {
		name   string
		policy guard.PortPolicy
		msg    snoop.Message
		want   guard.Reason
	}{
		// Conforming messages on the ports they belong on.
		{"igmpv3 report host", host, ok(snoop.MsgIGMPv3Report), guard.Pass},
		{"igmpv2 report host", host, ok(snoop.MsgIGMPv2Report), guard.Pass},
		{"igmpv1 report without RA host", host, with(ok(snoop.MsgIGMPv1Report), noRA), guard.Pass},
		{"igmpv2 leave host", host, ok(snoop.MsgIGMPv2Leave), guard.Pass},
		{"leave to its group (RFC 2236 s9)", host, with(ok(snoop.MsgIGMPv2Leave), dst("225.1.1.1")), guard.Pass},
		{"igmpv3 report from 0.0.0.0 (RFC 3376 s4.2.13)", host, with(ok(snoop.MsgIGMPv3Report), src("0.0.0.0")), guard.Pass},
		{"mldv2 report host", host, ok(snoop.MsgMLDv2Report), guard.Pass},
		{"mldv1 report host", host, ok(snoop.MsgMLDv1Report), guard.Pass},
		{"mldv1 done host", host, ok(snoop.MsgMLDv1Done), guard.Pass},
		{"mldv2 report from :: (RFC 3810 s5.2.13)", host, with(ok(snoop.MsgMLDv2Report), src("::")), guard.Pass},
		{"mrd solicitation host", host, ok(snoop.MsgMRDSolicitation), guard.Pass},
		{"unknown igmp type host", host, with(ok(snoop.MsgUnknown), dst("225.1.1.1")), guard.Pass},
		{"igmp query router", router, ok(snoop.MsgIGMPQuery), guard.Pass},
		{"igmpv1 query router", router, with(ok(snoop.MsgIGMPQuery), v1), guard.Pass},
		{"igmp query from 0.0.0.0 router", router, with(ok(snoop.MsgIGMPQuery), src("0.0.0.0")), guard.Pass},
		{"igmp group query router", router, with(ok(snoop.MsgIGMPQuery), gsq("225.1.1.1", "225.1.1.1")), guard.Pass},
		{"mld query router", router, ok(snoop.MsgMLDQuery), guard.Pass},
		{"mld group query router", router, with(ok(snoop.MsgMLDQuery), gsq("ff05::1:3", "ff05::1:3")), guard.Pass},
		{"pim hello router", router, ok(snoop.MsgPIMHello), guard.Pass},
		{"mrd advertisement router", router, ok(snoop.MsgMRDAdvertisement), guard.Pass},
		{"igmp query, RA not strict on router port", router, with(ok(snoop.MsgIGMPQuery), noRA), guard.Pass},
		{"igmp query learning host port", learning, ok(snoop.MsgIGMPQuery), guard.Pass},
		{"igmp query switch port", sw, ok(snoop.MsgIGMPQuery), guard.Pass},
		{"igmp query from 0.0.0.0 switch port", sw, with(ok(snoop.MsgIGMPQuery), src("0.0.0.0")), guard.Pass},
		{"mld query switch port", sw, ok(snoop.MsgMLDQuery), guard.Pass},
		{"pim hello switch port", sw, ok(snoop.MsgPIMHello), guard.Pass},
		{"mrd advertisement switch port", sw, ok(snoop.MsgMRDAdvertisement), guard.Pass},
		{"igmpv3 report switch port", sw, ok(snoop.MsgIGMPv3Report), guard.Pass},
		{"igmp query no RA switch port", sw, with(ok(snoop.MsgIGMPQuery), noRA), guard.ReasonNoRouterAlert},
		{"igmp query ttl 2 switch port", sw, with(ok(snoop.MsgIGMPQuery), ttl(2)), guard.ReasonBadTTL},
		{"mld query from global switch port", sw, with(ok(snoop.MsgMLDQuery), src("2001:db8::1")), guard.ReasonBadSource},

		// bad-ttl
		{"igmpv3 report ttl 2", host, with(ok(snoop.MsgIGMPv3Report), ttl(2)), guard.ReasonBadTTL},
		{"igmpv1 report ttl 64", host, with(ok(snoop.MsgIGMPv1Report), ttl(64)), guard.ReasonBadTTL},
		{"igmp leave ttl 0", host, with(ok(snoop.MsgIGMPv2Leave), ttl(0)), guard.ReasonBadTTL},
		{"mldv2 report hop limit 255", host, with(ok(snoop.MsgMLDv2Report), ttl(255)), guard.ReasonBadTTL},
		{"igmp query ttl 2 router", router, with(ok(snoop.MsgIGMPQuery), ttl(2)), guard.ReasonBadTTL},
		{"mld query hop limit 2 router", router, with(ok(snoop.MsgMLDQuery), ttl(2)), guard.ReasonBadTTL},
		{"pim hello ttl is not checked", router, with(ok(snoop.MsgPIMHello), ttl(2)), guard.Pass},

		// no-router-alert
		{"igmpv2 report no RA strict", host, with(ok(snoop.MsgIGMPv2Report), noRA), guard.ReasonNoRouterAlert},
		{"igmpv3 report no RA strict", host, with(ok(snoop.MsgIGMPv3Report), noRA), guard.ReasonNoRouterAlert},
		{"igmpv2 leave no RA strict", host, with(ok(snoop.MsgIGMPv2Leave), noRA), guard.ReasonNoRouterAlert},
		{"mldv1 report no RA strict", host, with(ok(snoop.MsgMLDv1Report), noRA), guard.ReasonNoRouterAlert},
		{"mldv2 report no RA strict", host, with(ok(snoop.MsgMLDv2Report), noRA), guard.ReasonNoRouterAlert},
		{"igmpv3 report no RA lax", lax, with(ok(snoop.MsgIGMPv3Report), noRA), guard.Pass},
		{"mldv2 report no RA lax", lax, with(ok(snoop.MsgMLDv2Report), noRA), guard.Pass},
		{"igmpv3 query no RA strict learning", with2(learning, func(p *guard.PortPolicy) { p.StrictRouterAlert = true }), with(ok(snoop.MsgIGMPQuery), noRA), guard.ReasonNoRouterAlert},

		// bad-query-dst
		{"general query to group", router, with(ok(snoop.MsgIGMPQuery), dst("225.1.1.1")), guard.ReasonBadQueryDst},
		{"general query to unicast", router, with(ok(snoop.MsgIGMPQuery), dst("192.0.2.20")), guard.ReasonBadQueryDst},
		{"general query to 224.0.0.2", router, with(ok(snoop.MsgIGMPQuery), dst("224.0.0.2")), guard.ReasonBadQueryDst},
		{"group query to other group", router, with(ok(snoop.MsgIGMPQuery), gsq("225.1.1.1", "225.1.1.2")), guard.ReasonBadQueryDst},
		{"group query to unicast", router, with(ok(snoop.MsgIGMPQuery), gsq("225.1.1.1", "192.0.2.20")), guard.ReasonBadQueryDst},
		{"mld general query to ff02::2", router, with(ok(snoop.MsgMLDQuery), dst("ff02::2")), guard.ReasonBadQueryDst},
		{"mld group query to unicast", router, with(ok(snoop.MsgMLDQuery), gsq("ff05::1:3", "fe80::20")), guard.ReasonBadQueryDst},

		// bad-dst
		{"igmpv2 report to unicast", host, with(ok(snoop.MsgIGMPv2Report), dst("192.0.2.1")), guard.ReasonBadDst},
		{"igmpv3 report to unicast", host, with(ok(snoop.MsgIGMPv3Report), dst("192.0.2.1")), guard.ReasonBadDst},
		{"mldv2 report to unicast", host, with(ok(snoop.MsgMLDv2Report), dst("fe80::1")), guard.ReasonBadDst},
		{"mldv1 done to unicast", host, with(ok(snoop.MsgMLDv1Done), dst("2001:db8::1")), guard.ReasonBadDst},

		// bad-source
		{"igmp report from multicast", host, with(ok(snoop.MsgIGMPv3Report), src("224.0.0.1")), guard.ReasonBadSource},
		{"igmp report from broadcast", host, with(ok(snoop.MsgIGMPv2Report), src("255.255.255.255")), guard.ReasonBadSource},
		{"igmp report from loopback", host, with(ok(snoop.MsgIGMPv2Report), src("127.0.0.1")), guard.ReasonBadSource},
		{"igmp query from class E", router, with(ok(snoop.MsgIGMPQuery), src("240.0.0.1")), guard.ReasonBadSource},
		{"pim hello from multicast", router, with(ok(snoop.MsgPIMHello), src("224.0.0.13")), guard.ReasonBadSource},
		{"mld query from global", router, with(ok(snoop.MsgMLDQuery), src("2001:db8::1")), guard.ReasonBadSource},
		{"mld query from :: (RFC 3810 s5.1.14)", router, with(ok(snoop.MsgMLDQuery), src("::")), guard.ReasonBadSource},
		{"mldv2 report from global", host, with(ok(snoop.MsgMLDv2Report), src("2001:db8::10")), guard.ReasonBadSource},
		{"mldv1 report from global", host, with(ok(snoop.MsgMLDv1Report), src("2001:db8::10")), guard.ReasonBadSource},
		{"mldv2 report from multicast", host, with(ok(snoop.MsgMLDv2Report), src("ff02::1")), guard.ReasonBadSource},
		{"mldv2 report from ::1", host, with(ok(snoop.MsgMLDv2Report), src("::1")), guard.ReasonBadSource},
		{"message with no source", host, with(ok(snoop.MsgIGMPv3Report), func(m *snoop.Message) { m.Src = netip.Addr{} }), guard.ReasonBadSource},

		// router-guard
		{"igmpv3 query host", host, ok(snoop.MsgIGMPQuery), guard.ReasonRouterGuard},
		{"igmpv2 query host", host, with(ok(snoop.MsgIGMPQuery), v2), guard.ReasonRouterGuard},
		{"igmpv1 query host", host, with(ok(snoop.MsgIGMPQuery), v1), guard.ReasonRouterGuard},
		{"igmp group query host", host, with(ok(snoop.MsgIGMPQuery), gsq("225.1.1.1", "225.1.1.1")), guard.ReasonRouterGuard},
		{"mld query host", host, ok(snoop.MsgMLDQuery), guard.ReasonRouterGuard},
		{"pim hello host", host, ok(snoop.MsgPIMHello), guard.ReasonRouterGuard},
		{"pim hello ipv6 host", host, with(ok(snoop.MsgPIMHello), func(m *snoop.Message) { m.Family, m.Src, m.Dst = 6, a("fe80::1"), a("ff02::d") }), guard.ReasonRouterGuard},
		{"mrd advertisement host", host, ok(snoop.MsgMRDAdvertisement), guard.ReasonRouterGuard},
		{"mrd termination host", host, ok(snoop.MsgMRDTermination), guard.ReasonRouterGuard},
		{"dvmrp (unknown to 224.0.0.4) host", host, with(ok(snoop.MsgUnknown), dst("224.0.0.4")), guard.ReasonRouterGuard},
		{"pimv1 (unknown to 224.0.0.2) host", host, with(ok(snoop.MsgUnknown), dst("224.0.0.2")), guard.ReasonRouterGuard},
		{"pim join (unknown to 224.0.0.13) host", host, with(ok(snoop.MsgUnknown), dst("224.0.0.13")), guard.ReasonRouterGuard},
		{"dvmrp router", router, with(ok(snoop.MsgUnknown), dst("224.0.0.4")), guard.Pass},
		{"router guard before min version", minV3, with(ok(snoop.MsgIGMPQuery), v2), guard.ReasonRouterGuard},

		// querier-guard
		{"query from listed querier", queriers, with(ok(snoop.MsgIGMPQuery), src("192.0.2.1")), guard.Pass},
		{"mld query from listed querier", queriers, ok(snoop.MsgMLDQuery), guard.Pass},
		{"query from unlisted lower address", queriers, with(ok(snoop.MsgIGMPQuery), src("192.0.2.0")), guard.ReasonQuerierGuard},
		{"query from 0.0.0.0 unlisted", queriers, with(ok(snoop.MsgIGMPQuery), src("0.0.0.0")), guard.ReasonQuerierGuard},
		{"mld query from unlisted", queriers, with(ok(snoop.MsgMLDQuery), src("fe80::2")), guard.ReasonQuerierGuard},
		{"reports are not querier-guarded", queriers, ok(snoop.MsgIGMPv3Report), guard.Pass},

		// min-version
		{"igmpv1 report min 3", minV3, with(ok(snoop.MsgIGMPv1Report), noRA), guard.ReasonMinVersion},
		{"igmpv2 report min 3", minV3, ok(snoop.MsgIGMPv2Report), guard.ReasonMinVersion},
		{"igmpv2 leave min 3", minV3, ok(snoop.MsgIGMPv2Leave), guard.ReasonMinVersion},
		{"igmpv3 report min 3", minV3, ok(snoop.MsgIGMPv3Report), guard.Pass},
		{"mldv1 report min 2", minV3, ok(snoop.MsgMLDv1Report), guard.ReasonMinVersion},
		{"mldv1 done min 2", minV3, ok(snoop.MsgMLDv1Done), guard.ReasonMinVersion},
		{"mldv2 report min 2", minV3, ok(snoop.MsgMLDv2Report), guard.Pass},
		{"igmpv1 query non-router min 3", minV3Learning, with(ok(snoop.MsgIGMPQuery), v1), guard.ReasonMinVersion},
		{"igmpv2 query non-router min 3", minV3Learning, with(ok(snoop.MsgIGMPQuery), v2), guard.ReasonMinVersion},
		{"igmpv3 query non-router min 3", minV3Learning, ok(snoop.MsgIGMPQuery), guard.Pass},
		{"mldv1 query non-router min 2", minV3Learning, with(ok(snoop.MsgMLDQuery), mldv1), guard.ReasonMinVersion},
		{"igmpv1 query router min 3", minV3Router, with(ok(snoop.MsgIGMPQuery), v1), guard.Pass},
		{"mldv1 query router min 2", minV3Router, with(ok(snoop.MsgMLDQuery), mldv1), guard.Pass},
		{"igmpv2 report on router port min 3", minV3Router, ok(snoop.MsgIGMPv2Report), guard.ReasonMinVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGuard(t, tt.policy)
			m := tt.msg
			if got := g.ControlPacket(0, &m); got != tt.want {
				t.Fatalf("ControlPacket = %v, want %v", got, tt.want)
			}
			c := g.Counters(0)
			for _, r := range guard.Reasons() {
				want := uint64(0)
				if r == tt.want {
					want = 1
				}
				if c[r.String()] != want {
					t.Errorf("counter %s = %d, want %d", r, c[r.String()], want)
				}
			}
		})
	}
}

func with2(p guard.PortPolicy, f func(*guard.PortPolicy)) guard.PortPolicy {
	f(&p)
	return p
}

// A port the policy set does not name is guarded with HostPortDefaults, not
// left open.
func TestControlUnconfiguredPortIsHostPort(t *testing.T) {
	g := newGuard(t, guard.RouterPortDefaults())
	m := ok(snoop.MsgIGMPQuery)
	if got := g.ControlPacket(0, &m); got != guard.Pass {
		t.Fatalf("router port: %v", got)
	}
	if got := g.ControlPacket(7, &m); got != guard.ReasonRouterGuard {
		t.Fatalf("unconfigured port 7: %v, want router-guard", got)
	}
	if got := g.Policy(fdb.PortID(7)); !got.RouterGuard || got.Router {
		t.Fatalf("Policy(7) = %+v, want host defaults", got)
	}
}
