// Package guard is the switch's multicast security policy: per-port rules
// (router guard, minimum IGMP/MLD version, querier protection, header
// validation, group access lists and limits, sender policy, scope
// boundaries, rate limits on control packets), each check returning a verdict
// with a stable reason code, and per-port drop counters.
//
// The guard holds no membership state: the snooper tells it the counts it
// needs (AllowNewEntry), and it reads the decoded packets snoop hands over.
// It never reads the clock; time is passed in.
//
// # Counting
//
// Every check that returns a drop (a Reason other than Pass, or false from
// Egress or AllowNewEntry) has already counted that drop on its port. The
// caller drops the packet and does not Count it again; Count is for drops the
// data plane decides itself under a guard reason.
//
// # Concurrency
//
// A Guard is safe for concurrent use. The policy set is an immutable value
// behind an atomic pointer (SetPolicies swaps it); per-port state (token
// bucket, counters) is atomics in a per-port slot, so RX goroutines of
// different ports share no lock and no written cache line except on Egress,
// which counts on the egress port.
package guard
