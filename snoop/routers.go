package snoop

import (
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// RouterSource says how a router port was learned.
type RouterSource uint8

const (
	RouterStatic RouterSource = iota // configured
	RouterQuery                      // a general query from a querier (RFC 4541 s2.1.1)
	RouterPIM                        // a PIMv2 hello
	RouterMRD                        // a Multicast Router Discovery advertisement (RFC 4286)
	// RouterSwitchQuerier: a general query from the querier of another
	// snooping switch of the fabric (from 0.0.0.0 or ::, or from a
	// snoopswitch MAC, IsSwitchMAC), heard on a switch port. Such a port
	// leads toward the fabric's querier, which needs the reports, but to no
	// multicast router, which would need all data: Ports leaves it out.
	// Reports reach it anyway, since they go to every switch port.
	RouterSwitchQuerier
)

func (s RouterSource) String() string {
	switch s {
	case RouterStatic:
		return "static"
	case RouterQuery:
		return "query"
	case RouterPIM:
		return "pim"
	case RouterMRD:
		return "mrd"
	case RouterSwitchQuerier:
		return "switch-querier"
	}
	return "invalid"
}

// How long a learned router port lasts without being heard again.
const (
	// PIM's default hello hold time (RFC 7761 s4.11: 3.5 x 30 s).
	pimHoldTime = 105 * time.Second
	// RFC 4286 s4.1: advertisements come every 20 s by default; three
	// missed ones end the router.
	mrdHoldTime = 60 * time.Second
)

type routerKey struct {
	vlan uint16
	port fdb.PortID
	// switchQuerier: the entry is a RouterSwitchQuerier one, kept apart
	// from a multicast router's on the same port, so that the switch
	// querier's queries never turn a router's port into one that gets no
	// data.
	switchQuerier bool
}

// RouterPort is one learned or static router port, for reports.
type RouterPort struct {
	VLAN    uint16 // 0 for static ports, which apply to every VLAN
	Port    fdb.PortID
	Source  RouterSource
	Address netip.Addr    // the router's address, for learned ports
	Expires time.Duration // from now; 0 for static ports
}

// RouterPorts tracks the ports behind which multicast routers sit, per
// VLAN: static ones, and ones learned from queries, PIM hellos and MRD
// advertisements, which age out; and the switch ports toward the fabric's
// querier (RouterSwitchQuerier), listed but not routers. The data plane
// reads an immutable view.
type RouterPorts struct {
	mu      sync.Mutex
	static  fdb.PortSet
	learned map[routerKey]learnedRouter
	view    atomic.Pointer[routerView]
	// changed is called after a new view is published (Config.Changed);
	// nil for none.
	changed func()
}

// learnedRouter is a learned router port and when it ends.
type learnedRouter struct {
	source  RouterSource
	addr    netip.Addr
	expires time.Time
}

type routerView struct {
	static fdb.PortSet
	byVLAN map[uint16]fdb.PortSet
}

// NewRouterPorts returns the router ports with static ones configured.
func NewRouterPorts(static fdb.PortSet) *RouterPorts {
	r := &RouterPorts{static: static, learned: make(map[routerKey]learnedRouter)}
	r.publishLocked()
	return r
}

// Ports returns the router ports of vlan: the ports that get all multicast
// data and every report. A RouterSwitchQuerier port is not one.
// Allocation-free and lock-free.
func (r *RouterPorts) Ports(vlan uint16) fdb.PortSet {
	v := r.view.Load()
	return v.static.Union(v.byVLAN[vlan])
}

// Learn records a router heard on port in vlan, until now+hold.
func (r *RouterPorts) Learn(vlan uint16, port fdb.PortID, src RouterSource, addr netip.Addr, hold time.Duration, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := routerKey{vlan, port, src == RouterSwitchQuerier}
	_, known := r.learned[k]
	r.learned[k] = learnedRouter{source: src, addr: addr, expires: now.Add(hold)}
	if !known {
		r.publishLocked()
	}
}

// Expire forgets learned router ports not heard from in time, and returns
// the next deadline (zero when none).
func (r *RouterPorts) Expire(now time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var next time.Time
	changed := false
	for k, l := range r.learned {
		if !now.Before(l.expires) {
			delete(r.learned, k)
			changed = true
		} else if next.IsZero() || l.expires.Before(next) {
			next = l.expires
		}
	}
	if changed {
		r.publishLocked()
	}
	return next
}

// Static returns the static router ports.
func (r *RouterPorts) Static() fdb.PortSet {
	return r.view.Load().static
}

// SetStatic replaces the static router ports.
func (r *RouterPorts) SetStatic(static fdb.PortSet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.static = static
	r.publishLocked()
}

// RemovePort forgets what was learned on port (link down).
func (r *RouterPorts) RemovePort(port fdb.PortID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.learned {
		if k.port == port {
			delete(r.learned, k)
		}
	}
	r.publishLocked()
}

// List returns the static and learned router ports, sorted.
func (r *RouterPorts) List(now time.Time) []RouterPort {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []RouterPort
	for p, ok := r.static.Next(0); ok; p, ok = r.static.Next(p + 1) {
		out = append(out, RouterPort{Port: p, Source: RouterStatic})
		if p == fdb.MaxPorts-1 {
			break
		}
	}
	for k, l := range r.learned {
		out = append(out, RouterPort{VLAN: k.vlan, Port: k.port, Source: l.source, Address: l.addr, Expires: l.expires.Sub(now)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].VLAN != out[j].VLAN {
			return out[i].VLAN < out[j].VLAN
		}
		if out[i].Port != out[j].Port {
			return out[i].Port < out[j].Port
		}
		return out[i].Source < out[j].Source
	})
	return out
}

func (r *RouterPorts) publishLocked() {
	v := &routerView{static: r.static, byVLAN: make(map[uint16]fdb.PortSet)}
	for k := range r.learned {
		if k.switchQuerier {
			continue
		}
		s := v.byVLAN[k.vlan]
		s.Add(k.port)
		v.byVLAN[k.vlan] = s
	}
	r.view.Store(v)
	if r.changed != nil {
		r.changed()
	}
}
