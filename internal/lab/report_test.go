package lab_test

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/lab"
	"github.com/snoopswitch/snoopswitch/snoop"
)

// goodReport is a report of the default topology in which every host got
// exactly what it asked for and the rogue querier got nowhere.
func goodReport() *lab.Report {
	topo := lab.Default()
	r := &lab.Report{Topology: topo, Pings: lab.PingSummary{Sent: 12, Received: 12}}
	for i, h := range topo.Hosts {
		r.Hosts = append(r.Hosts, lab.HostInfo{Name: h.Name, SwitchPort: "p" + h.Name,
			IPv4: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)}), 24)})
	}
	for _, s := range topo.Streams {
		row := make([]int, len(topo.Hosts))
		for j, h := range topo.Hosts {
			switch {
			case h.Name == s.From:
				row[j] = -1
			case topo.Wants(j, s):
				row[j] = s.Count
			}
		}
		r.Received = append(r.Received, row)
	}
	election := []snoop.QuerierStatus{{Family: 4, SelfQuerier: true, Querier: netip.IPv4Unspecified()}}
	r.Attacks = []lab.AttackResult{{
		Attack: topo.Attacks[0], Sent: 40,
		Drops:   map[string]uint64{"router-guard": 40},
		Reached: map[string]int{},
		Before:  election, After: election,
	}}
	return r
}

// TestReportFailures: each way the switch can fail the demonstration is
// reported, and a clean run reports nothing.
func TestReportFailures(t *testing.T) {
	if f := goodReport().Failures(); len(f) != 0 {
		t.Fatalf("a clean run reports failures: %q", f)
	}
	for _, tc := range []struct {
		name    string
		breakIt func(r *lab.Report)
		want    string
	}{
		{"member missed datagrams", func(r *lab.Report) { r.Received[0][1] = 49 },
			"h1 got 49 of the 50 datagrams to 224.1.1.1 from router, and it should get every one"},
		{"router port missed the attacker's stream", func(r *lab.Report) { r.Received[3][0] = 0 },
			"router got 0 of the 50 datagrams to 232.1.1.1 from attacker, and it should get every one"},
		{"same MAC leaked", func(r *lab.Report) { r.Received[1][1] = 50 },
			"h1 got 50 datagrams to 225.1.1.1 from router, and it did not ask for them"},
		{"unwanted source leaked", func(r *lab.Report) { r.Received[3][2] = 3 },
			"h2 got 3 datagrams to 232.1.1.1 from attacker, and it did not ask for them"},
		{"query reached a host", func(r *lab.Report) { r.Attacks[0].Reached["h3"] = 2 },
			"rogue-querier: 2 of attacker's queries reached h3"},
		{"drops uncounted", func(r *lab.Report) { r.Attacks[0].Drops = map[string]uint64{"router-guard": 39} },
			"rogue-querier: the switch counted 39 drops on attacker's port for the 40 queries it sent"},
		{"querier taken over", func(r *lab.Report) {
			r.Attacks[0].After = []snoop.QuerierStatus{{Family: 4, Querier: netip.MustParseAddr("198.18.0.6")}}
		}, "rogue-querier: the IGMP querier changed to 198.18.0.6 during the attack"},
		{"pings lost", func(r *lab.Report) { r.Pings.Received = 10 }, "unicast: 2 of 12 echo requests got no reply"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := goodReport()
			tc.breakIt(r)
			if got := r.Failures(); !slices.Equal(got, []string{tc.want}) {
				t.Errorf("Failures() = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestReportTable: the table shows the counts as given, marks what each
// host asked for, and sums what a MAC-based and a flooding switch would have
// delivered.
func TestReportTable(t *testing.T) {
	r := goodReport()
	r.Received[1][1] = 7 // a leak shows as counted, unmarked
	var b bytes.Buffer
	r.Write(&b)
	out := b.String()
	for _, want := range []string{
		"  224.1.1.1 from router          50    -       50*  0    0    0    0         0    0\n",
		"  225.1.1.1 from router          50    -       7    0    50*  0    0         0    0\n",
		// vm1 left, vm2 stayed: both behind one port get vm2's stream.
		"  239.2.2.2 from router          50    -       0    0    0    0    0         50*  50*\n",
		"  snoopswitch delivered                50      57   50   50   100  0         100  100  = 507\n",
		"  a MAC-based switch would have        50      250  250  250  300  0         100  100  = 1300\n",
		"  a flooding switch would have         50      400  400  400  400  350       400  400  = 2800\n",
		"Frames saved: 2293 of 2800 against flooding (82%), 793 against a MAC-based snooping switch.\n",
		"  vm1       pvm1",
		"239.2.2.2 (IGMPv3) then left",
		"  h1    224.1.1.1  200                         7\n",
		"  guard drops on port pattacker: router-guard=40 (of 40 sent)\n",
		"  IGMP querier: snoopswitch (0.0.0.0), still elected\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
}
