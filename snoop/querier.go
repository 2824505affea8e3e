package snoop

import (
	"bytes"
	"crypto/sha256"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// QuerierConfig configures the switch's own querier.
type QuerierConfig struct {
	// Disabled turns the querier off. It is on by default and only queries
	// while no other querier is heard.
	Disabled bool
	// IPv4Source is the source of IGMP queries; default 0.0.0.0, which
	// hosts accept and which takes no part in the election (RFC 4541
	// s2.1.1: any querier with an address wins over it).
	IPv4Source netip.Addr
	// IPv6Source is the source of MLD queries. It must be link-local:
	// hosts drop MLD queries from any other source, :: included (RFC 3810
	// s5.1.14; Linux does). The default is the EUI-64 link-local address of
	// the switch's MAC.
	IPv6Source netip.Addr
	// IGMPVersion is 2 or 3 (default 3); MLDVersion 1 or 2 (default 2).
	IGMPVersion int
	MLDVersion  int
	// MAC is the source MAC of the switch's queries (the switch's own,
	// switching.Config.MAC). It breaks the tie between switches that query
	// from the same address, 0.0.0.0 by default: the lowest MAC wins, so
	// that every switch of a fabric elects the same one. Give each switch
	// of a fabric one from SwitchMAC, which the others recognise.
	MAC fdb.MAC
}

// QuerierID is who sends a query: its IP source and its frame's source MAC.
type QuerierID struct {
	Addr netip.Addr
	MAC  fdb.MAC // zero when unknown
}

// Less reports whether a querier a wins the election against b. The
// lowest address wins (RFC 3376 s6.6.2, RFC 3810 s7.6.2), except that an
// unspecified one (0.0.0.0, ::) loses against every address: RFC 4541
// s2.1.1 has switches query from 0.0.0.0 so as not to take part in the
// routers' election. Between equal addresses (several switches querying
// from 0.0.0.0) the lowest MAC wins, a rule every switch of a fabric
// computes the same way from the queries it hears, so that exactly one of
// them queries.
func (a QuerierID) Less(b QuerierID) bool {
	au, bu := a.Addr.IsUnspecified(), b.Addr.IsUnspecified()
	if au != bu {
		return bu
	}
	if c := a.Addr.Compare(b.Addr); c != 0 {
		return c < 0
	}
	return bytes.Compare(a.MAC[:], b.MAC[:]) < 0
}

// switchOUI starts the MAC of every snoopswitch (SwitchMAC): 02 (unicast,
// locally administered) then "sw". A query from such a MAC comes from the
// querier of a snooping switch of the fabric, not from a multicast router.
var switchOUI = [3]byte{0x02, 's', 'w'}

// SwitchMAC returns the MAC of the switch whose identity is seed (the
// host's name and network namespace, say): switchOUI and three bytes of
// the seed's SHA-256. The same seed gives the same MAC on every start, so
// the election's tie-break and the MLD source derived from the MAC stay
// put across restarts.
func SwitchMAC(seed []byte) fdb.MAC {
	h := sha256.Sum256(append([]byte("snoopswitch "), seed...))
	return fdb.MAC{switchOUI[0], switchOUI[1], switchOUI[2], h[0], h[1], h[2]}
}

// IsSwitchMAC reports whether m is a snoopswitch's (SwitchMAC).
func IsSwitchMAC(m fdb.MAC) bool {
	return m[0] == switchOUI[0] && m[1] == switchOUI[1] && m[2] == switchOUI[2]
}

// QuerySend is a query the switch is to send: out of Port, or out of every
// port when AllPorts.
type QuerySend struct {
	VLAN     uint16
	Family   int
	Port     fdb.PortID
	AllPorts bool
	Query    Query
	// Solicit marks a general query sent for another, elected querier, out
	// of a port that just came up, so that its hosts report at once
	// instead of at the querier's next query. An IGMP one goes from
	// 0.0.0.0, which wins no election (RFC 4541 s2.1.1); an MLD one from
	// the switch's link-local address, since hosts ignore MLD queries from
	// :: (such a query is never sent to a router port).
	Solicit bool
	// Fabric sends the query out of every switch port too
	// (Config.SwitchPorts): a group-specific query after a leave, which the
	// other switches of the fabric saw on their switch ports.
	Fabric bool
}

// querierState is the election state of one (VLAN, family).
type querierState struct {
	other       QuerierID // the elected other querier, if any
	otherUntil  time.Time // other querier present until
	startupLeft int       // startup queries still to send
	nextGeneral time.Time
	// answeredLoser is when Outranked last answered a losing querier.
	answeredLoser time.Time
	lastQuerier   QuerierID // last querier heard, for reports
	lastQuerierT  time.Time
	// answeredBy is when the hosts will have answered a general query of
	// the querier present: the earliest general query the switch sent, or
	// heard from the elected querier, plus its Max Response Time plus
	// LearningMargin. Zero until such a query, and again when no querier
	// was left (the hosts' memberships have aged out unseen since).
	answeredBy time.Time
}

// LearningMargin is what the switch waits past a general query's Max
// Response Time before it counts on every host having answered: the report
// still crosses the host's transmit queue, the switch's receive ring and
// its control plane, whose timers run every 100 ms.
const LearningMargin = 500 * time.Millisecond

// Unregistered says where data to groups nobody joined goes in one (VLAN,
// family).
type Unregistered uint8

const (
	// UnregisteredFlooding: to every port, for want of a querier. No
	// querier was heard within the other-querier-present interval and the
	// switch's own is disabled (or the switch never queries the VLAN: it
	// queries VLAN 0 and the VLANs where it heard a query), so hosts never
	// report again and constraining would black-hole their groups.
	UnregisteredFlooding Unregistered = iota
	// UnregisteredLearning: to every port until the hosts have answered
	// the first general query of the querier present (answeredBy): hosts
	// that joined before the switch started report only when queried.
	UnregisteredLearning
	// UnregisteredConstrained: to the router ports and the ports that
	// flood unregistered traffic, as RFC 4541 s2.1.2 allows.
	UnregisteredConstrained
)

// String returns "flooding", "learning" or "constrained": the names show
// querier, its JSON and the metrics use.
func (u Unregistered) String() string {
	switch u {
	case UnregisteredFlooding:
		return "flooding"
	case UnregisteredLearning:
		return "learning"
	case UnregisteredConstrained:
		return "constrained"
	}
	return "invalid"
}

type querierKey struct {
	vlan   uint16
	family int
}

// Querier is the switch's own IGMP/MLD querier (RFC 3376 s6.6, RFC 3810
// s7.6 as a snooping switch applies them): it sends general queries while
// no querier with a lower address is heard, startup queries when it starts
// and when a port comes up, and steps back in when the other querier has
// been silent for the other-querier-present interval.
type Querier struct {
	cfg    QuerierConfig
	timers func(vlan uint16, family int) Timers

	mu     sync.Mutex
	states map[querierKey]*querierState
	// pending are general queries due out of one port (a port came up).
	pending []QuerySend
}

// NewQuerier returns a querier; timers returns the protocol timers in use
// in a VLAN for a family (4: IGMP, 6: MLD), which Membership adopts from
// the queries of that VLAN and family (Membership.Timers).
func NewQuerier(cfg QuerierConfig, timers func(vlan uint16, family int) Timers) *Querier {
	if cfg.IGMPVersion == 0 {
		cfg.IGMPVersion = 3
	}
	if cfg.MLDVersion == 0 {
		cfg.MLDVersion = 2
	}
	if !cfg.IPv4Source.IsValid() {
		cfg.IPv4Source = netip.IPv4Unspecified()
	}
	return &Querier{cfg: cfg, timers: timers, states: make(map[querierKey]*querierState)}
}

// Config returns the querier's configuration with defaults filled in.
func (q *Querier) Config() QuerierConfig { return q.cfg }

func (q *Querier) stateLocked(vlan uint16, family int, now time.Time) *querierState {
	k := querierKey{vlan, family}
	st := q.states[k]
	if st == nil {
		st = &querierState{startupLeft: q.timers(vlan, family).Robustness, nextGeneral: now}
		q.states[k] = st
	}
	return st
}

func (q *Querier) source(family int) netip.Addr {
	if family == 6 {
		return q.cfg.IPv6Source
	}
	return q.cfg.IPv4Source
}

// self is the switch's own identity in the election of family.
func (q *Querier) self(family int) QuerierID {
	return QuerierID{Addr: q.source(family), MAC: q.cfg.MAC}
}

// wins reports whether the querier other wins the election against the
// switch (QuerierID.Less). A tie (the same address and MAC, or the same
// address and a MAC nobody gave) goes to the other querier, as in the
// Linux bridge; so a switch whose source is unspecified and whose MAC is
// unknown defers to every querier it hears, and a query from 0.0.0.0
// counts as a querier being present.
func (q *Querier) wins(other QuerierID, family int) bool {
	if !other.Addr.IsValid() {
		return false
	}
	own := q.self(family)
	if !own.Addr.IsValid() {
		return true
	}
	return !own.Less(other)
}

// Heard records a general query from src (its IP source and frame source
// MAC) seen in vlan, whose Max Response Time is maxResp. It returns whether
// that querier is now the elected one (the switch stepped back). The
// switch's own query, come back to it through a loop of links (its address
// and its MAC), is not another querier and is ignored.
func (q *Querier) Heard(vlan uint16, family int, src QuerierID, maxResp time.Duration, now time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.cfg.MAC.IsZero() && src == q.self(family) {
		return false
	}
	st := q.stateLocked(vlan, family, now)
	st.lastQuerier, st.lastQuerierT = src, now
	if !q.wins(src, family) {
		return false
	}
	if !q.presentLocked(st, now) {
		// Nobody queried for an other-querier-present interval: what the
		// hosts answered then is forgotten, and they answer this query
		// afresh.
		st.answeredBy = time.Time{}
	}
	if !now.Before(st.otherUntil) || src.Less(st.other) || src == st.other {
		// RFC 3376 s6.6.2: the querier with the lowest address (here with
		// the MAC as the tie-break) is the one whose presence counts.
		st.other = src
	}
	if src == st.other {
		st.otherUntil = now.Add(q.timers(vlan, family).OtherQuerierPresent())
		// RFC 3376 s5.2, RFC 3810 s6.2: every host answers a general
		// query within its Max Response Time (an IGMPv1 query's is 10 s,
		// RFC 1112 appendix I; the parser sets it).
		st.answeredLocked(now, maxResp)
	}
	return true
}

// answeredLocked notes a general query sent or heard at at, with Max
// Response Time maxResp: the hosts will have answered it by then.
func (st *querierState) answeredLocked(at time.Time, maxResp time.Duration) {
	end := at.Add(max(0, maxResp) + LearningMargin)
	if st.answeredBy.IsZero() || end.Before(st.answeredBy) {
		st.answeredBy = end
	}
}

// presentLocked reports whether a querier keeps the hosts of st's (VLAN,
// family) reporting at now: the switch's own (enabled, it takes over
// whenever the other falls silent), or another one heard within the
// other-querier-present interval.
func (q *Querier) presentLocked(st *querierState, now time.Time) bool {
	return !q.cfg.Disabled || now.Before(st.otherUntil)
}

// unregisteredLocked returns where unregistered data of st's (VLAN,
// family) goes at now, and when that changes next by itself (zero: not
// before another query).
func (q *Querier) unregisteredLocked(st *querierState, now time.Time) (Unregistered, time.Time) {
	switch {
	case !q.presentLocked(st, now):
		return UnregisteredFlooding, time.Time{}
	case st.answeredBy.IsZero():
		// A querier is present but no general query has gone out yet: the
		// switch's first goes out at its next tick.
		return UnregisteredLearning, time.Time{}
	case now.Before(st.answeredBy):
		return UnregisteredLearning, st.answeredBy
	case q.cfg.Disabled:
		// When the other querier falls silent, nobody queries any more.
		return UnregisteredConstrained, st.otherUntil
	}
	return UnregisteredConstrained, time.Time{}
}

// Unregistered calls set with where unregistered data goes at now in every
// (VLAN, family) the querier knows, and returns the next time that changes
// without a query (zero: never). A (VLAN, family) it does not know has no
// querier: UnregisteredFlooding. set is called with the querier's lock
// held and must not call back into it.
func (q *Querier) Unregistered(now time.Time, set func(vlan uint16, family int, u Unregistered)) time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	var next time.Time
	for k, st := range q.states {
		u, t := q.unregisteredLocked(st, now)
		set(k.vlan, k.family, u)
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next
}

// IsQuerier reports whether the switch is the querier of (vlan, family).
func (q *Querier) IsQuerier(vlan uint16, family int, now time.Time) bool {
	if q.cfg.Disabled {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	st := q.states[querierKey{vlan, family}]
	return st == nil || !now.Before(st.otherUntil)
}

// Present reports whether some querier keeps the hosts of vlan reporting
// for family: the switch itself, or another querier heard within the
// other-querier-present interval. The switch queries only VLAN 0 and the
// VLANs where it heard a query: in any other VLAN no querier is present.
func (q *Querier) Present(vlan uint16, family int, now time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := q.states[querierKey{vlan, family}]
	return st != nil && q.presentLocked(st, now)
}

// PortUp asks for general queries out of port in every (VLAN, family), so
// that the hosts behind it report at once: the switch's own where it is the
// querier; where another querier is elected, a Solicit query out of a host
// port (router is false), which it would otherwise take up to a query
// interval for the hosts to hear.
func (q *Querier) PortUp(port fdb.PortID, router bool, now time.Time) {
	if q.cfg.Disabled {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, family := range []int{4, 6} {
		q.stateLocked(0, family, now)
	}
	for k, st := range q.states {
		switch {
		case !now.Before(st.otherUntil):
			q.pending = append(q.pending, QuerySend{Port: port, VLAN: k.vlan, Family: k.family, Query: q.generalLocked(k.vlan, k.family)})
		case !router:
			q.pending = append(q.pending, QuerySend{Port: port, VLAN: k.vlan, Family: k.family, Query: q.generalLocked(k.vlan, k.family), Solicit: true})
		}
	}
}

// Outranked answers a general query heard on switch port port from a
// querier that loses the election to this switch: while this switch is the
// querier there, its own general query goes out of that port at once, so
// the other switch defers within a round trip instead of at this switch's
// next general query, a query interval later (125 s by default). Switches
// of a fabric start at different moments, and one that starts after the
// others' startup queries would otherwise query beside them until then.
// At most one answer per (VLAN, family) per second: a querier heard more
// often than that is answered by the next one.
func (q *Querier) Outranked(vlan uint16, family int, src QuerierID, port fdb.PortID, now time.Time) {
	if q.cfg.Disabled {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if src == q.self(family) || q.wins(src, family) {
		return
	}
	st := q.stateLocked(vlan, family, now)
	if now.Before(st.otherUntil) || now.Before(st.answeredLoser.Add(time.Second)) {
		return
	}
	st.answeredLoser = now
	q.pending = append(q.pending, QuerySend{Port: port, VLAN: vlan, Family: family, Query: q.generalLocked(vlan, family)})
}

// generalLocked returns a general query of (vlan, family), with the
// timers in use there.
func (q *Querier) generalLocked(vlan uint16, family int) Query {
	t := q.timers(vlan, family)
	v := q.cfg.IGMPVersion
	if family == 6 {
		v = q.cfg.MLDVersion
	}
	qq := Query{Version: v, MaxResp: t.QueryResponseInterval}
	if family == 6 {
		qq.Group = netip.IPv6Unspecified()
	} else {
		qq.Group = netip.IPv4Unspecified()
	}
	if v == 3 || (family == 6 && v == 2) {
		qq.QRV, qq.QQI = t.Robustness, t.QueryInterval
	}
	return qq
}

// Tick returns the general queries due at now (for every port) and the
// next time it has work.
func (q *Querier) Tick(now time.Time) ([]QuerySend, time.Time) {
	if q.cfg.Disabled {
		return nil, time.Time{}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, family := range []int{4, 6} {
		q.stateLocked(0, family, now)
	}
	out := q.pending
	q.pending = nil
	var next time.Time
	for k, st := range q.states {
		t := q.timers(k.vlan, k.family)
		if now.Before(st.otherUntil) {
			// Another querier is elected; when it falls silent the switch
			// starts over with startup queries.
			st.startupLeft = t.Robustness
			st.nextGeneral = st.otherUntil
		} else if !now.Before(st.nextGeneral) {
			gq := q.generalLocked(k.vlan, k.family)
			out = append(out, QuerySend{AllPorts: true, VLAN: k.vlan, Family: k.family, Query: gq})
			st.answeredLocked(now, gq.MaxResp)
			interval := t.QueryInterval
			if st.startupLeft > 0 {
				// RFC 3376 s8.6/8.7: Startup Query Count (= RV) queries,
				// a quarter of the query interval apart.
				st.startupLeft--
				if st.startupLeft > 0 {
					interval /= 4
				}
			}
			st.nextGeneral = now.Add(interval)
		}
		if next.IsZero() || st.nextGeneral.Before(next) {
			next = st.nextGeneral
		}
	}
	return out, next
}

// QuerierStatus is one (VLAN, family)'s election state, for reports.
type QuerierStatus struct {
	VLAN        uint16
	Family      int
	SelfQuerier bool
	// Querier is the elected querier's address (the switch's own source
	// when it is) and QuerierMAC its frames' source MAC (the switch's own
	// MAC when it is; zero when not known), which tells apart switches
	// that all query from 0.0.0.0.
	Querier      netip.Addr
	QuerierMAC   fdb.MAC
	OtherPresent time.Duration // time left on the other-querier-present timer
	LastHeard    netip.Addr
	LastHeardMAC fdb.MAC
	LastHeardAgo time.Duration
	NextQueryIn  time.Duration // when the switch is the querier
	// Unregistered is where data to groups nobody joined goes, and
	// LearningLeft, while it is UnregisteredLearning, how long until the
	// hosts have answered (0: no general query has gone out yet).
	Unregistered Unregistered
	LearningLeft time.Duration
}

// Status returns the election state of every (VLAN, family), sorted.
func (q *Querier) Status(now time.Time) []QuerierStatus {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []QuerierStatus
	for k, st := range q.states {
		s := QuerierStatus{VLAN: k.vlan, Family: k.family, LastHeard: st.lastQuerier.Addr, LastHeardMAC: st.lastQuerier.MAC}
		if st.lastQuerier.Addr.IsValid() {
			s.LastHeardAgo = now.Sub(st.lastQuerierT)
		}
		if now.Before(st.otherUntil) {
			s.Querier, s.QuerierMAC, s.OtherPresent = st.other.Addr, st.other.MAC, st.otherUntil.Sub(now)
		} else if !q.cfg.Disabled {
			s.SelfQuerier, s.Querier, s.QuerierMAC, s.NextQueryIn = true, q.source(k.family), q.cfg.MAC, max(0, st.nextGeneral.Sub(now))
		}
		s.Unregistered, _ = q.unregisteredLocked(st, now)
		if s.Unregistered == UnregisteredLearning && !st.answeredBy.IsZero() {
			s.LearningLeft = st.answeredBy.Sub(now)
		}
		out = append(out, s)
	}
	// VLAN 0 is always listed, flooding when no querier was ever heard
	// there and the switch's own is disabled, so that show querier says
	// why.
	for _, family := range []int{4, 6} {
		if q.states[querierKey{0, family}] == nil {
			out = append(out, QuerierStatus{Family: family, Unregistered: UnregisteredFlooding})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].VLAN != out[j].VLAN {
			return out[i].VLAN < out[j].VLAN
		}
		return out[i].Family < out[j].Family
	})
	return out
}
