package scenario_test

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/scenario"
)

func TestAllScenariosAreWellFormed(t *testing.T) {
	all := scenario.All()
	if err := scenario.CheckAll(all); err != nil {
		t.Fatal(err)
	}
	if n := scenario.MaxHosts(all); n < 3 || n > 8 {
		t.Errorf("MaxHosts = %d, want 3 to 8 (one lab serves every scenario)", n)
	}
}

// TestDocumentedDifferencesExist: every difference a scenario marks as known
// for the Linux bridge names a section of docs/COMPARE.md.
func TestDocumentedDifferencesExist(t *testing.T) {
	doc, err := os.ReadFile("../../docs/COMPARE.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scenario.All() {
		for _, e := range s.Expect {
			if e.Bridge != "" && !strings.Contains(string(doc), "(`"+e.Bridge+"`)") {
				t.Errorf("%s: %s: docs/COMPARE.md has no section marked (`%s`)", s.Name, e, e.Bridge)
			}
		}
	}
}

func TestCheckCatchesMistakes(t *testing.T) {
	g := netip.MustParseAddr("239.1.2.3")
	good := func() scenario.Scenario {
		return scenario.Scenario{
			Name:  "good",
			Hosts: []scenario.Host{{Name: "src"}, {Name: "rx"}},
			Steps: []scenario.Step{
				{Action: scenario.Join, Host: "rx", Group: g},
				{Action: scenario.Send, Host: "src", Group: g, Stream: "s", Count: 1},
			},
			Expect: []scenario.Expect{{Host: "rx", Stream: "s", Want: scenario.Exactly(1)}},
		}
	}
	s := good()
	if err := s.Check(); err != nil {
		t.Fatalf("the good scenario fails: %v", err)
	}
	for _, c := range []struct {
		name   string
		mutate func(*scenario.Scenario)
		want   string
	}{
		{"unknown step host", func(s *scenario.Scenario) { s.Steps[0].Host = "nobody" }, "unknown host"},
		{"unicast group", func(s *scenario.Scenario) { s.Steps[0].Group = netip.MustParseAddr("198.18.0.1") }, "not a multicast group"},
		{"source is the host", func(s *scenario.Scenario) {
			s.Steps[0].Action, s.Steps[0].Source = scenario.JoinSource, "rx"
		}, "source"},
		{"stream never sent", func(s *scenario.Scenario) { s.Expect[0].Stream = "t" }, "no step sends"},
		{"stream to two groups", func(s *scenario.Scenario) {
			s.Steps = append(s.Steps, scenario.Step{Action: scenario.Send, Host: "src", Group: netip.MustParseAddr("239.1.2.4"), Stream: "s", Count: 1})
		}, "goes to"},
		{"IGMP version 4", func(s *scenario.Scenario) { s.Hosts[0].IGMP = 4 }, "out of range"},
		{"inverted count", func(s *scenario.Scenario) { s.Expect[0].Want = scenario.Count{Min: 2, Max: 1} }, "count"},
	} {
		s := good()
		c.mutate(&s)
		err := s.Check()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Check() = %v, want an error about %q", c.name, err, c.want)
		}
	}

	a, b := good(), good()
	b.Name = "other"
	if err := scenario.CheckAll([]scenario.Scenario{a, b}); err == nil || !strings.Contains(err.Error(), "also used by") {
		t.Errorf("two scenarios on one group: CheckAll() = %v, want an error", err)
	}
}

func TestCountMet(t *testing.T) {
	for _, c := range []struct {
		c    scenario.Count
		n    int
		want bool
	}{
		{scenario.None(), 0, true},
		{scenario.None(), 1, false},
		{scenario.Exactly(10), 10, true},
		{scenario.Exactly(10), 9, false},
		{scenario.Exactly(10), 11, false},
		{scenario.Count{Min: 1, Max: 3}, 2, true},
	} {
		if got := c.c.Met(c.n); got != c.want {
			t.Errorf("%v.Met(%d) = %v, want %v", c.c, c.n, got, c.want)
		}
	}
}
