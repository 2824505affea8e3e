package scenario_test

import (
	"fmt"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/scenario"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// TestCompareWithLinuxBridge runs every scenario on snoopswitch and on the
// Linux bridge (snooping, querier, IGMPv3, MLDv2), each on a lab of its own,
// and prints what every host received on both. It fails when snoopswitch
// misses an expectation; where only the bridge does, it logs the difference
// and the docs/COMPARE.md section that explains it. Needs root.
func TestCompareWithLinuxBridge(t *testing.T) {
	testenv.RequireRoot(t)
	all := scenario.All()
	if err := scenario.CheckAll(all); err != nil {
		t.Fatal(err)
	}
	var sw, br []*scenario.Result
	var swReady, brReady time.Duration
	// The two labs run side by side: the bridge spends its first 10 s
	// flooding, which snoopswitch's run fills.
	t.Run("run", func(t *testing.T) {
		t.Run("snoopswitch", func(t *testing.T) {
			t.Parallel()
			sw, swReady = runAll(t, all, func(lab *testenv.Lab) (scenario.Device, error) { return scenario.StartSnoopswitch(lab) })
		})
		t.Run("linux-bridge", func(t *testing.T) {
			t.Parallel()
			br, brReady = runAll(t, all, func(lab *testenv.Lab) (scenario.Device, error) { return scenario.StartLinuxBridge(lab) })
		})
	})
	if len(sw) != len(all) || len(br) != len(all) {
		t.Fatal("a device did not run every scenario")
	}
	t.Log("\n" + table(sw, br, swReady, brReady))

	var known, undocumented, agreeing []string
	for i := range all {
		s := &all[i]
		for j, e := range s.Expect {
			if !sw[i].Met(j) {
				t.Errorf("snoopswitch: %s: %s: got %d", s.Name, e, sw[i].Got[j])
			}
			what := fmt.Sprintf("%s: %s (bridge: %d)", s.Name, e, br[i].Got[j])
			switch {
			case !br[i].Met(j) && e.Bridge != "":
				known = append(known, what+": docs/COMPARE.md (`"+e.Bridge+"`)")
			case !br[i].Met(j):
				undocumented = append(undocumented, what)
			case e.Bridge != "":
				agreeing = append(agreeing, fmt.Sprintf("%s: %s (documented as a difference in %s)", s.Name, e, e.Bridge))
			}
		}
	}
	logList(t, "Differences the Linux bridge is known for (docs/COMPARE.md)", known)
	logList(t, "Differences NOT in docs/COMPARE.md: explain them there and mark the expectation", undocumented)
	logList(t, "Documented differences the bridge did not show this time", agreeing)
}

// runAll builds a lab with enough hosts, starts the device on it, waits until
// it forwards by membership, and runs every scenario. It returns the results
// and how long the device took to forward by membership.
func runAll(t *testing.T, all []scenario.Scenario, start func(*testenv.Lab) (scenario.Device, error)) ([]*scenario.Result, time.Duration) {
	lab := testenv.New(t)
	for i := range scenario.MaxHosts(all) {
		if _, err := lab.AddHost(fmt.Sprintf("h%d", i+1), testenv.HostOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	dev, err := start(lab)
	if err != nil {
		t.Fatal(err)
	}
	r := &scenario.Runner{Lab: lab, Device: dev}
	took, err := r.Ready(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s forwards multicast by membership %v after it started", dev.Name(), took.Round(10*time.Millisecond))
	var out []*scenario.Result
	for i := range all {
		res, err := r.Run(&all[i])
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range res.Notes {
			t.Logf("%s: %s", all[i].Name, n)
		}
		out = append(out, res)
	}
	return out, took
}

// table lays the results out as scenario | expectation | snoopswitch |
// linux bridge, each device's cell the count received and whether it meets
// the expectation. The first row is the start-up: how long after it started
// each device stopped sending a group's traffic to a non-member.
func table(sw, br []*scenario.Result, swReady, brReady time.Duration) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "SCENARIO\tEXPECTATION\tSNOOPSWITCH\tLINUX BRIDGE")
	fmt.Fprintf(w, "start-up\tnon-members get no group traffic\tafter %v\tafter %v (start-up)\n",
		swReady.Round(10*time.Millisecond), brReady.Round(100*time.Millisecond))
	for i, res := range sw {
		s := res.Scenario
		for j, e := range s.Expect {
			name := s.Name
			if j > 0 {
				name = ""
			}
			swCell := fmt.Sprintf("%d", res.Got[j])
			if !res.Met(j) {
				swCell += " FAIL"
			}
			brCell := fmt.Sprintf("%d", br[i].Got[j])
			if !br[i].Met(j) {
				brCell += " differs"
				if e.Bridge != "" {
					brCell += " (" + e.Bridge + ")"
				}
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", name, e, swCell, brCell)
		}
	}
	w.Flush()
	return b.String()
}

func logList(t *testing.T, title string, items []string) {
	if len(items) == 0 {
		return
	}
	t.Logf("%s:\n  %s", title, strings.Join(items, "\n  "))
}
