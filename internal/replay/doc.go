// Package replay runs snoopswitch's forwarding engine over packet captures
// (pcap and pcapng) instead of interfaces: what each port would have been
// sent, what was dropped and why, the group table the snooping learned, and
// how fast the engine went. Time is the capture's time, so timers fire as
// they did on the wire and two runs give the same result.
//
// `snoopswitch replay` is its command line; the README documents the
// report's JSON shape.
package replay
