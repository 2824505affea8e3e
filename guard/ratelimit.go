package guard

import (
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// Admit is the control-plane rate limit, applied to every IGMP, MLD, PIM and
// MRD packet received on port before it is parsed, so that a flood on one port
// spends only that port's tokens and never the parser's time for the others.
// It returns Pass or ReasonRateLimit (counted).
//
// The bucket is a token bucket of RateBurst tokens refilled at RateLimit per
// second, kept as a GCRA (generic cell rate algorithm, ITU-T I.371) theoretical
// arrival time in one atomic word per port: no lock, no allocation. A clock
// that steps back only delays refill.
func (g *Guard) Admit(port fdb.PortID, now time.Time) Reason {
	if int(port) >= len(g.ports) {
		return ReasonRateLimit // no such port: fail closed, nothing to count on
	}
	p := g.policy(port)
	if p.interval == 0 {
		return Pass
	}
	t := now.UnixNano()
	st := &g.ports[port]
	for {
		tat := st.tat.Load()
		next := max(tat, t)
		if next-t > p.tolerance {
			return g.drop(port, ReasonRateLimit)
		}
		if st.tat.CompareAndSwap(tat, next+p.interval) {
			return Pass
		}
	}
}
