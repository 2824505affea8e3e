package switching

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// FlowCache is a cache of the engine's forwarding decisions that repeats
// them for later frames of the same flow, as the Open vSwitch datapath
// repeats what ofproto decided: the kernel fast path (package
// switch/fastpath, its Cache) implements it. The engine stays the only
// place that decides; the cache only matches and repeats.
//
// The rule that keeps it exact: a worker reads Generation once per batch,
// before it reads any state a decision depends on, and offers its decisions
// with that value; whoever changes such state calls Invalidate after the
// change, before the changing call returns. A decision made on the old state
// then carries an old generation and is never installed, or is stale in the
// cache at once (and a stale entry is a miss: the frame comes to the
// engine). The state a decision depends on, and where it calls Invalidate:
//
//   - the MAC table: a move, a removal (aging by Expire, a port's flush, a
//     static entry removed, a port-limit eviction), a static entry added
//     (fdb.MACTable.SetChanged);
//   - the group table: a group's forwarding view published, a group added
//     or removed (fdb.GroupTable.SetChanged, through snoop.Config.Changed);
//   - the router ports, a VLAN and family's start-up window or want of a
//     querier, the flood ports (snoop.Config.Changed);
//   - the guard's policies (SetPolicies, UpdatePolicies: reloads and
//     runtime rules);
//   - a port's VLANs (SetPortVLANs) and split horizon
//     (SetPortSplitHorizon), a port added, removed, given a new
//     backend, down or up, and every new generation of the receive loops.
//
// One bound is the ring's too, but later: Lookup ignores a MAC entry past
// its ageing time at once, while the cache forgets a decision to that MAC
// when the control plane's Expire removes the entry, at most a second and a
// control-plane tick later. In between, frames to the MAC that went silent still
// go to the port it was on, which a flood would have reached as well.
//
// Only forwarding decisions are offered, and only those the cache repeats
// exactly as the engine made them: a unicast frame to a learned port, and
// IP multicast data to the ports its group and source go to after the
// egress checks, whose source MAC was plainly learned (or refreshed) on the
// ingress port, whose output ports are up and carry its VLAN, and whose
// forwarding counted nothing but the frame itself. Floods, drops and
// control packets stay with the engine (drops, so that each is counted
// under its reason by the engine; a kernel drop entry is for later).
type FlowCache interface {
	// Generation is the current generation.
	Generation() uint32
	// Offer hands the cache decision a for flow k, made on state read
	// after gen was. It never blocks and allocates nothing; false means
	// it was not taken (the flow stays with the engine, which offers it
	// again later).
	Offer(gen uint32, k FlowKey, a FlowAction) bool
	// Invalidate makes every decision offered or held so far stale, before
	// it returns.
	Invalidate()
	// Hits calls fn for every flow of the current generation that the
	// cache has forwarded frames of, with the time since its last one.
	// The engine sees none of those frames, and refreshes from them what
	// its own frames would have (the source MAC's ageing). It may also make
	// room in the cache.
	Hits(fn func(k FlowKey, idle time.Duration))
	// Counters returns what the cache forwarded, by PortID (ingress for
	// Rx, egress for Tx), since it was made; nil if it cannot say.
	Counters() []FlowCounters
}

// FlowKey is what one of the engine's forwarding decisions depends on
// besides the state FlowCache's rule covers. Build it with UnicastFlow or
// MulticastFlow.
type FlowKey struct {
	// Port is the ingress port and VLAN the frame's VLAN (Frame.VLAN).
	Port fdb.PortID
	VLAN uint16
	// Src is the source MAC, in every key: a frame of a MAC that moved
	// arrives on another port and misses.
	Src fdb.MAC
	// Dst is the destination MAC of a unicast flow, zero for multicast.
	Dst fdb.MAC
	// Group and Source are valid iff the flow is IP multicast data, which
	// is forwarded by group and source, never by MAC: 32 IPv4 groups share
	// each group MAC.
	Group, Source netip.Addr
}

// UnicastFlow is the key of frames from src to the individual address dst.
func UnicastFlow(port fdb.PortID, vlan uint16, src, dst fdb.MAC) FlowKey {
	return FlowKey{Port: port, VLAN: vlan, Src: src, Dst: dst}
}

// MulticastFlow is the key of IP multicast data from src (MAC) and source
// (IP) to group.
func MulticastFlow(port fdb.PortID, vlan uint16, src fdb.MAC, group, source netip.Addr) FlowKey {
	return FlowKey{Port: port, VLAN: vlan, Src: src, Group: group, Source: source}
}

// IsMulticast reports whether k is an IP multicast data flow.
func (k FlowKey) IsMulticast() bool { return k.Group.IsValid() }

func (k FlowKey) String() string {
	if k.IsMulticast() {
		return fmt.Sprintf("port %d vlan %d %s (%s, %s)", k.Port, k.VLAN, k.Src, k.Source, k.Group)
	}
	return fmt.Sprintf("port %d vlan %d %s -> %s", k.Port, k.VLAN, k.Src, k.Dst)
}

// FlowAction is a forwarding decision: send the frame out of Out (never
// empty, never the ingress port).
type FlowAction struct {
	Out fdb.PortSet
	// TTLMax bounds the IPv4 TTL or IPv6 hop limit of the frames the
	// decision holds for (guard.Guard.DataTTLMax), 0 for any. Multicast
	// only.
	TTLMax uint8
}

// FlowCounters are what a FlowCache forwarded for one port.
type FlowCounters struct {
	// RxFrames and RxBytes were received on the port and forwarded (or
	// dropped by an entry) by the cache; the engine never saw them.
	RxFrames uint64 `json:"rx_frames"`
	RxBytes  uint64 `json:"rx_bytes"`
	// TxFrames and TxBytes left through the port; TxErrors failed to.
	TxFrames uint64 `json:"tx_frames"`
	TxBytes  uint64 `json:"tx_bytes"`
	TxErrors uint64 `json:"tx_errors"`
}

// offeredSlots is the size of a worker's memory of the flows it offered,
// a power of two.
const offeredSlots = 256

// reofferAfter is how long a worker trusts its memory that it offered a
// flow in the current generation: after that a frame of the flow that
// still comes to the engine (the offer was lost, the cache was full, or
// it made room by removing the entry) offers it again.
const reofferAfter = time.Second

// offeredFlow is one slot of a worker's memory of its offers.
type offeredFlow struct {
	key   FlowKey
	gen   uint32
	until time.Time
}

// flowHash spreads a key over the offered slots. Allocation-free.
func flowHash(k *FlowKey) uint64 {
	h := uint64(k.Port)<<48 | uint64(k.VLAN)<<32
	h ^= macBits(k.Src) * 0x9e3779b97f4a7c15
	h ^= macBits(k.Dst) * 0xc2b2ae3d27d4eb4f
	if k.Group.IsValid() {
		g, s := k.Group.As16(), k.Source.As16()
		h ^= (be64(g[8:]) ^ be64(g[:8])) * 0x165667b19e3779f9
		h ^= (be64(s[8:]) ^ be64(s[:8])) * 0x27d4eb2f165667c5
	}
	return (h ^ h>>29) * 0x9e3779b97f4a7c15
}

func macBits(m fdb.MAC) uint64 {
	return uint64(m[0])<<40 | uint64(m[1])<<32 | uint64(m[2])<<24 | uint64(m[3])<<16 | uint64(m[4])<<8 | uint64(m[5])
}

func be64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

// offer hands the cache the decision to send the current frame's flow k
// out of out, unless the worker offered it in this generation lately.
func (w *Worker) offer(k FlowKey, a FlowAction, now time.Time) {
	slot := &w.offered[flowHash(&k)>>(64-8)&(offeredSlots-1)]
	if slot.gen == w.gen && slot.key == k && now.Before(slot.until) {
		return
	}
	if w.e.cache.Offer(w.gen, k, a) {
		slot.key, slot.gen, slot.until = k, w.gen, now.Add(reofferAfter)
	}
}

// repeatable reports whether the cache may repeat a forward of the current
// frame to port out: the frame reaches it (its VLAN, split horizon) and it
// is up, so emit sends the frame there and counts nothing else.
func (w *Worker) repeatable(out fdb.PortID) bool {
	p := w.ports[out]
	return p != nil && w.reaches(p) && p.up.Load()
}

// invalidate tells the flow cache that state its decisions depend on has
// changed (see FlowCache). Call it after the change.
func (e *Engine) invalidate() {
	if e.cache != nil {
		e.cache.Invalidate()
	}
}

// flowRefreshInterval is how often Run reads the flow cache's hits to
// refresh the ageing of the sources whose frames the cache forwards; at
// most a quarter of the MAC ageing time, so no source ages out between
// two reads.
func (e *Engine) flowRefreshInterval() time.Duration {
	return min(2*time.Second, e.macs.AgingTime()/4)
}

// RefreshFlows refreshes, from the flow cache's hits, the ageing of the
// source MACs of the flows it forwards, as their frames would have if they
// had come to the engine (Open vSwitch does the same from its datapath
// flow statistics): to the time of each flow's last frame, and only where
// the source is still learned on the flow's ingress port. It returns how
// many it refreshed. Run calls it every few seconds.
func (e *Engine) RefreshFlows() int {
	if e.cache == nil {
		return 0
	}
	now, n := e.clock(), 0
	e.cache.Hits(func(k FlowKey, idle time.Duration) {
		if e.macs.Refresh(k.VLAN, k.Src, k.Port, now.Add(-idle)) {
			n++
		}
	})
	return n
}

// refreshFlows runs RefreshFlows until ctx is done.
func (e *Engine) refreshFlows(done <-chan struct{}) {
	t := time.NewTicker(e.flowRefreshInterval())
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			e.RefreshFlows()
		}
	}
}
