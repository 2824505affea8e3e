package replay_test

import (
	"context"
	"errors"
	"maps"
	"net"
	"strings"
	"testing"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/internal/control"
	"github.com/snoopswitch/snoopswitch/internal/replay"
)

// Replays of the real captures in testdata (see testdata/README.md).

func macPort(t *testing.T, port, mac string) replay.Mapping {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	return replay.Mapping{Port: port, MAC: fdb.MAC(hw)}
}

func mustReplay(t *testing.T, o replay.Options) *replay.Report {
	t.Helper()
	rep, err := replay.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func portReport(t *testing.T, rep *replay.Report, name string) replay.Port {
	t.Helper()
	for _, p := range rep.Ports {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no port %q in the report", name)
	return replay.Port{}
}

// groupRows returns the group table as "group port mode reporter" rows.
func groupRows(gs []control.Group) []string {
	var rows []string
	for _, g := range gs {
		rows = append(rows, strings.Join([]string{g.Group, g.Port, g.Mode, g.Compat, g.Reporter}, " "))
	}
	return rows
}

func TestRealIGMPLearnsSSDPButNotLinkLocalGroups(t *testing.T) {
	rep := mustReplay(t, replay.Options{Capture: "testdata/igmp.pcap"})
	if rep.Frames != 12 || !rep.Complete {
		t.Errorf("replayed %d frames (complete %v), want 12", rep.Frames, rep.Complete)
	}
	p := portReport(t, rep, "if0")
	want := map[string]uint64{"igmpv2-leave": 2, "igmpv2-report": 6, "igmpv3-report": 4}
	if !maps.Equal(nonZero(p.Control), want) || len(nonZero(p.Drops)) != 0 {
		t.Errorf("control %v, drops %v; want %v and none", p.Control, nonZero(p.Drops), want)
	}
	// 224.0.0.251 (mDNS) is link-local: flooded, never in the table.
	if got := groupRows(rep.Groups); len(got) != 1 || got[0] != "239.255.255.250 if0 EXCLUDE  192.168.1.150" {
		t.Errorf("groups %q, want 239.255.255.250 from 192.168.1.150 only", got)
	}
}

func TestRealIGMPBadChecksumIsDropped(t *testing.T) {
	rep := mustReplay(t, replay.Options{Capture: "testdata/igmp-bad-checksum.pcap"})
	p := portReport(t, rep, "if0")
	if p.RxFrames != 12 || !maps.Equal(nonZero(p.Drops), map[string]uint64{"bad-checksum": 1}) || p.ParseErrors["bad-checksum"] != 1 {
		t.Errorf("rx %d, drops %v, parse errors %v; want 12 frames, one bad-checksum", p.RxFrames, nonZero(p.Drops), p.ParseErrors)
	}
}

func TestRealManyGroupsUnderPolicies(t *testing.T) {
	c, err := config.Load("testdata/many-groups.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rep := mustReplay(t, replay.Options{Capture: "testdata/igmp-many-groups.pcap", Config: c, Ports: []replay.Mapping{
		macPort(t, "h1", "00:11:22:00:00:00"), macPort(t, "h2", "00:11:22:00:00:01"), macPort(t, "h3", "00:11:22:00:00:02")}})
	// Each host reports 239.0.0.1-150. h1's ACL denies 239.0.0.128/25
	// (23 of them), h2 stops at its limit of 100.
	want := map[string]struct {
		groups int
		drops  map[string]uint64
	}{
		"h1": {127, map[string]uint64{"acl-deny": 23}},
		"h2": {100, map[string]uint64{"group-limit": 50}},
		"h3": {150, map[string]uint64{}},
	}
	groups := make(map[string]int)
	for _, g := range rep.Groups {
		groups[g.Port]++
	}
	for name, w := range want {
		p := portReport(t, rep, name)
		if p.RxFrames != 150 || groups[name] != w.groups || !maps.Equal(nonZero(p.Drops), w.drops) {
			t.Errorf("%s: rx %d, %d groups, drops %v; want 150, %d, %v", name, p.RxFrames, groups[name], nonZero(p.Drops), w.groups, w.drops)
		}
	}
	if p := portReport(t, rep, "if0"); p.RxFrames != 0 {
		t.Errorf("if0 got %d frames; every source MAC is mapped", p.RxFrames)
	}
}

func TestRealIGMPv1RouterAndHost(t *testing.T) {
	rep := mustReplay(t, replay.Options{Capture: "testdata/multicast-igmp-version-membership-query-and-report.pcap", RouterPorts: []string{"router"},
		Ports: []replay.Mapping{macPort(t, "router", "fa:16:3e:e4:d3:de"), macPort(t, "host", "fa:16:3e:35:d1:43")}})
	if got := groupRows(rep.Groups); len(got) != 1 || got[0] != "239.1.1.1 host EXCLUDE v1 192.168.1.101" {
		t.Errorf("groups %q, want 239.1.1.1 on host, in IGMPv1 compatibility", got)
	}
	var learned []string
	for _, r := range rep.Routers {
		learned = append(learned, r.Port+" "+r.Source+" "+r.Address)
	}
	if strings.Join(learned, ",") != "router query 192.168.1.1,router static " {
		t.Errorf("router ports %q, want router, static and learned from 192.168.1.1's queries", learned)
	}
	for _, q := range rep.Querier {
		if q.Family == "igmp" && (q.Self || q.Querier != "192.168.1.1") {
			t.Errorf("IGMP querier %+v, want 192.168.1.1", q)
		}
	}
	if p := portReport(t, rep, "router"); p.Control["igmp-query"] != 8 || len(nonZero(p.Drops)) != 0 {
		t.Errorf("router: control %v, drops %v; want 8 queries accepted (no Router Alert is fine on a router port)", p.Control, nonZero(p.Drops))
	}
}

func TestRealHomeNetwork(t *testing.T) {
	// Without roles, the router's query comes from a host port: the guard
	// drops it.
	rep := mustReplay(t, replay.Options{Capture: "testdata/home-multicast-short.pcap"})
	if p := portReport(t, rep, "if0"); !maps.Equal(nonZero(p.Drops), map[string]uint64{"router-guard": 1}) {
		t.Errorf("if0 drops %v, want the router's query as router-guard", nonZero(p.Drops))
	}
	rep = mustReplay(t, replay.Options{Capture: "testdata/home-multicast-short.pcap", RouterPorts: []string{"router"},
		Ports: []replay.Mapping{macPort(t, "router", "98:da:c4:c9:80:a8")}})
	if p := portReport(t, rep, "router"); p.Control["igmp-query"] != 1 || len(nonZero(p.Drops)) != 0 {
		t.Errorf("router: control %v, drops %v; want its query accepted", p.Control, nonZero(p.Drops))
	}
	if got := groupRows(rep.Groups); len(got) != 1 || got[0] != "239.255.255.250 if0 EXCLUDE  192.168.0.109" {
		t.Errorf("groups %q, want SSDP's 239.255.255.250 (mDNS is link-local)", got)
	}
	// The SSDP datagram goes to the router port only (its sender is the
	// member); the two mDNS ones are flooded.
	if p := portReport(t, rep, "if0"); p.Events["snooped"] != 1 || p.Events["flood"] != 2 {
		t.Errorf("if0 events %v, want snooped=1 flood=2", nonZero(p.Events))
	}
}

func TestRealZeroSourceMACIsDropped(t *testing.T) {
	rep := mustReplay(t, replay.Options{Capture: "testdata/icmp6-mldv1.pcap"})
	if p := portReport(t, rep, "if0"); !maps.Equal(nonZero(p.Drops), map[string]uint64{"invalid-src-mac": 4}) {
		t.Errorf("drops %v, want every frame as invalid-src-mac (the capture's source MAC is 00:00:00:00:00:00)", nonZero(p.Drops))
	}
}

func TestRawIPCaptureIsRefused(t *testing.T) {
	rep, err := replay.Run(context.Background(), replay.Options{Capture: "testdata/icmp6-mld-query.pcap"})
	if rep != nil || err == nil || !strings.Contains(err.Error(), "link type 229 (raw IPv6, no Ethernet header) is not Ethernet") {
		t.Errorf("replay of a raw IPv6 capture: report %v, error %v; want only an error naming the link type", rep, err)
	}
	if errors.Is(err, replay.ErrUnknownPort) {
		t.Errorf("the link type error is %v", err)
	}
}
