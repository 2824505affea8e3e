package fdb_test

import (
	"fmt"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// A switch learns each frame's source, looks up its destination, and floods
// when the lookup misses. The clock is whatever the caller passes in.
func ExampleMACTable() {
	tab, err := fdb.NewMACTable(fdb.Config{AgingTime: time.Minute})
	if err != nil {
		panic(err)
	}
	host, _ := fdb.ParseMAC("02:00:00:00:00:01")
	router, _ := fdb.ParseMAC("02:00:00:00:00:fe")
	if err := tab.AddStatic(0, router, 0); err != nil {
		panic(err)
	}

	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fmt.Println(tab.Learn(0, host, 2, start))
	fmt.Println(tab.Learn(0, host, 2, start.Add(time.Second)))
	fmt.Println(tab.Learn(0, host, 3, start.Add(2*time.Second)))

	port, ok := tab.Lookup(0, host, start.Add(2*time.Second))
	fmt.Println("host on port", port, ok)

	later := start.Add(2*time.Second + time.Minute)
	_, ok = tab.Lookup(0, host, later)
	fmt.Println("after a silent minute:", ok)
	fmt.Println("expired:", tab.Expire(later))
	for _, e := range tab.Entries(later) {
		fmt.Printf("vlan %d %v port %d static %v\n", e.VLAN, e.MAC, e.Port, e.Static)
	}
	// Output:
	// new
	// refreshed
	// moved
	// host on port 3 true
	// after a silent minute: false
	// expired: 1
	// vlan 0 02:00:00:00:00:fe port 0 static true
}
