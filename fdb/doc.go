// Package fdb holds the forwarding tables of snoopswitch: the unicast MAC table with learning,
// aging, static entries, per-port limits and move/flap detection. No I/O; time is passed in as now.
// It also holds the multicast group table, keyed by (VLAN, group IP), with per-port IGMP/MLD membership
// and a timer wheel of the memberships' deadlines, so that a timer tick touches only what is due.
package fdb
