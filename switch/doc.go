// Package switching is the data plane of snoopswitch: ports and their I/O
// backends (TPACKET_V3 rings), and the per-frame pipeline classify -> learn ->
// look up -> emit, with batching and counters by reason.
//
// The package is named switching because switch is a Go keyword; it lives in
// the switch/ directory.
package switching
