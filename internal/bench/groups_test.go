package bench_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/bench"
)

// bridgeMDB is `bridge -j mdb show dev br0` of iproute2 6.1 on a bridge
// with two IPv4 groups on v1, an IPv6 one, and one of the bridge's own.
const bridgeMDB = `[{"mdb":[{"index":2,"dev":"br0","port":"br0","grp":"224.0.0.251","state":"temp","flags":[]},` +
	`{"index":2,"dev":"br0","port":"v1","grp":"239.1.1.2","state":"temp","flags":[]},` +
	`{"index":2,"dev":"br0","port":"v1","grp":"239.1.1.1","state":"temp","flags":[]},` +
	`{"index":2,"dev":"br0","port":"v2","grp":"239.1.1.1","state":"temp","flags":[]},` +
	`{"index":2,"dev":"br0","port":"v1","grp":"ff02::1:ff05:8ae","state":"temp","flags":[]}],"router":{}}]`

// showGroups is `snoopswitch show groups --json` with the same IPv4
// memberships.
const showGroups = `[{"vlan":0,"group":"239.1.1.1","port":"v1","mode":"EXCLUDE","sources":[],"group_timer_s":259.9,"reporter":"198.18.0.2"},
{"vlan":0,"group":"239.1.1.1","port":"v2","mode":"EXCLUDE","sources":[],"group_timer_s":259.9},
{"vlan":0,"group":"239.1.1.2","port":"v1","mode":"EXCLUDE","sources":[],"group_timer_s":259.9}]`

func TestCheckGroups(t *testing.T) {
	group := netip.MustParseAddr("239.1.1.1")
	fromBridge, err := bench.ParseBridgeMDB([]byte(bridgeMDB))
	if err != nil {
		t.Fatal(err)
	}
	if len(fromBridge) != 5 {
		t.Errorf("%d bridge entries, want 5", len(fromBridge))
	}
	fromSwitch, err := bench.ParseShowGroups([]byte(showGroups))
	if err != nil {
		t.Fatal(err)
	}
	for name, entries := range map[string][]bench.GroupEntry{"bridge": fromBridge, "snoopswitch": fromSwitch} {
		// Link-local and IPv6 groups are not counted.
		if n, err := bench.CheckGroups(entries, group, []string{"v2", "v1"}, 2); n != 2 || err != nil {
			t.Errorf("%s: CheckGroups = %d, %v; want 2, nil", name, n, err)
		}
		for _, tt := range []struct {
			members []string
			want    int
			errText string
		}{
			{[]string{"v1"}, 2, "held by ports [v1 v2], want [v1]"},
			{[]string{"v1", "v2", "v3"}, 2, "want [v1 v2 v3]"},
			{[]string{"v1", "v2"}, 10000, "holds 2 IPv4 groups, want 10000"},
		} {
			n, err := bench.CheckGroups(entries, group, tt.members, tt.want)
			if err == nil || !strings.Contains(err.Error(), tt.errText) || n != 2 {
				t.Errorf("%s: CheckGroups(%v, %d) = %d, %v; want 2 and an error with %q", name, tt.members, tt.want, n, err, tt.errText)
			}
		}
	}
}

func TestParseGroupsErrors(t *testing.T) {
	if _, err := bench.ParseBridgeMDB([]byte(`[{"mdb":[{"port":"v1","grp":"not-an-address"}]}]`)); err == nil {
		t.Error("ParseBridgeMDB: bad group, no error")
	}
	if _, err := bench.ParseShowGroups([]byte(`{"group":"239.1.1.1"}`)); err == nil {
		t.Error("ParseShowGroups: an object, not a list, no error")
	}
}

func TestParseBridgeOptions(t *testing.T) {
	// Abridged `ip -d -j link show br0` of iproute2 6.1.
	const doc = `[{"ifindex":2,"ifname":"br0","linkinfo":{"info_kind":"bridge","info_data":{"forward_delay":1500,` +
		`"mcast_snooping":1,"mcast_router":1,"mcast_querier":1,"mcast_hash_max":16384,"mcast_query_response_intvl":100,` +
		`"mcast_igmp_version":3,"mcast_mld_version":1}}}]`
	got, err := bench.ParseBridgeOptions([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := bench.BridgeOptions{Snooping: 1, Querier: 1, HashMax: 16384, IGMPVersion: 3, QueryResponseCS: 100}
	if got != want {
		t.Errorf("ParseBridgeOptions = %+v, want %+v", got, want)
	}
	if _, err := bench.ParseBridgeOptions([]byte(`[{"linkinfo":{"info_kind":"veth"}}]`)); err == nil {
		t.Error("a veth parses as a bridge")
	}
}
