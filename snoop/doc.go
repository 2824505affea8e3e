// Package snoop is IGMP and MLD snooping: the wire formats of IGMPv1/v2/v3,
// MLDv1/v2, PIM hellos and Multicast Router Discovery (decoding, and encoding
// the queries the switch sends), and the per-port membership state machine
// with its timers (RFC 3376, RFC 3810, RFC 2236, RFC 4541, RFC 4604):
// membership.go holds the state and its timers, statetable.go the router
// state table of RFC 3376 s6.4 that each report applies, with
// explicit host tracking of the IGMPv3/MLDv2 hosts behind each port
// (hosts.go), which decides what a fast leave may cut. Across several
// switches (a fabric, Config.SwitchPorts) reports reach every switch port,
// a fabric switch's querier marks its side RouterSwitchQuerier rather than
// a router port, and the election (QuerierID.Less) breaks ties between
// switches by MAC so that exactly one queries.
//
// It opens no sockets: the data plane hands it packets and sends what it
// asks to be sent.
package snoop
