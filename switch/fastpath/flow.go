package fastpath

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// ErrUnavailable is wrapped by Load's error when this process cannot use
// eBPF here (not root, no CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN, a kernel
// without tcx, another OS): the ring path is the datapath to use then.
// CAP_PERFMON: the verifier refuses the programs' pointer arithmetic on
// map values reached by several paths without it (its Spectre v1 guard).
var ErrUnavailable = errors.New("fastpath: eBPF fast path unavailable")

// ErrFull is wrapped by Install's error when the flow table holds maxFlows
// entries (IPv6 multicast flows have a table of maxFlows of their own): the flow stays on the ring path, which forwards it as before.
var ErrFull = errors.New("fastpath: flow table full")

// MaxOutputs is the most ports one entry sends a frame to. A decision with
// more stays on the ring path (Install refuses it).
const MaxOutputs = 64

// Verdict is what the kernel does with a frame whose flow has an entry.
type Verdict uint8

const (
	// Punt sends every frame of the flow to the engine (the ring), as a
	// miss does; an entry that says so keeps the engine from installing
	// the flow again and again.
	Punt Verdict = iota
	// Forward sends the frame out of FlowAction.Out (an empty set
	// discards it silently, as the engine does when a group has no
	// listener).
	Forward
	// Drop discards the frame and counts it under FlowAction.Reason.
	Drop
)

func (v Verdict) String() string {
	switch v {
	case Punt:
		return "punt"
	case Forward:
		return "forward"
	case Drop:
		return "drop"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// FlowKey is what a decision depends on. Build it with UnicastFlow or
// MulticastFlow.
type FlowKey struct {
	// Port is the ingress port.
	Port fdb.PortID
	// VLAN is the frame's VLAN ID (switching.Frame.VLAN): 0 for untagged
	// and priority-tagged frames.
	VLAN uint16
	// Src is the source MAC. It is in every key: a hit proves the source
	// was learned on Port when the entry was installed (a MAC that moves
	// arrives on another port and misses).
	Src fdb.MAC
	// Dst is the destination MAC of a unicast flow; zero for multicast,
	// whose destination must be the MAC its group maps to (else the
	// frame goes to the engine, which drops it as mac-ip-mismatch).
	Dst fdb.MAC
	// Group and Source are valid iff this is an IP multicast data flow.
	Group, Source netip.Addr
}

// UnicastFlow is the key of frames from src to the individual address dst,
// forwarded by the MAC table.
func UnicastFlow(port fdb.PortID, vlan uint16, src, dst fdb.MAC) FlowKey {
	return FlowKey{Port: port, VLAN: vlan, Src: src, Dst: dst}
}

// MulticastFlow is the key of IP multicast data from src (MAC) and source
// (IP) to group, forwarded by the group table. Never the MAC alone: 32 IPv4
// groups share each group MAC.
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

// check reports a key the kernel can never match.
func (k FlowKey) check() error {
	switch {
	case int(k.Port) >= fdb.MaxPorts:
		return fmt.Errorf("fastpath: flow %s: port beyond %d", k, fdb.MaxPorts-1)
	case k.VLAN > 4094:
		return fmt.Errorf("fastpath: flow %s: VLAN IDs are 0 to 4094", k)
	case k.Src.IsMulticast() || k.Src.IsZero():
		return fmt.Errorf("fastpath: flow %s: a multicast or zero source MAC never reaches the lookup", k)
	}
	if !k.IsMulticast() {
		if k.Dst.IsMulticast() {
			return fmt.Errorf("fastpath: flow %s: a unicast flow needs an individual destination MAC (multicast is keyed by group, broadcast never)", k)
		}
		return nil
	}
	g, s := k.Group.Unmap(), k.Source.Unmap()
	switch {
	case !g.IsMulticast():
		return fmt.Errorf("fastpath: flow %s: %s is not a multicast group", k, k.Group)
	case !k.Dst.IsZero():
		return fmt.Errorf("fastpath: flow %s: a multicast flow has no destination MAC (its group's MAC is checked)", k)
	case !s.IsValid() || s.Is4() != g.Is4():
		return fmt.Errorf("fastpath: flow %s: the source must be an address of the group's family", k)
	}
	return nil
}

// FlowAction is the engine's decision for a flow.
type FlowAction struct {
	Verdict Verdict
	// Out are the ports a Forward sends to; the ingress port is skipped.
	Out fdb.PortSet
	// Reason is the engine's drop reason code, counted per reason in
	// Stats.Drops (the kernel does not interpret it).
	Reason uint8
	// TTLMin and TTLMax bound the IPv4 TTL or IPv6 hop limit of the frames
	// the decision holds for (IP multicast flows only; 0 is no bound). A
	// frame outside goes to the engine. The guard's TTL rule depends on
	// the packet, not the key (guard.Data drops a TTL above a port's
	// MaxTTL): a pass decided on a TTL of 1 holds for TTLMax 1.
	TTLMin, TTLMax uint8
}

func (a FlowAction) check(k FlowKey) error {
	switch {
	case a.Verdict > Drop:
		return fmt.Errorf("fastpath: flow %s: %v", k, a.Verdict)
	case a.Verdict == Forward && a.Out.Len() > MaxOutputs:
		return fmt.Errorf("fastpath: flow %s: %d output ports, at most %d in the kernel (it stays on the ring)", k, a.Out.Len(), MaxOutputs)
	case a.TTLMax != 0 && a.TTLMin > a.TTLMax:
		return fmt.Errorf("fastpath: flow %s: TTL range %d-%d is empty", k, a.TTLMin, a.TTLMax)
	case (a.TTLMin != 0 || a.TTLMax != 0) && !k.IsMulticast():
		return fmt.Errorf("fastpath: flow %s: a TTL range applies to IP multicast flows only", k)
	}
	return nil
}

// FlowStats is what the kernel counted for one entry.
type FlowStats struct {
	// Hits counts the frames the kernel forwarded or dropped by the entry.
	Hits uint64
	// Idle is the time since the last hit; valid iff Hits > 0. The engine
	// refreshes the aging of the source MAC (and the flow) from it, as
	// Open vSwitch does from datapath flow stats: it sees no frame of a
	// flow the kernel forwards.
	Idle time.Duration
	// Stale reports an entry of an earlier generation (see Invalidate):
	// the kernel treats it as a miss.
	Stale bool
}

// PortCounters are the kernel's counters of one port, summed over CPUs.
type PortCounters struct {
	// Frames and bytes received on the port that the kernel forwarded or
	// dropped by an entry (the ring never saw them).
	Frames, Bytes uint64
	// Frames and bytes the kernel sent out of the port.
	TxFrames, TxBytes uint64
	// TxErrors counts fan-out copies the kernel failed to send.
	TxErrors uint64
	// Punts and Misses count frames received on the port that went to the
	// ring: not judgeable in the kernel or a Punt entry, and no valid
	// entry.
	Punts, Misses uint64
}

// Stats are the kernel's counters, summed over CPUs.
type Stats struct {
	// Ports holds the counters by PortID.
	Ports [fdb.MaxPorts]PortCounters
	// Drops counts frames dropped by Drop entries, by reason code.
	Drops [256]uint64
}
