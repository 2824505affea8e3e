package fastpath

import (
	"errors"
	"fmt"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

// ErrUnavailable is wrapped by Load's error when this process cannot use
// eBPF here (not root, no CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN, a kernel
// without tcx, another OS): the ring path is the datapath to use then.
// CAP_PERFMON: the verifier refuses the programs' pointer arithmetic on
// map values reached by several paths without it (its Spectre v1 guard).
var ErrUnavailable = errors.New("fastpath: eBPF fast path unavailable")

// ErrOtherNamespace: SteerReceive cannot steer an interface because the
// process's /sys shows another network namespace than its own.
var ErrOtherNamespace = errors.New("fastpath: sysfs of another network namespace")

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

// FlowKey is what a decision depends on: the engine's key
// (switching.FlowKey), so that its decisions reach the kernel as they are.
// Build it with switching.UnicastFlow or switching.MulticastFlow.
type FlowKey = switching.FlowKey

// checkKey reports a key the kernel can never match.
func checkKey(k FlowKey) error {
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
