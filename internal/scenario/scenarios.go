package scenario

import "fmt"

// datagrams is how many datagrams every stream sends.
const datagrams = 10

// Sections of docs/COMPARE.md that explain where the Linux bridge differs.
const (
	bridgeSnoopsLinkLocal6 = "ipv6-link-local"
	bridgeFloodsControl    = "control-flooding"
	bridgeNoSSMRange       = "ssm-range"
)

// All returns the scenarios the comparison runs, in order. Every scenario
// uses groups of its own (CheckAll), because they share one lab.
func All() []Scenario {
	var all []Scenario

	// A member receives the group's traffic, a host that did not join does
	// not: for every protocol version a host may speak.
	for _, v := range []struct {
		name      string
		igmp, mld int
		group     string
	}{
		{"IGMPv1", 1, 0, "239.1.1.1"},
		{"IGMPv2", 2, 0, "239.1.1.2"},
		{"IGMPv3", 3, 0, "239.1.1.3"},
		{"MLDv1", 0, 1, "ff0e::1:1"},
		{"MLDv2", 0, 2, "ff0e::1:2"},
	} {
		all = append(all, Scenario{
			Name: v.name + " member and non-member",
			Why:  "data goes to the host that joined, not to the one that did not",
			Hosts: []Host{
				{Name: "src", IGMP: v.igmp, MLD: v.mld},
				{Name: "member", IGMP: v.igmp, MLD: v.mld},
				{Name: "other", IGMP: v.igmp, MLD: v.mld},
			},
			Steps: []Step{
				join("member", v.group),
				send("src", "from src", v.group, datagrams),
			},
			Expect: []Expect{
				receives("member", Exactly(datagrams), "from src"),
				receives("other", None(), "from src"),
			},
		})
	}

	all = append(all,
		Scenario{
			Name:  "32 groups share a MAC",
			Why:   "224.1.1.1 and 225.1.1.1 both map to 01:00:5e:01:01:01: forwarding by IP group, not by MAC",
			Hosts: []Host{{Name: "src"}, {Name: "a"}, {Name: "b"}},
			Steps: []Step{
				join("a", "224.1.1.1"),
				join("b", "225.1.1.1"),
				send("src", "to 224.1.1.1", "224.1.1.1", datagrams),
				send("src", "to 225.1.1.1", "225.1.1.1", datagrams),
			},
			Expect: []Expect{
				receives("a", Exactly(datagrams), "to 224.1.1.1"),
				receives("a", None(), "to 225.1.1.1"),
				receives("b", None(), "to 224.1.1.1"),
				receives("b", Exactly(datagrams), "to 225.1.1.1"),
			},
		},
	)

	// SSM: a receiver of (S1,G) gets S1's traffic and not S2's.
	for _, v := range []struct{ name, group string }{{"IGMPv3", "232.1.1.1"}, {"MLDv2", "ff3e::8000:1"}} {
		all = append(all, Scenario{
			Name:  fmt.Sprintf("SSM (S1,%s) %s", v.group, v.name),
			Why:   "an INCLUDE {S1} receiver gets S1's traffic only; a non-member gets neither",
			Hosts: []Host{{Name: "s1"}, {Name: "s2"}, {Name: "rx"}, {Name: "other"}},
			Steps: []Step{
				joinSource("rx", v.group, "s1"),
				send("s1", "from s1", v.group, datagrams),
				send("s2", "from s2", v.group, datagrams),
			},
			Expect: []Expect{
				receives("rx", Exactly(datagrams), "from s1"),
				receives("rx", None(), "from s2"),
				receives("other", None(), "from s1"),
				receives("other", None(), "from s2"),
			},
		})
	}

	all = append(all,
		Scenario{
			Name:  "IGMPv3 EXCLUDE {S2}",
			Why:   "a receiver of every source but S2 gets S1's traffic and not S2's",
			Hosts: []Host{{Name: "s1"}, {Name: "s2"}, {Name: "rx"}},
			Steps: []Step{
				joinExclude("rx", "239.1.1.8", "s2"),
				send("s1", "from s1", "239.1.1.8", datagrams),
				send("s2", "from s2", "239.1.1.8", datagrams),
			},
			Expect: []Expect{
				receives("rx", Exactly(datagrams), "from s1"),
				receives("rx", None(), "from s2"),
			},
		},
	)

	// A leave removes the leaver's port only; the other member's port keeps
	// the group (it answers the group-specific query).
	for _, v := range []struct {
		name      string
		igmp, mld int
		group     string
	}{
		{"IGMPv2", 2, 0, "239.1.1.9"},
		{"IGMPv3", 3, 0, "239.1.1.10"},
		{"MLDv2", 0, 2, "ff0e::1:9"},
	} {
		all = append(all, Scenario{
			Name: v.name + " leave, another member stays",
			Why:  "after a leave the leaver's port stops receiving, the remaining member's does not",
			Hosts: []Host{
				{Name: "src", IGMP: v.igmp, MLD: v.mld},
				{Name: "leaver", IGMP: v.igmp, MLD: v.mld},
				{Name: "stayer", IGMP: v.igmp, MLD: v.mld},
			},
			Steps: []Step{
				join("leaver", v.group),
				join("stayer", v.group),
				leave("leaver", v.group),
				send("src", "from src", v.group, datagrams),
			},
			Expect: []Expect{
				receives("leaver", None(), "from src"),
				receives("stayer", Exactly(datagrams), "from src"),
			},
		})
	}

	// Unregistered traffic: nobody joined. RFC 4541 s2.1.2 lets a switch
	// send it to router ports only or flood it; snoopswitch sends it to
	// router ports (there are none here).
	for _, g := range []string{"239.1.1.11", "ff0e::1:11"} {
		all = append(all, Scenario{
			Name:  "unregistered " + g,
			Why:   "traffic to a group nobody joined goes to router ports only",
			Hosts: []Host{{Name: "src"}, {Name: "a"}, {Name: "b"}},
			Steps: []Step{send("src", "from src", g, datagrams)},
			Expect: []Expect{
				receives("a", None(), "from src"),
				receives("b", None(), "from src"),
			},
		})
	}

	// Link-local groups: mDNS must reach every host whether it reported or
	// not.
	for _, g := range []string{"224.0.0.251", "ff02::fb"} {
		other := receives("other", Exactly(datagrams), "from src")
		if g == "ff02::fb" {
			other = other.differs(bridgeSnoopsLinkLocal6)
		}
		all = append(all, Scenario{
			Name:  "link-local " + g,
			Why:   "link-local traffic (mDNS) reaches every port, member or not",
			Hosts: []Host{{Name: "src"}, {Name: "member"}, {Name: "other"}},
			Steps: []Step{
				join("member", g),
				send("src", "from src", g, datagrams),
			},
			Expect: []Expect{
				receives("member", Exactly(datagrams), "from src"),
				other,
			},
		})
	}

	// Reports and leaves go to router ports only (RFC 4541 s2.1.1): a host
	// that sees another's IGMPv1/v2 or MLDv1 report for a group it is in
	// suppresses its own, and the switch then ages its port out.
	for _, v := range []struct {
		name      string
		igmp, mld int
		group     string
	}{
		{"IGMPv2", 2, 0, "239.1.1.13"},
		{"IGMPv3", 3, 0, "239.1.1.14"},
		{"MLDv1", 0, 1, "ff0e::1:13"},
		{"MLDv2", 0, 2, "ff0e::1:14"},
	} {
		s := Scenario{
			Name: v.name + " reports seen by other hosts",
			Why:  "a member's reports and leaves reach router ports only, not the other host ports",
			Hosts: []Host{
				{Name: "member", IGMP: v.igmp, MLD: v.mld},
				{Name: "other", IGMP: v.igmp, MLD: v.mld},
			},
			Steps:  []Step{join("member", v.group), leave("member", v.group)},
			Expect: []Expect{hears("other", None(), Reports, v.group)},
		}
		if v.igmp == 2 || v.mld == 1 {
			// The bridge keeps these reports to router ports, but
			// floods the leaves.
			s.Expect = append(s.Expect, hears("other", None(), Leaves, v.group).differs(bridgeFloodsControl))
		} else {
			s.Expect[0] = s.Expect[0].differs(bridgeFloodsControl)
		}
		all = append(all, s)
	}

	// RFC 4604 s2.2.1: in the SSM range a switch ignores EXCLUDE-mode
	// requests, so an any-source join there gets nothing.
	for _, v := range []struct{ name, group string }{{"IGMPv3", "232.1.1.2"}, {"MLDv2", "ff3e::8000:2"}} {
		all = append(all, Scenario{
			Name:  v.name + " any-source join in the SSM range",
			Why:   "a (*,G) join (EXCLUDE {}) of an SSM group is ignored: SSM receivers join (S,G)",
			Hosts: []Host{{Name: "src"}, {Name: "member"}, {Name: "other"}},
			Steps: []Step{
				join("member", v.group).ignored(),
				send("src", "from src", v.group, datagrams),
			},
			Expect: []Expect{
				receives("member", None(), "from src").differs(bridgeNoSSMRange),
				receives("other", None(), "from src"),
			},
		})
	}
	return all
}
