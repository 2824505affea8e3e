package bench

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/snoopswitch/snoopswitch/internal/control"
)

// GroupEntry is one port's membership of one group in a switch's table.
type GroupEntry struct {
	Group netip.Addr
	Port  string
}

// ParseBridgeMDB reads the Linux bridge's multicast database as `bridge -j
// mdb show` prints it: a list of objects whose "mdb" lists entries with
// "port" and "grp" (and "router" the router ports, which are not entries).
func ParseBridgeMDB(b []byte) ([]GroupEntry, error) {
	var doc []struct {
		MDB []struct {
			Port  string `json:"port"`
			Group string `json:"grp"`
		} `json:"mdb"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("bench: bridge mdb show: %w", err)
	}
	var out []GroupEntry
	for _, d := range doc {
		for _, e := range d.MDB {
			g, err := netip.ParseAddr(e.Group)
			if err != nil {
				return nil, fmt.Errorf("bench: bridge mdb show: entry on %s: %w", e.Port, err)
			}
			out = append(out, GroupEntry{Group: g, Port: e.Port})
		}
	}
	return out, nil
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

// BridgeOptions are the Linux bridge's multicast options the bench sets, as
// `ip -d -j link show` prints them.
type BridgeOptions struct {
	Snooping        int `json:"mcast_snooping"`
	Querier         int `json:"mcast_querier"`
	HashMax         int `json:"mcast_hash_max"`
	IGMPVersion     int `json:"mcast_igmp_version"`
	QueryResponseCS int `json:"mcast_query_response_intvl"` // centiseconds
}

// ParseBridgeOptions reads a bridge's multicast options from `ip -d -j
// link show BRIDGE`.
func ParseBridgeOptions(b []byte) (BridgeOptions, error) {
	var doc []struct {
		LinkInfo struct {
			Kind string        `json:"info_kind"`
			Data BridgeOptions `json:"info_data"`
		} `json:"linkinfo"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return BridgeOptions{}, fmt.Errorf("bench: ip link show: %w", err)
	}
	if len(doc) != 1 || doc[0].LinkInfo.Kind != "bridge" {
		return BridgeOptions{}, fmt.Errorf("bench: ip link show: want one bridge, got %d links", len(doc))
	}
	return doc[0].LinkInfo.Data, nil
}
