// Package fdb holds the forwarding tables of snoopswitch: the unicast MAC table with learning,
// aging, static entries, per-port limits and move/flap detection. No I/O; time is passed in as now.
package fdb
