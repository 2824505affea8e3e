package snoop

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// Config configures snooping on a switch.
type Config struct {
	Membership MembershipConfig
	Querier    QuerierConfig
	// StaticRouterPorts are router ports in every VLAN.
	StaticRouterPorts fdb.PortSet
	// ZeroSourceRouterPorts makes a general query from 0.0.0.0 or :: (the
	// querier of another snooping switch) turn its port into a router port.
	// By default it does not (RFC 4541 s2.1.1), though it still counts as a
	// querier being present.
	ZeroSourceRouterPorts bool
	// FloodUnregistered are ports that receive multicast data to groups
	// nobody joined (by default that goes to router ports only).
	FloodUnregistered fdb.PortSet
	// SwitchPorts are links to other snooping switches of the same fabric
	// (a tunnel to another machine). Every report and leave goes out of all
	// of them, besides the router ports, so that every switch learns every
	// member on the port that leads to it (RFC 4541 s2.1.1 forwards reports
	// toward the routers only; across a fabric a sender may sit behind any
	// switch, and in a full mesh with split horizon nobody relays). The
	// switch's group-specific queries go out of them too, so that the other
	// switches, which saw the leave, see the query and lower their timers.
	// A general query heard on one from another switch's querier marks it
	// RouterSwitchQuerier, which gets no data of its own accord: data
	// crosses a switch port only toward members beyond it and toward the
	// multicast routers beyond it (PIM, MRD, and queriers that are not
	// snooping switches).
	SwitchPorts fdb.PortSet
	// Changed, if set, is called after every change of what DataPorts
	// returns, before the call that made it returns: a group's forwarding
	// view published or a group removed (fdb.GroupTable.SetChanged), the
	// router ports, a VLAN and family entering or leaving its start-up
	// window or flooding for want of a querier, the flood ports
	// (SetPortRoles). A cache of forwarding decisions (switching.FlowCache)
	// invalidates itself from it. It may run with the snooper's locks held
	// and must not call the snooper.
	Changed func()
}

// Snooper is IGMP/MLD snooping for one switch: it sees every control packet
// (Control), decides where multicast data goes (DataPorts), and runs the
// timers and the querier (Tick).
type Snooper struct {
	cfg Config
	// flood and fastLeave are the FloodUnregistered and fast-leave ports,
	// which SetPortRoles changes while the data plane reads them.
	flood     atomic.Pointer[fdb.PortSet]
	fastLeave atomic.Pointer[fdb.PortSet]
	// switchPorts are the SwitchPorts, which SetPortRoles changes.
	switchPorts atomic.Pointer[fdb.PortSet]
	groups      *fdb.GroupTable
	members     *Membership
	routers     *RouterPorts
	querier     *Querier

	ctlMu  sync.Mutex // serialises Control, which reuses ctlMsg
	ctlMsg Message

	mu  sync.Mutex // serialises Apply and guards what Tick shares with it
	now time.Time  // the time of the packet Apply handles
	// pending are membership's group-specific queries, each sent
	// LastMemberCount times, LastMemberInterval apart (RFC 3376 s6.6.3).
	pending map[pendingKey]*retransmit

	// constrained and learning hold Querier.Unregistered for the data
	// plane, one bit per VLAN, by family (0: IGMP, 1: MLD): constrained is
	// set where data to unregistered groups goes to the router ports only
	// (DataPorts), learning where it floods while the hosts answer the
	// first general query. Both are clear, flooding, in a VLAN the querier
	// does not know. Tick writes them; ticked says it has once.
	constrained [2]vlanBits
	learning    [2]vlanBits
	ticked      atomic.Bool
	// changed is Config.Changed, never nil.
	changed func()

	counters [fdb.MaxPorts]portCounters
}

type portCounters struct {
	messages    [numMessageTypes]atomic.Uint64
	parseErrors [numParseReasons]atomic.Uint64
}

// New returns a snooper with its own group table.
func New(cfg Config) *Snooper {
	s := &Snooper{cfg: cfg, groups: fdb.NewGroupTable(), routers: NewRouterPorts(cfg.StaticRouterPorts), pending: make(map[pendingKey]*retransmit)}
	s.changed = cfg.Changed
	if s.changed == nil {
		s.changed = func() {}
	}
	s.groups.SetChanged(s.changed)
	s.routers.changed = s.changed
	s.flood.Store(&cfg.FloodUnregistered)
	s.switchPorts.Store(&cfg.SwitchPorts)
	mc := cfg.Membership
	configured := mc.FastLeave
	mc.FastLeave = func(p fdb.PortID) bool {
		if set := s.fastLeave.Load(); set != nil { // SetPortRoles was called
			return set.Has(p)
		}
		return configured != nil && configured(p)
	}
	if mc.Querier == nil {
		// Membership asks, while Control holds s.mu, whether the switch
		// queries: then it sends group-specific queries after a leave.
		mc.Querier = func(vlan uint16, family int) bool { return s.querier.IsQuerier(vlan, family, s.now) }
	}
	s.members = NewMembership(s.groups, mc)
	s.querier = NewQuerier(cfg.Querier, s.members.Timers)
	return s
}

// vlanBits is one bit per VLAN ID (12 bits, 0 to 4095).
type vlanBits [4096 / 64]atomic.Uint64

func (b *vlanBits) has(vlan uint16) bool {
	return b[vlan/64%64].Load()&(1<<(vlan%64)) != 0
}

// set sets or clears vlan's bit and reports whether it changed.
func (b *vlanBits) set(vlan uint16, on bool) bool {
	w, bit := &b[vlan/64%64], uint64(1)<<(vlan%64)
	var old uint64
	if on {
		old = w.Or(bit)
	} else {
		old = w.And(^bit)
	}
	return (old&bit != 0) != on
}

// familyIndex is the index of a group's family in the vlanBits arrays.
func familyIndex(group netip.Addr) int {
	if group.Is4() {
		return 0
	}
	return 1
}

// PortRoles are the per-port snooping settings a running switch may change
// (a configuration reload).
type PortRoles struct {
	// StaticRouterPorts, FloodUnregistered: as in Config.
	StaticRouterPorts fdb.PortSet
	FloodUnregistered fdb.PortSet
	// FastLeave are the ports whose leaves take effect at once; it replaces
	// Config.Membership.FastLeave.
	FastLeave fdb.PortSet
	// SwitchPorts: as in Config.
	SwitchPorts fdb.PortSet
}

// SetPortRoles changes which ports are static router ports, get
// unregistered data, leave fast and link to other switches. It takes effect
// with the next packet; memberships are kept. A port that stops being a
// static router port keeps whatever router state it learned from queries.
func (s *Snooper) SetPortRoles(r PortRoles) {
	s.routers.SetStatic(r.StaticRouterPorts)
	s.flood.Store(&r.FloodUnregistered)
	s.fastLeave.Store(&r.FastLeave)
	s.switchPorts.Store(&r.SwitchPorts)
	s.changed()
}

// SwitchPorts returns the ports that link to other snooping switches
// (Config.SwitchPorts). Allocation-free and lock-free.
func (s *Snooper) SwitchPorts() fdb.PortSet { return *s.switchPorts.Load() }

// Groups returns the group table.
func (s *Snooper) Groups() *fdb.GroupTable { return s.groups }

// RouterPorts returns the router ports.
func (s *Snooper) RouterPorts() *RouterPorts { return s.routers }

// Querier returns the switch's querier.
func (s *Snooper) Querier() *Querier { return s.querier }

// Membership returns the membership state machine.
func (s *Snooper) Membership() *Membership { return s.members }

// Verdict is where a control packet goes, or why it was dropped.
type Verdict struct {
	// Ports to forward to (the caller removes the ingress port).
	Ports fdb.PortSet
	// Drop is why Parse rejected the packet; zero when it parsed.
	Drop ParseReason
	// Apply says the packet changes snooping state: hand it to Apply.
	Apply bool
}

// Rejected counts a control packet that did not parse (err from Parse) on
// port in, and returns the reason. Parse returns only *ParseError with one
// of ParseReasons (its tests and fuzzer assert it); any other error is
// counted as ReasonBadIP, a packet not understood as a control packet.
func (s *Snooper) Rejected(in fdb.PortID, err error) ParseReason {
	reason := ReasonBadIP
	if pe, ok := err.(*ParseError); ok && pe.Reason > 0 && pe.Reason < numParseReasons {
		reason = pe.Reason
	}
	if int(in) < len(s.counters) {
		s.counters[in].parseErrors[reason].Add(1)
	}
	return reason
}

// Classify counts a decoded IGMP, MLD, PIM or MRD packet received on port
// in vlan and says where it goes (RFC 4541 s2.1.1): reports and leaves to
// router ports and switch ports only (see Config.SwitchPorts), so that
// hosts do not suppress their own reports;
// queries, PIM, MRD and unknown types to every port. It changes no
// snooping state and takes no lock: a packet that does change it
// (Verdict.Apply) goes to Apply next, at once or from the control plane, so
// that the receive loop never waits on membership processing.
func (s *Snooper) Classify(vlan uint16, in fdb.PortID, m *Message, all fdb.PortSet) Verdict {
	if int(in) < len(s.counters) {
		s.counters[in].messages[m.Type].Add(1)
	}
	switch m.Type {
	case MsgIGMPQuery, MsgMLDQuery, MsgPIMHello, MsgMRDAdvertisement:
		return Verdict{Ports: all, Apply: true}
	case MsgIGMPv1Report, MsgIGMPv2Report, MsgIGMPv2Leave, MsgIGMPv3Report,
		MsgMLDv1Report, MsgMLDv1Done, MsgMLDv2Report:
		return Verdict{Ports: s.routers.Ports(vlan).Union(*s.switchPorts.Load()), Apply: true}
	}
	return Verdict{Ports: all}
}

// Apply changes the snooping state for a control packet Classify said to
// apply: membership, router ports, the querier election.
func (s *Snooper) Apply(vlan uint16, in fdb.PortID, m *Message, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
	switch m.Type {
	case MsgIGMPQuery, MsgMLDQuery:
		q := &m.Query
		// The query's QRV and QQI first (QuerySeen adopts them), so that
		// the router port and the querier present timer it starts run on
		// what it announces.
		s.members.QuerySeen(vlan, in, q, now)
		if q.IsGeneral() {
			zero := !m.Src.IsValid() || m.Src.IsUnspecified()
			hold := s.members.Timers(vlan, m.Family).OtherQuerierPresent()
			switch {
			case s.switchPorts.Load().Has(in) && (zero || IsSwitchMAC(m.SrcMAC)):
				// Another fabric switch's querier: RFC 4541 s2.1.1 queriers
				// of snooping switches send from 0.0.0.0, and a snoopswitch
				// sends from its own MAC whatever its address. Its side
				// needs the reports (which go to every switch port) but
				// no data: no router listens there.
				s.routers.Learn(vlan, in, RouterSwitchQuerier, m.Src, hold, now)
			case !zero || s.cfg.ZeroSourceRouterPorts:
				s.routers.Learn(vlan, in, RouterQuery, m.Src, hold, now)
			}
			src := QuerierID{Addr: m.Src, MAC: m.SrcMAC}
			s.querier.Heard(vlan, m.Family, src, q.MaxResp, now)
			if s.switchPorts.Load().Has(in) {
				s.querier.Outranked(vlan, m.Family, src, in, now)
			}
		}
	case MsgIGMPv1Report, MsgIGMPv2Report, MsgIGMPv2Leave, MsgIGMPv3Report,
		MsgMLDv1Report, MsgMLDv1Done, MsgMLDv2Report:
		for _, a := range s.members.Report(vlan, in, m, now) {
			// Fabric: the other switches saw the leave on their switch
			// ports and, not querying, wait for this query to lower
			// their timers (RFC 3376 s6.6.1, which non-queriers follow).
			s.queueLocked(QuerySend{VLAN: a.VLAN, Family: a.Family, Port: a.Port, Query: a.Query, Fabric: true}, now)
		}
	case MsgPIMHello:
		s.routers.Learn(vlan, in, RouterPIM, m.Src, pimHoldTime, now)
	case MsgMRDAdvertisement:
		s.routers.Learn(vlan, in, RouterMRD, m.Src, mrdHoldTime, now)
	}
}

// Control parses, classifies and applies a control packet (from its IP
// header) at once: what replay and tests want, in order and deterministic.
func (s *Snooper) Control(vlan uint16, in fdb.PortID, etherType uint16, ip []byte, all fdb.PortSet, now time.Time) Verdict {
	s.ctlMu.Lock()
	defer s.ctlMu.Unlock()
	m := &s.ctlMsg
	if err := Parse(etherType, ip, m); err != nil {
		return Verdict{Drop: s.Rejected(in, err)}
	}
	v := s.Classify(vlan, in, m, all)
	if v.Apply {
		s.Apply(vlan, in, m, now)
	}
	return v
}

// Flooded reports whether data to group goes to every port whatever the
// membership: 224.0.0.0/24 (RFC 4541 s2.1.2) and IPv6 interface- and
// link-scope groups (ff01::/16, ff02::/16). IPv6 link scope is flooded as a
// whole, not only ff02::1: neighbour discovery (solicited-node groups),
// mDNS (ff02::fb) and router discovery must work whether or not every host
// reports them, and the Linux bridge's snooping of them is a known source
// of broken mDNS.
func Flooded(group netip.Addr) bool {
	if group.Is4() {
		b := group.As4()
		return b[0] == 224 && b[1] == 0 && b[2] == 0
	}
	b := group.As16()
	return b[0] == 0xff && b[1]&0x0f <= 2
}

// DataPorts returns the ports multicast data from source to (vlan, group)
// goes to: its members (honouring their source lists) and the router
// ports; for a group nobody joined, the router ports and the ports that
// flood unregistered traffic. The caller floods Flooded groups instead and
// removes the ingress port. Allocation-free and lock-free.
//
// Data to unregistered groups goes to every port (all says which) while
// the switch cannot know who listens in the VLAN and family (see
// Unregistered): until the hosts have answered the first general query of
// the querier present, since hosts that joined before the switch started
// report only when queried; and for as long as no querier is present,
// since then hosts never report again. Black-holing their groups would be
// worse than flooding them; the Linux bridge too floods while it knows no
// querier.
func (s *Snooper) DataPorts(vlan uint16, group, source netip.Addr, all fdb.PortSet) fdb.PortSet {
	routers := s.routers.Ports(vlan)
	members, registered := s.groups.Lookup(vlan, group, source)
	switch {
	case registered:
		return members.Union(routers)
	case !s.constrained[familyIndex(group)].has(vlan):
		return all
	}
	return routers.Union(*s.flood.Load())
}

// retransmit is a group-specific query still to be sent left times.
type retransmit struct {
	q    QuerySend
	left int
	due  time.Time
}

type pendingKey struct {
	vlan   uint16
	family int
	port   fdb.PortID
	group  netip.Addr
}

// queueLocked schedules a group-specific query; a newer one for the same
// group and port replaces the one still pending.
func (s *Snooper) queueLocked(q QuerySend, now time.Time) {
	k := pendingKey{q.VLAN, q.Family, q.Port, q.Query.Group}
	s.pending[k] = &retransmit{q: q, left: max(1, s.members.Timers(q.VLAN, q.Family).LastMemberCount), due: now}
}

// Learning reports whether the switch still learns who listens in vlan
// for family (4: IGMP, 6: MLD), flooding unregistered data until the hosts
// have answered a general query (UnregisteredLearning). It is true before
// the first Tick, false where no querier is present (there the switch
// floods for good: Querier().Status says why).
func (s *Snooper) Learning(vlan uint16, family int) bool {
	if !s.ticked.Load() {
		return true
	}
	f := 0
	if family == 6 {
		f = 1
	}
	return s.learning[f].has(vlan)
}

// LearningAny reports whether the switch still learns who listens in any
// VLAN and family (see Learning): what a test waits out before it checks
// that a host which joined nothing receives nothing.
func (s *Snooper) LearningAny() bool {
	if !s.ticked.Load() {
		return true
	}
	for f := range s.learning {
		for i := range s.learning[f] {
			if s.learning[f][i].Load() != 0 {
				return true
			}
		}
	}
	return false
}

// publishUnregistered stores one (VLAN, family)'s Unregistered for the
// data plane; Tick calls it through Querier.Unregistered.
func (s *Snooper) publishUnregistered(vlan uint16, family int, u Unregistered) {
	f := 0
	if family == 6 {
		f = 1
	}
	c := s.constrained[f].set(vlan, u == UnregisteredConstrained)
	// Only the constrained bit changes what DataPorts returns; the end of
	// a start-up window is rare enough to count as a change too, which
	// keeps the rule simple for whoever caches DataPorts' answers.
	l := s.learning[f].set(vlan, u == UnregisteredLearning)
	if c || l {
		s.changed()
	}
}

// Tick runs the timers at now and returns the queries to send and the next
// time Tick has work. The membership timers cost what is due, not the size
// of the group table (Membership.Tick), so every tick runs them: a timer a
// leave or a group-specific query lowered fires at the first tick after it
// runs out.
func (s *Snooper) Tick(now time.Time) ([]QuerySend, time.Time) {
	next := s.members.Tick(now)
	if t := s.routers.Expire(now); !t.IsZero() && (next.IsZero() || t.Before(next)) {
		next = t
	}
	sends, t := s.querier.Tick(now)
	if !t.IsZero() && (next.IsZero() || t.Before(next)) {
		next = t
	}
	// After the querier's Tick, which notes the general queries it sends
	// now: their answers end a (VLAN, family)'s learning.
	if t := s.querier.Unregistered(now, s.publishUnregistered); !t.IsZero() && (next.IsZero() || t.Before(next)) {
		next = t
	}
	s.ticked.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, r := range s.pending {
		if !now.Before(r.due) {
			sends = append(sends, r.q)
			r.left--
			r.due = now.Add(s.members.Timers(k.vlan, k.family).LastMemberInterval)
		}
		if r.left <= 0 {
			delete(s.pending, k)
			continue
		}
		if next.IsZero() || r.due.Before(next) {
			next = r.due
		}
	}
	return sends, next
}

// PortDown forgets the memberships and routers learned on port.
func (s *Snooper) PortDown(port fdb.PortID) int {
	s.routers.RemovePort(port)
	return s.groups.RemovePort(port)
}

// PortUp asks the querier to query the port's hosts (see Querier.PortUp).
func (s *Snooper) PortUp(port fdb.PortID, now time.Time) {
	s.querier.PortUp(port, s.routers.Static().Has(port), now)
}

// Counters returns, for port, the control packets by type and the parse
// errors by reason.
func (s *Snooper) Counters(port fdb.PortID) (messages, parseErrors map[string]uint64) {
	messages, parseErrors = make(map[string]uint64), make(map[string]uint64)
	if int(port) >= len(s.counters) {
		return
	}
	c := &s.counters[port]
	for t := range numMessageTypes {
		if n := c.messages[t].Load(); n > 0 {
			messages[t.String()] = n
		}
	}
	for r := ReasonBadChecksum; r < numParseReasons; r++ {
		if n := c.parseErrors[r].Load(); n > 0 {
			parseErrors[r.String()] = n
		}
	}
	return messages, parseErrors
}

// Revoke removes the membership state that keep no longer allows (a policy
// change): a port's (*,G) membership of a group keep refuses for any source
// (source invalid), and the INCLUDE sources it refuses. It returns the
// entries removed, by port. Data stops reaching those ports as soon as it
// returns. It walks the whole group table, which a policy change (a
// configuration reload) can afford.
func (s *Snooper) Revoke(keep func(port fdb.PortID, group, source netip.Addr) bool) map[fdb.PortID]int {
	removed := make(map[fdb.PortID]int)
	s.groups.ForEach(func(_ uint16, group netip.Addr, port fdb.PortID, m *fdb.PortMembership) bool {
		if m.Mode == fdb.ModeExclude {
			if !keep(port, group, netip.Addr{}) {
				removed[port] += m.Entries()
				*m = fdb.PortMembership{}
			}
			return true
		}
		for src := range m.Requested {
			if !keep(port, group, src) {
				delete(m.Requested, src)
				forgetHostSource(m, src)
				removed[port]++
			}
		}
		return true
	})
	return removed
}
