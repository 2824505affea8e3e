// Package fastpath is the kernel fast path of snoopswitch: eBPF programs
// and maps that repeat, for later frames of a flow, a decision the engine
// (package switching) made. The engine decides, the kernel repeats (the
// Open vSwitch split): nothing here decides anything the engine did not.
//
// # What the kernel does
//
// A tc program (tcx ingress, Linux 6.6+) on every switch port reads the
// frame as switching.Frame.Decode does and looks its flow up:
//
//   - unicast: (in port, VLAN, source MAC, destination MAC);
//   - IP multicast data: (in port, VLAN, source MAC, group, source IP), and
//     only under the MAC the group maps to (RFC 1112 s6.4, RFC 2464 s7).
//
// The source MAC is in every key, so a hit proves the source was learned
// on the in port when the entry was installed: a MAC that moves arrives on
// another port and misses. Everything else goes to the ring (TCX_NEXT, so
// the TPACKET_V3 socket gets it as before): every IGMP and PIM packet,
// IPv6 with an extension header or MLD/MRD, broadcast, non-IP multicast, a
// multicast or zero source MAC, frames with more than three tags in the
// bytes, anything cut short or malformed, and misses. A hit forwards
// (bpf_redirect for one output; bpf_clone_redirect to all but the last of
// a fan-out, GSO super-frames intact: nothing is linearized or rewritten),
// drops under the engine's reason code, or punts. An IP entry may bound the
// TTL it holds for (the guard's TTL rule depends on the packet, not the
// key); a packet outside punts.
//
// Packet sockets see a received frame before tc ingress does, so the ring
// would copy every frame the kernel forwards. AttachSocketFilter gives the
// ring's sockets a filter that makes the same lookup and keeps the frames
// the kernel will handle from the ring; the tc program then follows the
// filter's answer for that very frame (a per-CPU handoff), so a frame is
// never both copied to the ring and forwarded by the kernel, even when the
// table changes between the two.
//
// # Invalidation
//
// Every entry carries the generation it was decided in; a global
// generation (an array map) makes them all stale at once with Invalidate
// (a stale entry is a miss). Delete removes one entry; Sweep removes the
// stale ones and, optionally, the idle ones. Decisions come through an
// Installer, a bounded queue that never blocks the per-frame path.
// Measured here (BenchmarkInvalidate, BenchmarkDelete, BenchmarkSweep10000,
// 10 000 entries, a loaded 2-core VM): Invalidate about 1.8 µs whatever the
// table holds, Install about 5 µs and Delete about 2.6 µs per entry, a
// Sweep of 10 000 stale entries about 57 ms.
//
// The flow table is a preallocated hash of maxFlows entries: when it is
// full, Install fails with ErrFull and the flow stays on the ring, which
// forwards it as before; Sweep makes room.
//
// # The interface the engine calls
//
//	d, err := fastpath.Load(maxFlows)     // errors.Is(err, ErrUnavailable): use the ring path
//	p, err := d.AttachPort(ifindex, id)   // per port; p.Close() detaches
//	err = d.AttachSocketFilter(ringFD)    // every socket of the port's fanout group
//	in := fastpath.NewInstaller(d, 4096); go in.Run(ctx)
//	gen := d.Generation()                 // per frame, before reading the state
//	in.Offer(gen, fastpath.UnicastFlow(id, vlan, src, dst), fastpath.FlowAction{Verdict: fastpath.Forward, Out: ports})
//	d.Invalidate()                        // after any change a decision depends on
//	d.Stats(); d.Flows(fn); d.Sweep(idle) // counters, per-flow hits and idle time, room
//
// The engine itself reaches all this through one adapter, Cache, its
// switching.FlowCache (switching cannot import this package, which builds
// on it):
//
//	cfg.FlowCache = fastpath.NewCache(d, in, logger)
//
// Its workers offer decisions with the generation they read before the
// state; the engine, the MAC and group tables and the snooper invalidate
// after every change a decision depends on (switching.FlowCache lists
// them); the engine reads the hits back every few seconds to keep the
// sources of forwarded flows from ageing, and the port counters into its
// Stats.
//
// The maps, keys and values are laid out in bpf/fastpath.c; `make
// generate` rebuilds the committed objects (fastpath_bpfel.*) with bpf2go
// and clang-14, which nothing else needs.
package fastpath
