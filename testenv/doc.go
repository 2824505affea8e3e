// Package testenv builds network-namespace labs for testing snoopswitch: one
// switch namespace holding the switch-side veth ends, and host namespaces that
// run the real Linux stack behind an eth0 each.
//
// Everything a Lab creates carries its prefix ("ss" and four hex digits unless
// chosen), lives only in namespaces the Lab created, and is removed by
// Lab.Close. Namespaces are named (bind-mounted under /run/netns like
// `ip netns add`), so `ip netns exec <name> ...` reaches them while a test runs.
// Addresses come only from the ranges reserved for testing: 198.18.0.0/15 and
// 2001:db8::/32.
//
// Building a lab needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN). Tests call New,
// which skips without root unless SNOOPSWITCH_REQUIRE_ROOT=1 demands a failure.
package testenv
