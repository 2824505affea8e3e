package switching

import (
	"log/slog"
	"time"

	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/snoop"
)

// strayControl checks IGMP, MLD, PIM and MRD in a frame that is not IP
// multicast: sent to a unicast or broadcast IP address, under any MAC.
// Snooping never sees such a packet as a message to the link, yet a report
// to a host's address under a group or broadcast MAC is flooded to every
// host, whose kernels take it for another host's report and suppress their
// own (RFC 2236 s3; Linux does for frames to a multicast or broadcast MAC),
// and a report to a router's address asks the router for a group behind the
// port's ACL. So the guard judges it as it judges control packets to a
// group: a report, leave or done is bad-dst, a query bad-query-dst, an MRD
// advertisement from a host port router-guard, and a packet that does not
// parse is dropped for its parse reason. What passes (PIM registers and
// joins to an RP, mtrace) goes on as the frame would have; no snooping
// state changes either way. It is not rate limited: none of it reaches the
// control plane, and PIM registers carry multicast data at data rates.
//
// It reports whether the frame was dropped (and counted). The caller has a
// guard; without one nothing is checked.
func (w *Worker) strayControl(p *Packet, now time.Time) bool {
	f, in, g := &w.frame, w.in, w.e.guard
	l3 := p.Data[f.L3:]
	if !addressedControl(f.EtherType, l3) {
		return false
	}
	m := &w.msg
	if err := snoop.Parse(f.EtherType, l3, m); err != nil {
		w.drop(parseDropReason(w.e.snooper.Rejected(in.id, err)))
		return true
	}
	r := g.ControlPacket(in.id, m)
	if r == guard.Pass {
		return false
	}
	w.logControlDrop(now, r, m)
	return true
}

// addressedControl is snoop.IsControl for a packet whose IP header is there
// to read: IsControl fails closed on one that is not, which is right for a
// frame forwarded by its group, but a frame that is not IP multicast is
// forwarded by its MAC, as the switch always has.
func addressedControl(etherType uint16, ip []byte) bool {
	switch etherType {
	case etherTypeIPv4:
		return len(ip) >= 20 && ip[0]>>4 == 4 && snoop.IsControl(etherType, ip)
	case etherTypeIPv6:
		return len(ip) >= 40 && ip[0]>>4 == 6 && snoop.IsControl(etherType, ip)
	}
	return false
}

// logControlDrop logs (rate limited) a control packet the guard dropped
// for r: a query as a rogue querier, anything else as a drop.
func (w *Worker) logControlDrop(now time.Time, r guard.Reason, m *snoop.Message) {
	f, in := &w.frame, w.in
	if m.Type == snoop.MsgIGMPQuery || m.Type == snoop.MsgMLDQuery {
		w.e.events.RogueQuerier(now, in.id, r, f.VLAN, f.Src, m.Src)
		return
	}
	w.e.events.Drop(now, in.id, r, "control packet dropped", slog.String("type", m.Type.String()), slog.String("src", m.Src.String()))
}
