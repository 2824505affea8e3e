package switching

import (
	"errors"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/snoop"
)

// Worker is the per-frame pipeline for the frames of one ingress port:
// classify, guard, learn, look up, emit. It is used by one goroutine and
// allocates nothing per frame.
type Worker struct {
	e       *Engine
	in      *port
	ports   []*port  // by PortID, nil for removed ports
	senders []Sender // by egress PortID; nil for the ingress port
	queued  []int    // by egress PortID: frames in the current batch
	dirty   []fdb.PortID
	tx      []txCounters // by egress PortID
	all     fdb.PortSet  // every port
	frame   Frame
	msg     snoop.Message // the control packet being handled
	// learned: the current frame's source was learned or refreshed on
	// the ingress port, nothing else (see FlowCache).
	learned bool
	// gen is the flow cache's generation, read at the start of the batch;
	// offered remembers the flows offered lately (nil without a cache).
	gen     uint32
	offered []offeredFlow
}

// Handle forwards a batch of frames received on the worker's port. Every
// frame has been handed to the kernel (or dropped and counted) when it
// returns, so the batch's memory may be reused.
func (w *Worker) Handle(batch []Packet) {
	now := w.e.clock()
	if w.e.cache != nil {
		// Before any state is read: see FlowCache.
		w.gen = w.e.cache.Generation()
	}
	for i := range batch {
		w.forward(&batch[i], now)
	}
	w.flush()
}

func (w *Worker) forward(p *Packet, now time.Time) {
	in := w.in
	in.rx.frames.Add(1)
	in.rx.bytes.Add(uint64(p.Len))

	f := &w.frame
	f.Decode(p.Data, p.Tag)
	switch {
	case f.Class == ClassInvalid:
		w.drop(DropMalformed)
		return
	case p.Len > len(p.Data):
		w.drop(DropTruncated)
		return
	case f.Src.IsMulticast() || f.Src.IsZero():
		w.drop(DropInvalidSrcMAC)
		return
	case !in.carries(f.VLAN):
		w.drop(DropVLANNotAllowed)
		return
	}

	lr := w.e.macs.Learn(f.VLAN, f.Src, in.id, now)
	w.learned = lr == fdb.LearnRefreshed || lr == fdb.LearnNew
	switch lr {
	case fdb.LearnMoved:
		in.rx.events[EventFDBMove].Add(1)
	case fdb.LearnPortLimit:
		in.rx.events[EventFDBPortLimit].Add(1)
	case fdb.LearnStatic:
		// The static entry may be on this very port; only a different
		// port is a conflict, and fdb counts those itself.
	}

	if f.Class != ClassIPMulticast && w.e.guard != nil && w.strayControl(p, now) {
		return // the guard or the parser counted it
	}

	switch f.Class {
	case ClassUnicast:
		if out, ok := w.e.macs.Lookup(f.VLAN, f.Dst, now); ok {
			if out == in.id {
				w.drop(DropSamePort)
				return
			}
			if w.offered != nil && w.learned && f.VLAN <= MaxVLAN && w.repeatable(out) {
				var set fdb.PortSet
				set.Add(out)
				w.offer(UnicastFlow(in.id, f.VLAN, f.Src, f.Dst), FlowAction{Out: set}, now)
			}
			w.emit(out, p)
			return
		}
		in.rx.events[EventUnknownUnicast].Add(1)
	case ClassMulticast:
		if isReservedGroup(f.Dst) {
			w.drop(DropReservedGroup)
			return
		}
		in.rx.events[EventFlood].Add(1)
	case ClassIPMulticast:
		if s := w.e.snooper; s != nil {
			w.ipMulticast(s, p, now)
			return
		}
		in.rx.events[EventFlood].Add(1)
	default:
		in.rx.events[EventFlood].Add(1)
	}
	w.flood(p)
}

// ipMulticast forwards an IP multicast frame by its group and source
// (RFC 4541): control packets through the guard and snoop, data to the
// ports that want it. Never by MAC alone: 32 IPv4 groups share each MAC.
func (w *Worker) ipMulticast(s *snoop.Snooper, p *Packet, now time.Time) {
	f, in, g := &w.frame, w.in, w.e.guard
	l3 := p.Data[f.L3:]
	if snoop.MulticastMAC(f.Group) != f.Dst {
		w.drop(DropMACIPMismatch)
		return
	}
	if snoop.IsControl(f.EtherType, l3) {
		w.controlPacket(s, p, now)
		return
	}
	if g != nil && g.Data(in.id, f.Group, f.Source, ipTTL(f.EtherType, l3)) != guard.Pass {
		return // the guard counted it
	}
	if snoop.Flooded(f.Group) {
		in.rx.events[EventFlood].Add(1)
		w.flood(p)
		return
	}
	out := s.DataPorts(f.VLAN, f.Group, f.Source, w.all)
	out.Remove(in.id)
	denied := false
	if g != nil {
		for id, ok := out.Next(0); ok && int(id) < len(w.ports); id, ok = out.Next(id + 1) {
			if !g.Egress(id, f.Group, f.Source) {
				out.Remove(id)
				denied = true
			}
		}
	}
	if out.IsEmpty() {
		in.rx.events[EventNoListener].Add(1)
		return
	}
	in.rx.events[EventSnooped].Add(1)
	if w.offered != nil && w.learned && !denied && f.VLAN <= MaxVLAN {
		// A denial was counted on its port, which the cache would not do
		// for the frames it repeats: such a flow stays with the engine.
		w.offerMulticast(out, now)
	}
	w.emitSet(out, p)
}

// offerMulticast offers the cache the forwarding of the current IP
// multicast data frame to out (the ports emitSet sends it to), if every
// one of them sends it and counts nothing else. Ports that do not carry
// the frame's VLAN are left out, as emit leaves them.
func (w *Worker) offerMulticast(out fdb.PortSet, now time.Time) {
	f := &w.frame
	var set fdb.PortSet
	for id, ok := out.Next(0); ok; id, ok = out.Next(id + 1) {
		if int(id) >= len(w.ports) {
			break
		}
		p := w.ports[id]
		switch {
		case id == w.in.id || p == nil || !w.reaches(p):
			continue
		case !p.up.Load():
			return // emit counts a port-down drop per frame
		}
		set.Add(id)
	}
	if set.IsEmpty() {
		return
	}
	a := FlowAction{Out: set}
	if g := w.e.guard; g != nil {
		a.TTLMax = g.DataTTLMax(w.in.id, f.Group)
	}
	w.offer(MulticastFlow(w.in.id, f.VLAN, f.Src, f.Group, f.Source), a, now)
}

// controlPacket handles an IGMP, MLD, PIM or MRD packet: rate limit (before
// parsing), parse, guard checks, then snoop's verdict. State changes are
// queued for the control plane.
func (w *Worker) controlPacket(s *snoop.Snooper, p *Packet, now time.Time) {
	f, in, g := &w.frame, w.in, w.e.guard
	in.rx.events[EventControl].Add(1)
	if g != nil && g.Admit(in.id, now) != guard.Pass {
		return // the guard counted it
	}
	m := &w.msg
	if err := snoop.Parse(f.EtherType, p.Data[f.L3:], m); err != nil {
		w.drop(parseDropReason(s.Rejected(in.id, err)))
		return
	}
	m.SrcMAC = f.Src
	if g != nil {
		r, removed := g.ControlPacket(in.id, m), 0
		if r == guard.Pass {
			r, removed = g.FilterReport(in.id, m)
		}
		if r != guard.Pass {
			w.logControlDrop(now, r, m)
			return
		}
		if removed > 0 {
			// An IGMPv3/MLDv2 report that lost records or sources to the
			// ACL goes on without them: the router ports must not learn a
			// group the port may not have and pull its traffic to the
			// switch.
			if p = w.filteredReport(p, m); p == nil {
				return
			}
		}
	}
	v := s.Classify(f.VLAN, in.id, m, w.all)
	if v.Apply && !w.e.queueControlPacket(f.VLAN, in, m.Clone(), now) {
		in.rx.events[EventControlOverload].Add(1)
	}
	w.emitSet(v.Ports, p)
}

// filteredReport returns a frame with p's Ethernet header and the report
// m, which the guard's ACL filtered. It allocates, which only such reports
// pay. nil (the frame dropped, counted as malformed) if m cannot be
// encoded, which a report that parsed cannot cause.
func (w *Worker) filteredReport(p *Packet, m *snoop.Message) *Packet {
	l3 := w.frame.L3
	b, err := snoop.AppendReport(append(make([]byte, 0, len(p.Data)), p.Data[:l3]...), m)
	if err != nil {
		w.drop(DropMalformed)
		return nil
	}
	return &Packet{Data: b, Tag: p.Tag, Len: len(b)}
}

// ipTTL returns the IPv4 TTL or IPv6 hop limit of an IP header that
// Frame.Decode accepted.
func ipTTL(etherType uint16, ip []byte) uint8 {
	if etherType == etherTypeIPv6 {
		return ip[7]
	}
	return ip[8]
}

// emitSet sends p out of every port in out but the ingress port.
func (w *Worker) emitSet(out fdb.PortSet, p *Packet) {
	for id, ok := out.Next(0); ok && int(id) < len(w.ports); id, ok = out.Next(id + 1) {
		if id != w.in.id && w.ports[id] != nil {
			w.emit(id, p)
		}
	}
}

// isReservedGroup reports an IEEE 802.1D reserved group address other than
// the STP one (see DropReservedGroup).
func isReservedGroup(m fdb.MAC) bool {
	return m[0] == 0x01 && m[1] == 0x80 && m[2] == 0xc2 && m[3] == 0 && m[4] == 0 && m[5] != 0 && m[5] <= 0x0f
}

func (w *Worker) flood(p *Packet) {
	for _, out := range w.ports {
		if out != nil && out != w.in {
			w.emit(out.id, p)
		}
	}
}

func (w *Worker) emit(out fdb.PortID, p *Packet) {
	if !w.reaches(w.ports[out]) {
		return // not a drop: the frame's VLAN or split horizon keeps it off that port
	}
	if !w.ports[out].up.Load() {
		w.drop(DropPortDown)
		return
	}
	s := w.senders[out]
	if !s.Queue(p) {
		w.flushPort(out)
		if !s.Queue(p) {
			w.drop(DropTxError)
			return
		}
	}
	if w.queued[out] == 0 {
		w.dirty = append(w.dirty, out)
	}
	w.queued[out]++
}

func (w *Worker) drop(r DropReason) {
	w.in.rx.drops[r].Add(1)
}

func (w *Worker) flush() {
	for _, out := range w.dirty {
		w.flushPort(out)
	}
	w.dirty = w.dirty[:0]
}

func (w *Worker) flushPort(out fdb.PortID) {
	queued := w.queued[out]
	w.queued[out] = 0
	frames, bytes, err := w.senders[out].Flush()
	tx := &w.tx[out]
	tx.frames.Add(uint64(frames))
	tx.bytes.Add(uint64(bytes))
	if failed := queued - frames; failed > 0 {
		tx.errors.Add(uint64(failed))
		r := DropTxError
		if errors.Is(err, ErrPortDown) {
			r = DropPortDown
		}
		w.in.rx.drops[r].Add(uint64(failed))
	}
}
