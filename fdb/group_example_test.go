package fdb_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// snoop keeps each port's membership in the table; the data plane asks
// which ports want a frame from a source to a group. Port 1 asked for
// INCLUDE {10.0.0.1}, port 2 for EXCLUDE {10.0.0.2} (RFC 3376 s6.3).
func ExampleGroupTable() {
	tab := fdb.NewGroupTable()
	group := netip.MustParseAddr("232.1.1.1")
	s1, s2, s3 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	tab.Update(100, group, 1, func(m *fdb.PortMembership) {
		m.Requested = map[netip.Addr]time.Time{s1: now.Add(260 * time.Second)}
	})
	tab.Update(100, group, 2, func(m *fdb.PortMembership) {
		m.Mode = fdb.ModeExclude
		m.GroupTimer = now.Add(260 * time.Second)
		m.Excluded = map[netip.Addr]struct{}{s2: {}}
	})

	for _, src := range []netip.Addr{s1, s2, s3} {
		ports, registered := tab.Lookup(100, group, src)
		fmt.Print(src, " ->")
		for p, ok := ports.Next(0); ok; p, ok = ports.Next(p + 1) {
			fmt.Print(" ", p)
		}
		fmt.Println(" registered:", registered)
	}

	// Port 2's link goes down.
	fmt.Println("removed:", tab.RemovePort(2))
	ports, _ := tab.Lookup(100, group, s3)
	fmt.Println(s3, "->", ports.Ports())
	// Output:
	// 10.0.0.1 -> 1 2 registered: true
	// 10.0.0.2 -> registered: true
	// 10.0.0.3 -> 2 registered: true
	// removed: 1
	// 10.0.0.3 -> []
}
