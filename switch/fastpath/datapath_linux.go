//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package fastpath

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// The kind codes and sizes of bpf/fastpath.c.
const (
	kindL2  = 1
	kindIP4 = 2
	kindIP6 = 3

	// lowIfindexes: interfaces with an index below it find their port in
	// an array, the others in a hash (LOW_IFINDEXES).
	lowIfindexes = 4096
)

// A flow key holds the port in a byte: fdb.MaxPorts must not outgrow it
// (this fails to compile if it does).
const _ = uint8(fdb.MaxPorts - 1)

// Datapath is the loaded flow table and programs. Its methods are safe for
// concurrent use; none of them is on the per-frame path.
type Datapath struct {
	objs fastpathObjects
	max  int

	mu    sync.Mutex // guards gen, ports and closed
	gen   uint32
	ports map[fdb.PortID]*Port
	// genSeen is gen for lock-free readers (Generation).
	genSeen atomic.Uint32
	closed  bool
}

// Port is a switch port with the fast path attached at its tc ingress.
type Port struct {
	d       *Datapath
	ID      fdb.PortID
	Ifindex int
	link    link.Link
}

// Load loads the programs and maps, with room for maxFlows flows. It
// fails, wrapping ErrUnavailable, where eBPF cannot be used.
func Load(maxFlows int) (*Datapath, error) {
	if maxFlows < 1 {
		return nil, fmt.Errorf("fastpath: maxFlows %d: the flow table needs room for at least one flow", maxFlows)
	}
	spec, err := loadFastpath()
	if err != nil {
		return nil, fmt.Errorf("fastpath: %w", err)
	}
	spec.Maps[fastpathMapFlows].MaxEntries = uint32(maxFlows)
	spec.Maps[fastpathMapFlows6].MaxEntries = uint32(maxFlows)
	d := &Datapath{max: maxFlows, ports: make(map[fdb.PortID]*Port)}
	if err := spec.LoadAndAssign(&d.objs, nil); err != nil {
		return nil, fmt.Errorf("%w: load the eBPF programs (needs root, or CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN): %w", ErrUnavailable, err)
	}
	if err := d.probeTCX(); err != nil {
		d.objs.Close()
		return nil, err
	}
	// Generation 0 is never current, so a zeroed entry is never valid.
	if err := d.setGeneration(1); err != nil {
		d.objs.Close()
		return nil, err
	}
	return d, nil
}

// probeTCX makes sure ports can be attached, before any is: it attaches
// the ingress program to an interface index no interface has. A kernel
// with tcx (Linux 6.6) looks the interface up and answers ENODEV; one
// without it, or a process that may not attach, fails otherwise. So a
// switch that cannot run the fast path finds out at Load, not halfway
// through its ports.
func (d *Datapath) probeTCX() error {
	l, err := link.AttachTCX(link.TCXOptions{Interface: math.MaxInt32, Program: d.objs.SnoopswitchIngress, Attach: ebpf.AttachTCXIngress})
	if err == nil {
		// An interface has that index after all: the probe says yes.
		return l.Close()
	}
	if errors.Is(err, unix.ENODEV) {
		return nil
	}
	return fmt.Errorf("%w: attach to tc ingress (tcx needs Linux 6.6, and CAP_NET_ADMIN): %w", ErrUnavailable, err)
}

// MaxFlows is the flow table's capacity.
func (d *Datapath) MaxFlows() int { return d.max }

// AttachPort attaches the fast path to the tc ingress (tcx) of interface
// ifindex as switch port port. Frames the kernel forwards to port leave
// through ifindex. Attaching a port again under a new ifindex (its
// interface was re-created) replaces the old attachment.
func (d *Datapath) AttachPort(ifindex int, port fdb.PortID) (*Port, error) {
	if int(port) >= fdb.MaxPorts {
		return nil, fmt.Errorf("fastpath: port %d: beyond %d", port, fdb.MaxPorts-1)
	}
	if ifindex <= 0 {
		return nil, fmt.Errorf("fastpath: port %d: interface index %d", port, ifindex)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errors.New("fastpath: datapath closed")
	}
	if old := d.ports[port]; old != nil {
		if err := old.detachLocked(); err != nil {
			return nil, err
		}
	}
	for _, p := range d.ports {
		if p.Ifindex == ifindex {
			return nil, fmt.Errorf("fastpath: interface %d is already port %d", ifindex, p.ID)
		}
	}
	// tcx runs the program after the packet taps, so the ring socket's
	// filter has decided first (see the handoff in bpf/fastpath.c).
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: d.objs.SnoopswitchIngress, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		return nil, fmt.Errorf("fastpath: attach to tc ingress of interface %d (tcx needs Linux 6.6): %w", ifindex, err)
	}
	info := fastpathPortInfo{Ifindex: uint32(ifindex), Port: uint16(port)}
	// Outputs first, then the ingress side: the program sees a port only
	// once it can send to it.
	errID := d.objs.PortsById.Put(uint32(port), info)
	errIf := d.portsByIfindex(ifindex).Put(uint32(ifindex), info)
	if err := errors.Join(errID, errIf); err != nil {
		l.Close()
		return nil, fmt.Errorf("fastpath: port %d: %w", port, err)
	}
	p := &Port{d: d, ID: port, Ifindex: ifindex, link: l}
	d.ports[port] = p
	return p, nil
}

// Close detaches the port: its frames all go to the ring again, and no
// entry sends to it.
func (p *Port) Close() error {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	if p.d.ports[p.ID] != p {
		return nil
	}
	return p.detachLocked()
}

// detachLocked takes the port out. Caller holds d.mu.
func (p *Port) detachLocked() error {
	d := p.d
	// The ingress side first: the socket filter then keeps nothing from the
	// ring, so no frame is filtered out for a tc program that is gone.
	var err error
	if m := d.portsByIfindex(p.Ifindex); m == d.objs.PortsByIfindex {
		err = m.Put(uint32(p.Ifindex), fastpathPortInfo{})
	} else {
		err = m.Delete(uint32(p.Ifindex))
	}
	err = errors.Join(err, p.link.Close())
	err = errors.Join(err, d.objs.PortsById.Put(uint32(p.ID), fastpathPortInfo{}))
	delete(d.ports, p.ID)
	if err != nil {
		return fmt.Errorf("fastpath: detach port %d: %w", p.ID, err)
	}
	return nil
}

// portsByIfindex is the map that finds the port of interface ifindex.
func (d *Datapath) portsByIfindex(ifindex int) *ebpf.Map {
	if ifindex < lowIfindexes {
		return d.objs.PortsByIfindex
	}
	return d.objs.PortsByHighIfindex
}

// AttachSocketFilter attaches to the packet socket fd (a port's receive
// ring, bound to its interface) the filter that keeps from it the frames
// tc ingress forwards or drops: without it the ring copies those too,
// since packet taps see a frame before tc ingress does. The filter makes
// the frame's lookup and tc ingress carries its decision out, so a frame
// is looked up once. It works for every port (it finds the port by the
// interface). Attach it to every socket of the port's fanout group.
func (d *Datapath) AttachSocketFilter(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ATTACH_BPF, d.objs.SnoopswitchRingFilter.FD()); err != nil {
		return fmt.Errorf("fastpath: SO_ATTACH_BPF: %w", err)
	}
	return nil
}

// Generation is the current generation. A decision is valid for the
// generation read before the state it was made from: see Installer.
func (d *Datapath) Generation() uint32 { return d.genSeen.Load() }

// Invalidate makes every entry stale at once (O(1): one array write). The
// entries stay in the table until Sweep removes them or Install overwrites
// them.
func (d *Datapath) Invalidate() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.gen + 1
	if g == 0 {
		g = 1 // 0 is never current
	}
	return d.setGenerationLocked(g)
}

func (d *Datapath) setGeneration(g uint32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.setGenerationLocked(g)
}

func (d *Datapath) setGenerationLocked(g uint32) error {
	if err := d.objs.Generation.Put(uint32(0), g); err != nil {
		return fmt.Errorf("fastpath: set generation: %w", err)
	}
	d.gen = g
	d.genSeen.Store(g)
	return nil
}

// Install installs the decision a for flow k in the current generation.
func (d *Datapath) Install(k FlowKey, a FlowAction) error {
	return d.InstallAt(d.Generation(), k, a)
}

// InstallAt installs a for k as decided in generation gen. A decision of
// an earlier generation is not installed (it would be stale at once), and
// ErrFull is returned when the table is full.
func (d *Datapath) InstallAt(gen uint32, k FlowKey, a FlowAction) error {
	if err := checkKey(k); err != nil {
		return err
	}
	if err := a.check(k); err != nil {
		return err
	}
	if gen != d.Generation() {
		return nil
	}
	e := fastpathFlowEntry{Generation: gen, Verdict: uint8(a.Verdict), Reason: a.Reason, TtlMin: a.TTLMin, TtlMax: a.TTLMax}
	if a.Verdict == Forward {
		for id, ok := a.Out.Next(0); ok; id, ok = a.Out.Next(id + 1) {
			if id != k.Port {
				e.OutPorts[e.N_out] = uint16(id)
				e.N_out++
			}
		}
	}
	m, key := d.flowMap(k)
	if err := m.Put(key, &e); err != nil {
		if errors.Is(err, unix.E2BIG) {
			return fmt.Errorf("fastpath: install %s: %w (%d flows)", k, ErrFull, d.max)
		}
		return fmt.Errorf("fastpath: install %s: %w", k, err)
	}
	return nil
}

// Delete removes the entry of k; a missing entry is no error.
func (d *Datapath) Delete(k FlowKey) error {
	m, key := d.flowMap(k)
	if err := m.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("fastpath: delete %s: %w", k, err)
	}
	return nil
}

// FlowStats returns the counters of k's entry; ok is false without one.
func (d *Datapath) FlowStats(k FlowKey) (s FlowStats, ok bool, err error) {
	m, key := d.flowMap(k)
	var e fastpathFlowEntry
	if err := m.Lookup(key, &e); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return FlowStats{}, false, nil
		}
		return FlowStats{}, false, fmt.Errorf("fastpath: flow %s: %w", k, err)
	}
	return d.flowStats(&e, monoNow()), true, nil
}

func (d *Datapath) flowStats(e *fastpathFlowEntry, now uint64) FlowStats {
	s := FlowStats{Hits: e.Hits, Stale: e.Generation != d.Generation()}
	if e.Hits > 0 && now > e.LastHitNs {
		s.Idle = time.Duration(now - e.LastHitNs)
	}
	return s
}

// Flows calls fn for every entry, stale ones included, until fn returns
// false. The engine reads the hits of the flows it no longer sees here.
func (d *Datapath) Flows(fn func(FlowKey, FlowStats) bool) error {
	var key fastpathFlowKey
	var key6 fastpathFlowKey6
	var e fastpathFlowEntry
	now := monoNow()
	it := d.objs.Flows.Iterate()
	for it.Next(&key, &e) {
		if !fn(decodeKey(&key), d.flowStats(&e, now)) {
			return nil
		}
	}
	it6 := d.objs.Flows6.Iterate()
	for it.Err() == nil && it6.Next(&key6, &e) {
		if !fn(decodeKey6(&key6), d.flowStats(&e, now)) {
			return nil
		}
	}
	if err := errors.Join(it.Err(), it6.Err()); err != nil {
		return fmt.Errorf("fastpath: read the flow table: %w", err)
	}
	return nil
}

// Sweep removes the stale entries, and those idle longer than idle if idle
// is positive, making room for new flows. It returns how many it removed.
func (d *Datapath) Sweep(idle time.Duration) (int, error) {
	now, gen := monoNow(), d.Generation()
	remove := func(e *fastpathFlowEntry) bool {
		// An entry never hit is idle since its install, which the kernel
		// does not record.
		return e.Generation != gen || (idle > 0 && e.Hits > 0 && now-e.LastHitNs > uint64(idle))
	}
	n, err := sweep[fastpathFlowKey](d.objs.Flows, remove)
	n6, err6 := sweep[fastpathFlowKey6](d.objs.Flows6, remove)
	if err := errors.Join(err, err6); err != nil {
		return n + n6, fmt.Errorf("fastpath: sweep: %w", err)
	}
	return n + n6, nil
}

// sweep deletes the entries of m that remove says to.
func sweep[K any](m *ebpf.Map, remove func(*fastpathFlowEntry) bool) (int, error) {
	var keys []K
	var key K
	var e fastpathFlowEntry
	it := m.Iterate()
	for it.Next(&key, &e) {
		if remove(&e) {
			keys = append(keys, key)
		}
	}
	if err := it.Err(); err != nil || len(keys) == 0 {
		return 0, err
	}
	n, err := m.BatchDelete(keys, nil)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		err = nil
	}
	return n, err
}

// Stats returns the kernel's counters, summed over CPUs.
func (d *Datapath) Stats() (*Stats, error) {
	s := new(Stats)
	var per []fastpathPortStats
	for i := range uint32(fdb.MaxPorts) {
		if err := d.objs.PortCounters.Lookup(i, &per); err != nil {
			return nil, fmt.Errorf("fastpath: port counters: %w", err)
		}
		c := &s.Ports[i]
		for _, p := range per {
			c.Frames += p.FwdFrames
			c.Bytes += p.FwdBytes
			c.TxFrames += p.TxFrames
			c.TxBytes += p.TxBytes
			c.TxErrors += p.TxErrors
			c.Punts += p.Punts
			c.Misses += p.Misses
		}
	}
	var drops []uint64
	for i := range uint32(len(s.Drops)) {
		if err := d.objs.DropCounters.Lookup(i, &drops); err != nil {
			return nil, fmt.Errorf("fastpath: drop counters: %w", err)
		}
		for _, n := range drops {
			s.Drops[i] += n
		}
	}
	return s, nil
}

// Close detaches every port and unloads the programs and maps.
func (d *Datapath) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	var errs []error
	for _, p := range d.ports {
		errs = append(errs, p.detachLocked())
	}
	errs = append(errs, d.objs.Close())
	return errors.Join(errs...)
}

// flowMap is the map k's entry is in, and its key there: IPv6 multicast
// flows have a map of their own, whose longer key the others need not hash.
// k has passed check.
func (d *Datapath) flowMap(k FlowKey) (*ebpf.Map, any) {
	g, s := k.Group.Unmap(), k.Source.Unmap()
	if k.IsMulticast() && !g.Is4() {
		return d.objs.Flows6, &fastpathFlowKey6{Port: uint8(k.Port), Kind: kindIP6, Vlan: k.VLAN, SrcMac: k.Src, Group: g.As16(), Source: s.As16()}
	}
	key := &fastpathFlowKey{Port: uint8(k.Port), Vlan: k.VLAN, SrcMac: k.Src}
	if !k.IsMulticast() {
		key.Kind, key.DstMac = kindL2, k.Dst
		return d.objs.Flows, key
	}
	key.Kind, key.Group, key.Source = kindIP4, g.As4(), s.As4()
	return d.objs.Flows, key
}

func decodeKey(key *fastpathFlowKey) FlowKey {
	k := FlowKey{Port: fdb.PortID(key.Port), VLAN: key.Vlan, Src: key.SrcMac}
	if key.Kind == kindIP4 {
		k.Group = netip.AddrFrom4(key.Group)
		k.Source = netip.AddrFrom4(key.Source)
		return k
	}
	k.Dst = key.DstMac
	return k
}

func decodeKey6(key *fastpathFlowKey6) FlowKey {
	return FlowKey{Port: fdb.PortID(key.Port), VLAN: key.Vlan, Src: key.SrcMac,
		Group: netip.AddrFrom16(key.Group), Source: netip.AddrFrom16(key.Source)}
}

// monoNow is CLOCK_MONOTONIC_COARSE in ns, bpf_ktime_get_coarse_ns's
// clock: the program stamps hits with it, since it is read without the
// clock source (the fine clock costs a hit more, and aging needs no more
// than the tick it is exact to).
func monoNow() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC_COARSE, &ts); err != nil {
		return 0
	}
	return uint64(ts.Nano())
}
