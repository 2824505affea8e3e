// Package fdb holds the forwarding tables of snoopswitch: the unicast MAC table with learning,
// aging, static entries, per-port limits and move/flap detection. No I/O; time is passed in as now.
// It also holds the multicast group table, keyed by (VLAN, group IP), with per-port IGMP/MLD membership.
package fdb
