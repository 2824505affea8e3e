package guard

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// Guard evaluates the ports' policies. It is safe for concurrent use; see the
// package documentation for what each method costs and how drops are counted.
type Guard struct {
	set   atomic.Pointer[policySet]
	ports [fdb.MaxPorts]portState
}

// policySet is one immutable generation of policies, swapped whole by
// SetPolicies so that a check sees either the old set or the new one.
type policySet struct {
	ports []compiled
	// fallback is for ports the set does not name: HostPortDefaults, so a
	// port added without a policy is guarded, not open.
	fallback compiled
}

// compiled is a validated PortPolicy with what the hot paths derive from it.
type compiled struct {
	PortPolicy
	// interval is the token bucket's emission interval in ns (one token per
	// interval); 0 = no rate limit. tolerance is how far ahead of now the
	// bucket's theoretical arrival time may run: (burst-1)*interval.
	interval  int64
	tolerance int64
}

// portState is one port's mutable state. Each port's slot is padded to its
// own cache lines so that RX goroutines of different ports do not share one.
type portState struct {
	// tat is the GCRA theoretical arrival time (ns since the Unix epoch) of
	// the port's token bucket.
	tat        atomic.Int64
	drops      [numReasons]atomic.Uint64
	aclRemoved atomic.Uint64
	_          [64 - (8+8*numReasons+8)%64]byte
}

// New returns a Guard with policies[i] the policy of fdb.PortID(i). Ports
// beyond the slice get HostPortDefaults.
func New(policies []PortPolicy) (*Guard, error) {
	g := new(Guard)
	if err := g.SetPolicies(policies); err != nil {
		return nil, err
	}
	return g, nil
}

// SetPolicies replaces every port's policy at once (a configuration reload).
// On error nothing changes. Token buckets and counters carry over.
func (g *Guard) SetPolicies(policies []PortPolicy) error {
	if len(policies) > fdb.MaxPorts {
		return fmt.Errorf("guard: %d port policies: at most %d ports (fdb.MaxPorts)", len(policies), fdb.MaxPorts)
	}
	set := &policySet{ports: make([]compiled, len(policies))}
	for i, p := range policies {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("guard: port %d: %w", i, err)
		}
		set.ports[i] = compile(p)
	}
	set.fallback = compile(HostPortDefaults())
	g.set.Store(set)
	return nil
}

func compile(p PortPolicy) compiled {
	// Deep copies: the caller may reuse its slices after SetPolicies.
	p.Queriers = slices.Clone(p.Queriers)
	p.ACL = slices.Clone(p.ACL)
	p.Senders = slices.Clone(p.Senders)
	if p.MinIGMPVersion == 0 {
		p.MinIGMPVersion = 1
	}
	if p.MinMLDVersion == 0 {
		p.MinMLDVersion = 1
	}
	c := compiled{PortPolicy: p}
	if p.RateLimit > 0 {
		burst := p.RateBurst
		if burst <= 0 {
			burst = max(1, int(math.Min(p.RateLimit, math.MaxInt32)))
		}
		c.interval = max(1, int64(1e9/p.RateLimit))
		c.tolerance = int64(burst-1) * c.interval
	}
	return c
}

// policy returns port's compiled policy from the current set.
func (g *Guard) policy(port fdb.PortID) *compiled {
	set := g.set.Load()
	if int(port) < len(set.ports) {
		return &set.ports[port]
	}
	return &set.fallback
}

// Policy returns port's policy as in force (zero minimum versions shown as
// 1), a copy the caller may change.
func (g *Guard) Policy(port fdb.PortID) PortPolicy {
	p := g.policy(port).PortPolicy
	p.Queriers = slices.Clone(p.Queriers)
	p.ACL = slices.Clone(p.ACL)
	p.Senders = slices.Clone(p.Senders)
	return p
}

// drop counts r on port and returns it. Ports at or above fdb.MaxPorts, which
// the switch never numbers, are not counted.
func (g *Guard) drop(port fdb.PortID, r Reason) Reason {
	if int(port) < len(g.ports) && r < numReasons {
		g.ports[port].drops[r].Add(1)
	}
	return r
}

// Count records a drop of the data plane's own decision under reason r on
// port. Drops returned by the guard's checks are already counted.
func (g *Guard) Count(port fdb.PortID, r Reason) {
	if r != Pass {
		g.drop(port, r)
	}
}

// Counters returns port's drops by reason name (every reason present, zeros
// included) and, under "acl-removed", the records and sources FilterReport
// removed from reports it let through.
func (g *Guard) Counters(port fdb.PortID) map[string]uint64 {
	m := make(map[string]uint64, numReasons+1)
	for _, r := range Reasons() {
		m[r.String()] = 0
	}
	m["acl-removed"] = 0
	if int(port) >= len(g.ports) {
		return m
	}
	st := &g.ports[port]
	for _, r := range Reasons() {
		m[r.String()] = st.drops[r].Load()
	}
	m["acl-removed"] = st.aclRemoved.Load()
	return m
}
