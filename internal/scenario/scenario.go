package scenario

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// A Scenario is a lab situation and what every host must see in it: hosts
// that speak given IGMP/MLD versions, steps run in order, and expectations
// checked once the steps are done.
type Scenario struct {
	Name string
	// Why says in a line what the scenario shows.
	Why    string
	Hosts  []Host
	Steps  []Step
	Expect []Expect
}

// A Host is a scenario's role for a lab host: the scenario's i-th host is the
// lab's i-th.
type Host struct {
	Name string
	// IGMP forces the host's IGMP version (1, 2 or 3); 0 follows the
	// querier, which speaks IGMPv3 on both devices.
	IGMP int
	// MLD forces the host's MLD version (1 or 2); 0 follows the querier
	// (MLDv2).
	MLD int
}

// An Action is what a Step does.
type Action uint8

const (
	// Join: Host joins Group for any source (IGMPv3/MLDv2 EXCLUDE {}, or an
	// older version's report). The runner then waits until the device has
	// registered Host's port.
	Join Action = iota + 1
	// JoinSource: Host joins Group for the source Source only (INCLUDE
	// {Source}), as an SSM receiver does.
	JoinSource
	// JoinExclude: Host joins Group for every source but Source (EXCLUDE
	// {Source}).
	JoinExclude
	// Leave: Host leaves Group (an IGMPv2 leave, an MLDv1 done, or a
	// TO_IN {} record). The runner then waits until the device has dropped
	// Host's port.
	Leave
	// Send: Host sends Count datagrams of Stream to Group.
	Send
	// Wait pauses for For.
	Wait
)

func (a Action) String() string {
	switch a {
	case Join:
		return "join"
	case JoinSource:
		return "join-source"
	case JoinExclude:
		return "join-exclude"
	case Leave:
		return "leave"
	case Send:
		return "send"
	case Wait:
		return "wait"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// A Step is one thing a scenario does. Which fields count depends on Action.
type Step struct {
	Action Action
	Host   string
	Group  netip.Addr
	// Source names the host whose address (of Group's family) is the
	// source of JoinSource and JoinExclude.
	Source string
	// Stream names the datagrams of a Send ("from s1", "to 224.1.1.1");
	// expectations count them by it.
	Stream string
	Count  int
	For    time.Duration
	// Ignored marks a join that snoopswitch is expected to ignore (an
	// any-source join in the SSM range, RFC 4604 s2.2.1): the runner does
	// not wait for the device to register it, it only gives the report the
	// time to arrive.
	Ignored bool
}

// Expect is what one host must have received once the steps are done: the
// datagrams of Stream, or, when Control is set, the IGMP/MLD messages of that
// kind about Group that other hosts sent.
type Expect struct {
	Host    string
	Stream  string
	Control Control
	Group   netip.Addr
	Want    Count
	// Bridge names the section of docs/COMPARE.md that explains why the
	// Linux bridge does otherwise; empty when it is expected to agree.
	Bridge string
}

func (e Expect) String() string {
	if e.Control != 0 {
		return fmt.Sprintf("%s gets %s %s about %s", e.Host, e.Want, e.Control, e.Group)
	}
	return fmt.Sprintf("%s gets %s datagrams %s", e.Host, e.Want, e.Stream)
}

// Control is a kind of IGMP/MLD message an expectation counts.
type Control uint8

const (
	// Reports: membership reports of any version that name the group,
	// alone or in a group record (IGMPv3/MLDv2 TO_IN {} leaves included).
	Reports Control = iota + 1
	// Leaves: IGMPv2 leaves and MLDv1 dones for the group.
	Leaves
)

func (c Control) String() string {
	switch c {
	case Reports:
		return "reports"
	case Leaves:
		return "leaves"
	}
	return fmt.Sprintf("control(%d)", uint8(c))
}

// Count is an accepted number of frames, from Min to Max.
type Count struct{ Min, Max int }

// Exactly accepts n frames and no other number.
func Exactly(n int) Count { return Count{n, n} }

// None accepts no frame at all.
func None() Count { return Count{0, 0} }

// Met reports whether n frames meet c.
func (c Count) Met(n int) bool { return n >= c.Min && n <= c.Max }

func (c Count) String() string {
	if c.Min == c.Max {
		return fmt.Sprint(c.Min)
	}
	return fmt.Sprintf("%d-%d", c.Min, c.Max)
}

// Check reports the first thing wrong with s: an unknown host, a step without
// what its action needs, an expectation of a stream that is never sent.
func (s *Scenario) Check() error {
	if s.Name == "" {
		return errors.New("scenario: a scenario without a name")
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("scenario %q: %s", s.Name, fmt.Sprintf(format, args...))
	}
	if len(s.Hosts) == 0 {
		return fail("no hosts")
	}
	hosts := make(map[string]bool)
	for _, h := range s.Hosts {
		if h.Name == "" || hosts[h.Name] {
			return fail("host %q is empty or declared twice", h.Name)
		}
		if h.IGMP < 0 || h.IGMP > 3 || h.MLD < 0 || h.MLD > 2 {
			return fail("host %q: IGMP version %d (0-3) or MLD version %d (0-2) out of range", h.Name, h.IGMP, h.MLD)
		}
		hosts[h.Name] = true
	}
	streams := make(map[string]netip.Addr)
	for i, st := range s.Steps {
		if st.Action != Wait && !hosts[st.Host] {
			return fail("step %d (%s): unknown host %q", i+1, st.Action, st.Host)
		}
		if st.Action != Wait && !st.Group.IsMulticast() {
			return fail("step %d (%s): %s is not a multicast group", i+1, st.Action, st.Group)
		}
		if st.Ignored && st.Action != Join && st.Action != JoinSource && st.Action != JoinExclude {
			return fail("step %d (%s): only joins can be ignored", i+1, st.Action)
		}
		switch st.Action {
		case Join, Leave:
		case JoinSource, JoinExclude:
			if !hosts[st.Source] || st.Source == st.Host {
				return fail("step %d (%s): source %q is not another host of the scenario", i+1, st.Action, st.Source)
			}
		case Send:
			if st.Stream == "" || st.Count <= 0 {
				return fail("step %d: a send needs a stream name and a count", i+1)
			}
			if g, ok := streams[st.Stream]; ok && g != st.Group {
				return fail("step %d: stream %q goes to %s and %s", i+1, st.Stream, g, st.Group)
			}
			streams[st.Stream] = st.Group
		case Wait:
			if st.For <= 0 {
				return fail("step %d: a wait needs a duration", i+1)
			}
		default:
			return fail("step %d: unknown action %d", i+1, st.Action)
		}
	}
	if len(s.Expect) == 0 {
		return fail("no expectations")
	}
	for _, e := range s.Expect {
		if !hosts[e.Host] {
			return fail("expectation %q: unknown host %q", e, e.Host)
		}
		if e.Want.Min < 0 || e.Want.Max < e.Want.Min {
			return fail("expectation %q: count %d-%d", e, e.Want.Min, e.Want.Max)
		}
		if e.Control != 0 {
			if e.Control > Leaves || !e.Group.IsMulticast() || e.Stream != "" {
				return fail("expectation %q: reports and leaves are counted for one multicast group, without a stream", e)
			}
			continue
		}
		if _, ok := streams[e.Stream]; !ok {
			return fail("expectation %q: no step sends stream %q", e, e.Stream)
		}
	}
	return nil
}

// CheckAll checks every scenario, and that no two of them (nor the
// runner's readiness probe) use the same group: the scenarios run one after
// the other on the same lab, and a group one leaves may linger on the device
// for the last-member query time.
func CheckAll(all []Scenario) error {
	names := make(map[string]bool)
	groups := map[netip.Addr]string{probeGroup4: "the readiness probe", probeGroup6: "the readiness probe"}
	for i := range all {
		s := &all[i]
		if err := s.Check(); err != nil {
			return err
		}
		if names[s.Name] {
			return fmt.Errorf("scenario %q: declared twice", s.Name)
		}
		names[s.Name] = true
		seen := make(map[netip.Addr]bool)
		for _, st := range s.Steps {
			if st.Action == Wait || seen[st.Group] {
				continue
			}
			seen[st.Group] = true
			if other, ok := groups[st.Group]; ok {
				return fmt.Errorf("scenario %q: group %s is also used by %s", s.Name, st.Group, other)
			}
			groups[st.Group] = fmt.Sprintf("scenario %q", s.Name)
		}
	}
	return nil
}

// MaxHosts returns the most hosts any of the scenarios needs, and at least
// the three the readiness probe uses.
func MaxHosts(all []Scenario) int {
	n := 3
	for _, s := range all {
		n = max(n, len(s.Hosts))
	}
	return n
}

// The readiness probe's groups (see Runner.Ready), which scenarios must not
// use.
var (
	probeGroup4 = netip.MustParseAddr("239.255.0.99")
	probeGroup6 = netip.MustParseAddr("ff0e::99")
)

// Step builders, so that the scenario table reads as a script.

func join(host, group string) Step {
	return Step{Action: Join, Host: host, Group: netip.MustParseAddr(group)}
}

// ignored marks a join step as one snoopswitch must ignore.
func (st Step) ignored() Step {
	st.Ignored = true
	return st
}

func joinSource(host, group, source string) Step {
	return Step{Action: JoinSource, Host: host, Group: netip.MustParseAddr(group), Source: source}
}

func joinExclude(host, group, source string) Step {
	return Step{Action: JoinExclude, Host: host, Group: netip.MustParseAddr(group), Source: source}
}

func leave(host, group string) Step {
	return Step{Action: Leave, Host: host, Group: netip.MustParseAddr(group)}
}

func send(host, stream, group string, count int) Step {
	return Step{Action: Send, Host: host, Stream: stream, Group: netip.MustParseAddr(group), Count: count}
}

func receives(host string, want Count, stream string) Expect {
	return Expect{Host: host, Stream: stream, Want: want}
}

func hears(host string, want Count, what Control, group string) Expect {
	return Expect{Host: host, Control: what, Group: netip.MustParseAddr(group), Want: want}
}

// differs marks an expectation the Linux bridge is known not to meet, with
// the docs/COMPARE.md section that explains why.
func (e Expect) differs(section string) Expect {
	e.Bridge = section
	return e
}
