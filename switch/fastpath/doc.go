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
// # What a hit costs
//
// Measured with BPF_PROG_TEST_RUN (TestProgramCost: the fastest of seven
// batches of 200 000 runs on a crafted frame; the kernel stops the clock
// while it yields the CPU, so the machine's load hardly moves it; a
// 2-vCPU VM, kernel 6.18, load average 4-6), as ns per run, of which
// about 35-45 are the test run's own (the bare redirect, five
// instructions, is the reference):
//
//	                              before (one 52-byte key map,  now
//	                              filter and tc both look up)
//	bare redirect, no lookup      40                            33-45
//	filter: unicast hit           114-135                       100-111
//	filter: IPv6 multicast hit    -                             127-156
//	filter: unicast miss          105-110                       76-96
//	tc after the filter's hit     158-197 (looks up again)      bare +0-20
//	tc alone (no ring): unicast   158-197                       108-146
//	tc alone: IPv6 multicast      186-247                       131-175
//	tc alone: fan-out to 4 ports  -                             1860-2650 (3 clones sent)
//
// So a unicast hit with the ring attached costs about 70-80 ns of program
// time over a bare redirect, against about 200 before. The kernel's
// instruction counts (bpftool prog's xlated; the verifier's walk): tc
// ingress 721 xlated, 3840 bytes JIT, 47 172 verified (891, 4396, 54 422
// before); ring filter 617, 3300, 28 330 (609, 2991, 1268). What went: the
// second lookup (tc only follows the filter's handoff), a map lookup the
// verifier could not inline (two maps merged into one call), the 52-byte
// key, the ifindex hash, a bpf_skb_load_bytes call per header, two or
// three a frame (now one, two with tags in the bytes: a socket filter
// cannot read the packet directly, so both programs copy the headers once
// and share the code that reads them), the fine clock (bpf_ktime_get_coarse_ns
// stamps hits; Flows and Sweep read CLOCK_MONOTONIC_COARSE). What stays:
// the flow hash lookup, one header copy, the entry's atomic hit count and
// stamp (exact counters), per-CPU counters.
//
// # Using the second core
//
// On veth, tc ingress of a switch port runs in the sender's softirq, on
// the sender's CPU, as the Linux bridge does: with one sender the second
// core idles. SteerReceive(port, cpus) sets receive packet steering (RPS)
// on a port: veth's netif_rx then queues the frame to another CPU's
// backlog, and the taps, the ring's filter and tc ingress run there.
// TestPhysicalLimit (64-byte frames, one sender on CPU 0, RPS to CPU 1,
// five paired rounds) on this shared 2-vCPU VM, where other work keeps
// rates at a third of an idle machine's and spreads the ratios widely:
//
//	                         over the bridge (paired median)         sender's CPU ns/frame
//	load average             3.4              4.0        6.7          3.4   4.0   6.7
//	bare redirect            0.96             1.56       1.88         1670  2224  2043
//	fast path, tc alone      1.06             1.12       0.64         1984  2554  2443
//	fast path, ring filter   1.08             1.37       0.66         2162  2528  2558
//	fast path, filter, RPS   1.43 (0.70-2.81) 1.07       0.69         1285  2073  1906
//	Linux bridge             1.00             1.00       1.00         2453  3077  2748
//	Linux bridge, RPS        1.43             1.05       1.25         1420  2329  1957
//	fast path, filter, NAPI  1.09             1.14       1.18         1996  2856  2583
//
// The sender thread's CPU per frame (its system calls and the softirq work
// run in their context), which the load moves much less than rates, is
// the figure to read: the fast path with its filter costs the sender's
// CPU 190-550 ns a frame less than the bridge in every run, and RPS takes
// the switch's and the receiver's work off the sender's CPU (450-1030 ns
// a frame), for the fast path as for the bridge. Whether that turns into
// rate depends on room on the other CPU. On a quiet machine (load average
// 1.4, five rounds) it did: the fast path with its filter and RPS ran at
// 2.05 times the bridge (min 1.73), 0.86 Mframes/s, against 1.15 without
// RPS, the sender's CPU at 1062 ns a frame against 2127. So the daemon
// steers by default (datapath.steer auto: internal/datapath.Steering,
// to the CPUs the switch may run on) on the fast datapath. Threaded NAPI
// (GRO on the veth gives its receive side NAPI, in a kernel thread) did
// not move the work. trafgen cannot measure a steered port: frames
// queued on the other CPU hold its socket's send buffer and it gives up
// on EAGAIN; this test, and the bench, send with a blocking sendmmsg
// sender.
//
// What the engine must do to use all this: attach the ring's filter to
// every ring socket of every fast path port (AttachSocketFilter: without
// it tc ingress makes the lookup itself, at the "tc alone" cost, and the
// ring copies every forwarded frame); install decisions through an
// Installer and Invalidate on every change as before; and, where a
// configuration asks for it, steer each port's receive processing with
// SteerReceive to the CPUs the ring's readers and the senders leave (all
// CPUs when it cannot know: RPS keeps a flow on one CPU by its hash; an
// empty list turns it off again). SteerReceive writes sysfs, which must
// show the
// switch's network namespace (a daemon started by ip netns exec, or with
// its own sysfs mount): it refuses an interface whose sysfs entry belongs
// to another namespace.
//
// # The interface the engine calls
//
//	d, err := fastpath.Load(maxFlows)     // errors.Is(err, ErrUnavailable): use the ring path
//	p, err := d.AttachPort(ifindex, id)   // per port; p.Close() detaches
//	err = d.AttachSocketFilter(ringFD)    // every socket of the port's fanout group
//	restore, err := fastpath.SteerReceive(name, cpus) // per port: its receive work to other CPUs (RPS)
//	in := fastpath.NewInstaller(d, 4096); go in.Run(ctx)
//	gen := d.Generation()                 // per frame, before reading the state
//	in.Offer(gen, switching.UnicastFlow(id, vlan, src, dst), fastpath.FlowAction{Verdict: fastpath.Forward, Out: ports})
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
