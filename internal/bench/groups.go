package bench

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/snoopswitch/snoopswitch/internal/control"
)

// GroupEntry is one port's membership of one group in a switch's table:
// snoopswitch's (ParseShowGroups) or the Linux bridge's MDB
// (testenv.Lab.LinuxBridgeMDB).
type GroupEntry struct {
	Group netip.Addr
	Port  string
}

// ParseShowGroups reads snoopswitch's group table as `snoopswitch show
// groups --json` prints it (a list of control.Group).
func ParseShowGroups(b []byte) ([]GroupEntry, error) {
	var doc []control.Group
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("bench: show groups: %w", err)
	}
	out := make([]GroupEntry, 0, len(doc))
	for _, e := range doc {
		g, err := netip.ParseAddr(e.Group)
		if err != nil {
			return nil, fmt.Errorf("bench: show groups: entry on %s: %w", e.Port, err)
		}
		out = append(out, GroupEntry{Group: g, Port: e.Port})
	}
	return out, nil
}

// linkLocalIPv4 is 224.0.0.0/24, whose groups are never snooped (RFC 4541
// s2.1.2) but which a bridge's table may list for its own stack.
var linkLocalIPv4 = netip.MustParsePrefix("224.0.0.0/24")

// CheckGroups checks a switch's table against what a multicast scenario
// installed: group held by exactly the ports members, and want IPv4 groups
// (group among them, link-local ones not counted) in the whole table. It
// returns how many such groups the table holds, and an error saying what
// differs.
func CheckGroups(entries []GroupEntry, group netip.Addr, members []string, want int) (int, error) {
	distinct := make(map[netip.Addr]bool)
	var ports []string
	for _, e := range entries {
		if !e.Group.Is4() || linkLocalIPv4.Contains(e.Group) {
			continue
		}
		distinct[e.Group] = true
		if e.Group == group {
			ports = append(ports, e.Port)
		}
	}
	slices.Sort(ports)
	wantPorts := slices.Sorted(slices.Values(members))
	if !slices.Equal(ports, wantPorts) {
		return len(distinct), fmt.Errorf("group %v is held by ports [%s], want [%s]", group, strings.Join(ports, " "), strings.Join(wantPorts, " "))
	}
	if len(distinct) != want {
		return len(distinct), fmt.Errorf("the table holds %d IPv4 groups, want %d", len(distinct), want)
	}
	return len(distinct), nil
}
