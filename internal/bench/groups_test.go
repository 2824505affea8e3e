package bench_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/bench"
)

// fromBridge is what testenv.Lab.LinuxBridgeMDB gives for a bridge br0
// with two IPv4 groups on v1, an IPv6 one, and one of the bridge's own.
var fromBridge = []bench.GroupEntry{
	{Group: netip.MustParseAddr("224.0.0.251"), Port: "br0"},
	{Group: netip.MustParseAddr("239.1.1.2"), Port: "v1"},
	{Group: netip.MustParseAddr("239.1.1.1"), Port: "v1"},
	{Group: netip.MustParseAddr("239.1.1.1"), Port: "v2"},
	{Group: netip.MustParseAddr("ff02::1:ff05:8ae"), Port: "v1"},
}

// showGroups is `snoopswitch show groups --json` with the same IPv4
// memberships.
const showGroups = `[{"vlan":0,"group":"239.1.1.1","port":"v1","mode":"EXCLUDE","sources":[],"group_timer_s":259.9,"reporter":"198.18.0.2"},
{"vlan":0,"group":"239.1.1.1","port":"v2","mode":"EXCLUDE","sources":[],"group_timer_s":259.9},
{"vlan":0,"group":"239.1.1.2","port":"v1","mode":"EXCLUDE","sources":[],"group_timer_s":259.9}]`

func TestCheckGroups(t *testing.T) {
	group := netip.MustParseAddr("239.1.1.1")
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
	if _, err := bench.ParseShowGroups([]byte(`{"group":"239.1.1.1"}`)); err == nil {
		t.Error("ParseShowGroups: an object, not a list, no error")
	}
}
