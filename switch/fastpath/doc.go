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
// Packet sockets see a received frame before tc ingress does, within the
// same __netif_receive_skb_core call on the same CPU, so the ring would
// copy every frame the kernel forwards. AttachSocketFilter gives the ring's
// sockets a filter that decides for the frame: it makes the lookup, counts
// the hit, resolves the outputs to interfaces, writes the decision to a
// per-CPU handoff and keeps the frame from the ring unless the decision is
// "ring". The tc program then only carries that decision out (redirect,
// clones, drop), with no lookup of its own; without a filter (no ring, or
// before it is attached) tc decides itself, the same way. A frame is
// looked up once, never both copied to the ring and forwarded by the
// kernel, and its decision stands even if the table changes between the
// filter and tc: the frame arrived before the change, like one the ring
// had already queued.
//
// Unicast and IPv4 flows are in one hash (24-byte keys), IPv6 flows in
// another (44 bytes), each of maxFlows entries: the kernel hashes a key
// three words at a time, and one map of 44-byte (before, 52-byte) keys
// made every lookup hash twice as much. Ports are found by interface index
// in an array (a hash past index 4096). Every map lookup is one the
// verifier inlines (the IPv6 one sits in a function of its own, so that
// the compiler cannot merge the two flow lookups into one call of either
// map, which the verifier would leave a real call).
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
// The flow tables are preallocated hashes of maxFlows entries each (one
// for unicast and IPv4 flows, one for IPv6): when one is full, Install
// fails with ErrFull and the flow stays on the ring, which forwards it as
// before; Sweep makes room.
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
