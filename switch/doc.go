// Package switching is the engine of snoopswitch: the per-frame pipeline
// classify -> guard -> learn -> look up -> emit, with batching and counters
// by reason, the control plane (snooping, the querier, the guard's events),
// and the ports as the engine sees them. It makes no system call and builds
// on any OS: replay runs it over a capture.
//
// A port's I/O is a Backend (with a Sender per worker) that the engine is
// handed: package afpacket (switch/afpacket) opens AF_PACKET TPACKET_V3
// rings on Linux interfaces, replay and the tests bring their own. Ports
// whose backends share a Poller (PolledBackend) are served by a few receive
// loops (Config.ReceiveLoops); any other backend receives in a goroutine of
// its own.
//
// With a FlowCache (the kernel fast path, switch/fastpath) the engine hands
// the decisions it made for a flow to the cache to repeat, and invalidates
// them on every change they depend on.
//
// The package is named switching because switch is a Go keyword; it lives in
// the switch/ directory.
package switching
