package switching

import (
	"cmp"
	"context"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/snoop"
)

// control runs the engine's control plane in one goroutine: MAC aging,
// and with snooping the control packets the receive loops queued (applied
// to the membership state here, so that forwarding never waits on it), the
// membership timers, router-port aging and the querier, whose queries it
// sends through senders of its own.
type controlPlane struct {
	e       *Engine
	ports   []*port  // by PortID, nil for removed ones
	senders []Sender // by PortID
	buf     []byte
	// nextAging is when tick next gives expired MAC entries' memory back.
	nextAging time.Time
}

// newControlPlaneLocked returns a control plane over the ports as they are.
// Caller holds e.mu.
func (e *Engine) newControlPlaneLocked() *controlPlane {
	c := &controlPlane{e: e, ports: e.activePortsLocked(), senders: make([]Sender, len(e.ports))}
	if e.snooper != nil {
		for i, p := range c.ports {
			if p != nil {
				c.senders[i] = p.backend.NewSender()
			}
		}
	}
	return c
}

// controlPlaneTick bounds how late a timer fires.
const controlPlaneTick = 100 * time.Millisecond

// queuedPacket is a control packet waiting for the control plane.
type queuedPacket struct {
	vlan uint16
	port *port          // where it arrived
	msg  *snoop.Message // a copy: the worker reuses its own
	now  time.Time
}

// controlQueueLen bounds the control packets waiting. The guard's per-port
// rate limits keep one port from filling it; where a port has none,
// controlPortShare still does: one port may hold at most that many of the
// waiting packets, so a flooding port leaves the rest of the queue to the
// others.
const (
	controlQueueLen  = 4096
	controlPortShare = controlQueueLen / 4
)

// queueControlPacket hands a control packet received on in to the control plane;
// false when the queue, or in's share of it, is full.
func (e *Engine) queueControlPacket(vlan uint16, in *port, m *snoop.Message, now time.Time) bool {
	if in.controlQueued.Add(1) > controlPortShare {
		in.controlQueued.Add(-1)
		return false
	}
	select {
	case e.controlQueue <- queuedPacket{vlan: vlan, port: in, msg: m, now: now}:
		return true
	default:
		in.controlQueued.Add(-1)
		return false
	}
}

// applyControlPacket applies a control packet taken from the queue, unless its
// port has gone down (or been removed) since: what the port learned is
// forgotten then.
func (e *Engine) applyControlPacket(cp queuedPacket) {
	cp.port.controlQueued.Add(-1)
	if cp.port.up.Load() {
		e.snooper.Apply(cp.vlan, cp.port.id, cp.msg, cp.now)
	}
}

// ApplyControl applies every control packet the receive loops queued to
// the snooping state, as the control plane does while Run runs. Replay and
// tests that drive Workers without Run call it to keep order.
func (e *Engine) ApplyControl() {
	for {
		select {
		case cp := <-e.controlQueue:
			e.applyControlPacket(cp)
		default:
			return
		}
	}
}

func (c *controlPlane) run(ctx context.Context) {
	t := time.NewTicker(controlPlaneTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case cp := <-c.e.controlQueue:
			c.e.applyControlPacket(cp)
			continue
		case <-t.C:
		}
		c.tick(c.e.clock())
	}
}

// tick does the control plane's periodic work at now: MAC aging, event
// logs, the snooping timers and the queries they send. It returns when
// the snooper next has work, zero for none.
func (c *controlPlane) tick(now time.Time) time.Time {
	if !now.Before(c.nextAging) {
		// Lookups already ignore stale entries; this only gives their
		// memory back.
		c.e.macs.Expire(now)
		c.nextAging = now.Add(time.Second)
	}
	c.e.events.Flush(now)
	s := c.e.snooper
	if s == nil {
		return time.Time{}
	}
	sends, next := s.Tick(now)
	// The snooper gathers some of them from maps: a fixed order makes
	// the frames a replay writes the same on every run.
	slices.SortFunc(sends, compareQuerySends)
	for _, q := range sends {
		c.send(q)
	}
	return next
}

// compareQuerySends orders queries by VLAN, family, port (one port before
// all of them), group and solicitation.
func compareQuerySends(a, b snoop.QuerySend) int {
	return cmp.Or(cmp.Compare(a.VLAN, b.VLAN), cmp.Compare(a.Family, b.Family), compareBool(a.AllPorts, b.AllPorts),
		cmp.Compare(a.Port, b.Port), a.Query.Group.Compare(b.Query.Group), compareBool(a.Solicit, b.Solicit))
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// send builds a query frame and sends it out of its port, or every port
// whose link is up.
func (c *controlPlane) send(q snoop.QuerySend) {
	e := c.e
	cfg := e.snooper.Querier().Config()
	b := append(c.buf[:0], make([]byte, 14)...)
	var err error
	var etherType uint16
	if q.Family == 6 {
		b, err = snoop.AppendMLDQuery(b, cfg.IPv6Source, q.Query)
		etherType = etherTypeIPv6
	} else {
		src := cfg.IPv4Source
		if q.Solicit {
			src = netip.IPv4Unspecified()
		}
		b, err = snoop.AppendIGMPQuery(b, src, q.Query)
		etherType = etherTypeIPv4
	}
	if err != nil {
		e.logger.Warn("query not sent", "err", err)
		return
	}
	c.buf = b
	var dst netip.Addr
	if q.Family == 6 {
		dst = netip.AddrFrom16([16]byte(b[14+24 : 14+40]))
	} else {
		dst = netip.AddrFrom4([4]byte(b[14+16 : 14+20]))
	}
	mac := snoop.MulticastMAC(dst)
	copy(b[0:6], mac[:])
	copy(b[6:12], e.mac[:])
	b[12], b[13] = byte(etherType>>8), byte(etherType)
	pkt := Packet{Data: b, Len: len(b)}
	if q.VLAN != 0 {
		pkt.Tag = VLANTag{Present: true, TPID: etherTypeVLAN, TCI: q.VLAN}
	}
	var fabric fdb.PortSet
	if q.Fabric {
		fabric = e.snooper.SwitchPorts()
	}
	for _, p := range c.ports {
		if p == nil || !(q.AllPorts || p.id == q.Port || fabric.Has(p.id)) || !p.up.Load() || !p.carries(q.VLAN) {
			continue
		}
		s := c.senders[p.id]
		if s.Queue(&pkt) {
			s.Flush()
		}
	}
}

// defaultSwitchMAC returns the switch's MAC (snoop.SwitchMAC) derived from
// the host's name, its machine ID and the calling thread's network
// namespace, stable across restarts.
func defaultSwitchMAC() fdb.MAC {
	name, _ := os.Hostname()
	// Namespaces on one host share its name and machine ID but not their
	// network namespace: two switches in two of them (a lab's machines)
	// must not share a MAC, which would tie their querier election.
	id, _ := os.ReadFile("/etc/machine-id")
	ns, _ := os.Readlink("/proc/thread-self/ns/net")
	return snoop.SwitchMAC([]byte(name + "\x00" + strings.TrimSpace(string(id)) + "\x00" + ns))
}

// linkLocal returns the EUI-64 link-local IPv6 address of mac (RFC 4291
// appendix A).
func linkLocal(mac fdb.MAC) netip.Addr {
	var a [16]byte
	a[0], a[1] = 0xfe, 0x80
	a[8] = mac[0] ^ 0x02
	a[9], a[10], a[11], a[12] = mac[1], mac[2], 0xff, 0xfe
	a[13], a[14], a[15] = mac[3], mac[4], mac[5]
	return netip.AddrFrom16(a)
}
