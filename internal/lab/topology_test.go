package lab_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/lab"
)

// TestDefaultTopology: the embedded default parses and holds what the lab
// promises to show: a router port, IGMPv2, IGMPv3 with a source, MLDv2,
// groups that share a MAC, and a rogue querier on a host port.
func TestDefaultTopology(t *testing.T) {
	topo := lab.Default()
	if topo.Name != lab.DefaultName {
		t.Errorf("name %q, want %q", topo.Name, lab.DefaultName)
	}
	var names []string
	var router, v2, sourced, mld2 bool
	for _, h := range topo.Hosts {
		names = append(names, h.Name)
		router = router || h.Router
		for _, j := range h.Joins {
			v2 = v2 || h.IGMP == 2 && j.Group.Is4()
			sourced = sourced || j.Source != "" && j.Group.Is4() && (h.IGMP == 0 || h.IGMP == 3)
			mld2 = mld2 || j.Group.Is6() && (h.MLD == 0 || h.MLD == 2)
		}
	}
	if got := strings.Join(names, " "); got != "router h1 h2 h3 h4 attacker vm1 vm2" {
		t.Errorf("hosts %q, want router, four hosts, an attacker and two VM guests", got)
	}
	// The guests share a fast-leave port; vm1 leaves, and the stream vm2
	// keeps reaches both, through their hub.
	vm1, vm2 := topo.Hosts[6], topo.Hosts[7]
	if vm1.Port == "" || vm1.Port != vm2.Port || !vm1.FastLeave || !vm2.FastLeave {
		t.Errorf("vm1 port %q fast leave %v, vm2 port %q fast leave %v: want one shared fast-leave port", vm1.Port, vm1.FastLeave, vm2.Port, vm2.FastLeave)
	}
	for _, s := range topo.Streams {
		if s.Group == netip.MustParseAddr("239.2.2.2") && (vm1.Member(s) || !vm2.Member(s) || !topo.Wants(6, s) || topo.Wants(1, s)) {
			t.Errorf("stream %s: vm1 member %v, vm2 member %v, vm1 gets it %v, h1 gets it %v; want false, true, true, false",
				s.Name(), vm1.Member(s), vm2.Member(s), topo.Wants(6, s), topo.Wants(1, s))
		}
	}
	if !router || !v2 || !sourced || !mld2 {
		t.Errorf("router port %v, IGMPv2 join %v, IGMPv3 source join %v, MLDv2 join %v: want all", router, v2, sourced, mld2)
	}
	if got := len(lab.SharedMACGroups(topo)); got != 1 {
		t.Errorf("%d sets of streamed groups sharing a MAC, want 1", got)
	}
	if len(topo.Attacks) != 1 || topo.Attacks[0].Kind != lab.RogueQuerier || topo.Attacks[0].Count != lab.DefaultAttackCount {
		t.Errorf("attacks %+v, want one rogue querier of the default count", topo.Attacks)
	}
	for _, s := range topo.Streams {
		if s.Count != lab.DefaultStreamCount {
			t.Errorf("stream %s: count %d, want the default %d", s.Name(), s.Count, lab.DefaultStreamCount)
		}
	}
}

// TestLoadTopologyFile: a file parses to the same topology as its text, and
// errors name the file.
func TestLoadTopologyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "two.yaml")
	text := "hosts: [{name: a, joins: [{group: ff0e::5}]}, {name: b}]\nstreams: [{from: b, group: ff0e::5, count: 3}]\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	topo, err := lab.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := lab.Stream{From: "b", Group: netip.MustParseAddr("ff0e::5"), Count: 3}
	if topo.Name != path || len(topo.Streams) != 1 || topo.Streams[0] != want || !topo.Hosts[0].Member(want) || topo.Hosts[1].Member(want) {
		t.Errorf("Load = %+v", topo)
	}
	if _, err := lab.Load(path + ".missing"); err == nil || !strings.Contains(err.Error(), path+".missing") {
		t.Errorf("Load of a missing file: %v, want an error naming it", err)
	}
}

// TestTopologyErrors holds the message of every mistake Parse catches: each
// names the field and says what to write instead.
func TestTopologyErrors(t *testing.T) {
	const hosts = "hosts: [{name: a}, {name: b}]\n"
	const stream = "streams: [{from: a, group: 239.1.1.1}]\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"empty", "", "the file is empty (it needs hosts and streams)"},
		{"not yaml", "hosts: [", "line 1: did not find expected node content"},
		{"unknown field", "hosts:\n  - name: a\n    colour: red\n", `line 3: unknown field "colour" (the format is in the comments of snoopswitch lab --print-default)`},
		{"wrong type", "hosts: [{name: a, igmp: three}]\n", "line 1: cannot unmarshal !!str `three` into int"},
		{"one host", "hosts: [{name: a}]\n" + stream, "hosts: 1 hosts; a lab has 2 to 16"},
		{"no name", "hosts: [{name: a}, {role: router}]\n" + stream, "hosts[1].name: missing: every host needs a name"},
		{"long name", "hosts: [{name: a}, {name: routerhost}]\n" + stream, `hosts[1].name: "routerhost" is longer than 9 characters (switch port names are the lab prefix plus the host name, and Linux allows 15)`},
		{"bad name", "hosts: [{name: a}, {name: -b}]\n" + stream, `hosts[1].name: "-b": use ASCII letters, digits, '-' and '_', starting with a letter or digit`},
		{"reserved name", "hosts: [{name: a}, {name: sw}]\n" + stream, `hosts[1].name: "sw" is reserved for the switch namespace and the bridge`},
		{"twice", "hosts: [{name: a}, {name: a}]\n" + stream, `hosts[1].name: "a" is already the name of another host`},
		{"role", "hosts: [{name: a, role: querier}, {name: b}]\n" + stream, `hosts[0] (a).role: "querier": use host or router`},
		{"port named like a host", "hosts: [{name: a}, {name: b, port: a}]\n" + stream, `hosts[1] (b).port: "a" is the name of a host; name the shared port apart`},
		{"router on a shared port", "hosts: [{name: a, role: router, port: p}, {name: b, port: p}]\n" + stream, "hosts[0] (a).port: a router shares no port: leave port out or make it a host"},
		{"shared port apart", "hosts: [{name: a, port: p}, {name: b}, {name: c, port: p}]\n" + stream, `hosts[2] (c).port: the hosts of port "p" must be listed one after the other`},
		{"fast leave disagrees", "hosts: [{name: a, port: p, fast-leave: true}, {name: b, port: p}]\n" + stream, `hosts[1] (b).fast-leave: the hosts of port "p" must agree (fast leave is the port's)`},
		{"igmp", "hosts: [{name: a}, {name: b, igmp: 4}]\n" + stream, "hosts[1] (b).igmp: 4: use 1, 2 or 3, or 0 to follow the querier"},
		{"mld", "hosts: [{name: a}, {name: b, mld: 3}]\n" + stream, "hosts[1] (b).mld: 3: use 1 or 2, or 0 to follow the querier"},
		{"no group", "hosts: [{name: a}, {name: b, joins: [{source: a}]}]\n" + stream, "hosts[1] (b).joins[0].group: missing: write a multicast group such as 239.1.1.1 or ff0e::1:1"},
		{"bad group", "hosts: [{name: a}, {name: b, joins: [{group: 239.1.1}]}]\n" + stream, `hosts[1] (b).joins[0].group: "239.1.1" is not an IP address: write a multicast group such as 239.1.1.1 or ff0e::1:1`},
		{"unicast group", "hosts: [{name: a}, {name: b, joins: [{group: 198.18.0.1}]}]\n" + stream, "hosts[1] (b).joins[0].group: 198.18.0.1 is not a multicast group (IPv4 224.0.0.0/4, IPv6 ff00::/8)"},
		{"link-local group", "hosts: [{name: a}, {name: b, joins: [{group: 224.0.0.251}]}]\n" + stream, "hosts[1] (b).joins[0].group: 224.0.0.251 is link-local: every port receives it, member or not; use a wider group such as 239.1.1.1 or ff0e::1:1"},
		{"link-local IPv6 group", "hosts: [{name: a}, {name: b, joins: [{group: 'ff02::fb'}]}]\n" + stream, "hosts[1] (b).joins[0].group: ff02::fb is link-local: every port receives it, member or not; use a wider group such as 239.1.1.1 or ff0e::1:1"},
		{"joined twice", "hosts: [{name: a}, {name: b, joins: [{group: 239.1.1.1}, {group: 239.1.1.1}]}]\n" + stream, "hosts[1] (b).joins[1].group: 239.1.1.1 is joined twice by b"},
		{"SSM without source", "hosts: [{name: a}, {name: b, joins: [{group: 'ff3e::8000:1'}]}]\n" + stream, "hosts[1] (b).joins[0]: ff3e::8000:1 is in the SSM range (232.0.0.0/8, ff3x::/32), where any-source joins are ignored (RFC 4604): give a source"},
		{"unknown source", "hosts: [{name: a}, {name: b, joins: [{group: 232.1.1.1, source: c}]}]\n" + stream, `hosts[1] (b).joins[0].source: "c" is not another host of the topology`},
		{"own source", "hosts: [{name: a}, {name: b, joins: [{group: 232.1.1.1, source: b}]}]\n" + stream, `hosts[1] (b).joins[0].source: "b" is not another host of the topology`},
		{"source on IGMPv2", "hosts: [{name: a}, {name: b, igmp: 2, joins: [{group: 232.1.1.1, source: a}]}]\n" + stream, "hosts[1] (b).joins[0].source: joining for a source needs IGMPv3, and b is forced to IGMPv2 (set igmp: 3 or 0)"},
		{"source on MLDv1", "hosts: [{name: a}, {name: b, mld: 1, joins: [{group: 'ff3e::1', source: a}]}]\n" + stream, "hosts[1] (b).joins[0].source: joining for a source needs MLDv2, and b is forced to MLDv1 (set mld: 2 or 0)"},
		{"no streams", hosts, "streams: none; a lab needs at least one stream to show where multicast goes"},
		{"stream from", hosts + "streams: [{from: c, group: 239.1.1.1}]\n", `streams[0].from: "c" is not a host of the topology`},
		{"stream group", hosts + "streams: [{from: a, group: 'ff02::1'}]\n", "streams[0].group: ff02::1 is link-local: every port receives it, member or not; use a wider group such as 239.1.1.1 or ff0e::1:1"},
		{"stream count", hosts + "streams: [{from: a, group: 239.1.1.1, count: -1}]\n", "streams[0].count: -1: use 1 to 10000 (or leave it out for 50)"},
		{"stream twice", hosts + "streams: [{from: a, group: 239.1.1.1}, {from: a, group: 239.1.1.1, count: 5}]\n", "streams[1]: 239.1.1.1 from a is already a stream (merge the two counts)"},
		{"attack from", hosts + stream + "attacks: [{from: c, kind: rogue-querier}]\n", `attacks[0].from: "c" is not a host of the topology`},
		{"attack from router", "hosts: [{name: a, role: router}, {name: b}]\n" + stream + "attacks: [{from: a, kind: rogue-querier}]\n", "attacks[0].from: a is on a router port, where queries are allowed: attack from a host port"},
		{"attack kind", hosts + stream + "attacks: [{from: b, kind: flood}]\n", `attacks[0].kind: "flood": the one kind is rogue-querier`},
		{"attack count", hosts + stream + "attacks: [{from: b, kind: rogue-querier, count: 5000}]\n", "attacks[0].count: 5000: use 1 to 1000 (or leave it out for 20)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topo, err := lab.Parse("bad.yaml", []byte(tc.yaml))
			want := "lab: topology bad.yaml: " + tc.want
			if err == nil || err.Error() != want {
				t.Errorf("Parse(%q)\n got %v (%+v)\nwant %s", tc.yaml, err, topo, want)
			}
		})
	}
}

// TestFabricTopology: the embedded fabric parses into three machines in a
// star, each host on one of them, and a stream wanted behind c alone.
func TestFabricTopology(t *testing.T) {
	topo := lab.Fabric()
	if !topo.IsFabric() || strings.Join(topo.Machines, " ") != "a b c" || topo.Tunnels != lab.TunnelsStar {
		t.Fatalf("machines %v, tunnels %q: want a b c in a star", topo.Machines, topo.Tunnels)
	}
	on := make(map[string]string)
	for _, h := range topo.Hosts {
		if h.Machine == "" {
			t.Errorf("host %s is on no machine", h.Name)
		}
		on[h.Name] = h.Machine
	}
	for _, s := range topo.Streams {
		if s.Group != netip.MustParseAddr("239.3.3.3") || s.From != "src" {
			continue
		}
		for j, h := range topo.Hosts {
			if topo.Wants(j, s) && on[h.Name] != "c" {
				t.Errorf("%s on %s wants %s; the fabric shows a stream wanted behind c alone", h.Name, on[h.Name], s.Name())
			}
		}
	}
	if lab.Default().IsFabric() {
		t.Error("the default topology is a fabric")
	}
}

func TestFabricTopologyErrors(t *testing.T) {
	const hosts = "hosts:\n  - {name: h1, machine: a}\n  - {name: h2, machine: b}\nstreams:\n  - {from: h1, group: 239.1.1.1}\n"
	for _, c := range []struct{ name, yaml, want string }{
		{"one machine", "machines: [{name: a}]\n" + hosts, "machines: 1 machines; a fabric has 2 to 8"},
		{"long machine name", "machines: [{name: abcd}, {name: b}]\n" + hosts, `machines[0].name: "abcd": use 1 to 3`},
		{"machine twice", "machines: [{name: a}, {name: a}]\n" + hosts, `machines[1].name: "a" is already`},
		{"underlay name", "machines: [{name: ul}, {name: b}]\n" + hosts, `"ul" is reserved`},
		{"bad tunnels", "machines: [{name: a}, {name: b}]\ntunnels: ring\n" + hosts, `tunnels: "ring": use star`},
		{"tunnels alone", "tunnels: star\nhosts:\n  - {name: h1}\n  - {name: h2}\nstreams:\n  - {from: h1, group: 239.1.1.1}\n", "tunnels: set without machines"},
		{"host on no machine", "machines: [{name: a}, {name: b}]\nhosts:\n  - {name: h1, machine: a}\n  - {name: h2}\nstreams:\n  - {from: h1, group: 239.1.1.1}\n", `hosts[1].machine: "": name one of the machines a, b`},
		{"machine without machines", "hosts:\n  - {name: h1, machine: a}\n  - {name: h2}\nstreams:\n  - {from: h1, group: 239.1.1.1}\n", `hosts[0].machine: "a": the topology lists no machines`},
		{"names too long", "machines: [{name: abc}, {name: b}]\nhosts:\n  - {name: longname1, machine: abc}\n  - {name: h2, machine: b}\nstreams:\n  - {from: h2, group: 239.1.1.1}\n", "the two names have 12 characters and may have 10"},
		{"shared port across machines", "machines: [{name: a}, {name: b}]\nhosts:\n  - {name: h1, machine: a, port: vm}\n  - {name: h2, machine: b, port: vm}\nstreams:\n  - {from: h1, group: 239.1.1.1}\n", `hosts[1] (h2).machine: the hosts of port "vm" must be on one machine`},
		{"attacks", "machines: [{name: a}, {name: b}]\n" + hosts + "attacks:\n  - {from: h1, kind: rogue-querier}\n", "attacks: a fabric's switches run as processes"},
	} {
		_, err := lab.Parse("t.yaml", []byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
