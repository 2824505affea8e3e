package snoop

import "time"

// Defaults of the protocol variables (RFC 3376 s8, RFC 3810 s9, RFC 2236 s8).
const (
	// DefaultRobustness is the Robustness Variable. RFC 3376 s8.1: "The
	// Robustness Variable MUST NOT be zero, and SHOULD NOT be one. Default: 2".
	DefaultRobustness = 2
	// DefaultQueryInterval is the interval between general queries (RFC 3376
	// s8.2, "Default: 125 seconds").
	DefaultQueryInterval = 125 * time.Second
	// DefaultQueryResponseInterval is the Max Response Time of general
	// queries (RFC 3376 s8.3, "Default: 100 (10 seconds)").
	DefaultQueryResponseInterval = 10 * time.Second
	// DefaultLastMemberInterval is the Max Response Time of the group-specific
	// and group-and-source-specific queries sent after a leave (RFC 3376 s8.8,
	// "Default: 10 (1 second)").
	DefaultLastMemberInterval = time.Second
)

// Timers are the protocol timers (RFC 3376 s8 / RFC 3810 s9), with PROTOCOL-NOTES defaults.
//
// The MLD names differ (MALI for GMI, Last Listener Query Interval/Count for
// LMQI/LMQC) but the values and formulas are the same, so one Timers serves
// both protocols. A zero or negative field means its default (see
// DefaultTimers); LastMemberCount 0 means "the Robustness Variable", its
// default in RFC 3376 s8.9.
type Timers struct {
	Robustness            int           // 2
	QueryInterval         time.Duration // 125s
	QueryResponseInterval time.Duration // 10s
	LastMemberInterval    time.Duration // 1s
	LastMemberCount       int           // = Robustness
}

// DefaultTimers returns the defaults of RFC 3376 s8 and RFC 3810 s9.
func DefaultTimers() Timers {
	return Timers{
		Robustness:            DefaultRobustness,
		QueryInterval:         DefaultQueryInterval,
		QueryResponseInterval: DefaultQueryResponseInterval,
		LastMemberInterval:    DefaultLastMemberInterval,
		LastMemberCount:       DefaultRobustness,
	}
}

// withDefaults returns t with every zero or negative field set to its
// default, so that no interval computed from it is zero (a zero GMI would
// expire every membership the moment it is made).
func (t Timers) withDefaults() Timers {
	if t.Robustness <= 0 {
		t.Robustness = DefaultRobustness
	}
	if t.QueryInterval <= 0 {
		t.QueryInterval = DefaultQueryInterval
	}
	if t.QueryResponseInterval <= 0 {
		t.QueryResponseInterval = DefaultQueryResponseInterval
	}
	if t.LastMemberInterval <= 0 {
		t.LastMemberInterval = DefaultLastMemberInterval
	}
	if t.LastMemberCount <= 0 {
		// RFC 3376 s8.9: Last Member Query Count "Default: the Robustness
		// Variable".
		t.LastMemberCount = t.Robustness
	}
	return t
}

// GroupMembershipInterval is how long a membership lives without a report
// (RFC 3376 s8.4 GMI, RFC 3810 s9.4 MALI).
func (t Timers) GroupMembershipInterval() time.Duration { // RV*QI + QRI
	// RFC 3376 s8.4: "This value MUST be ((the Robustness Variable) times
	// (the Query Interval)) plus (one Query Response Interval)."
	return time.Duration(t.Robustness)*t.QueryInterval + t.QueryResponseInterval
}

// OtherQuerierPresent is how long a non-querier waits for the elected
// querier's next query before it takes over (RFC 3376 s8.5, RFC 3810 s9.5).
func (t Timers) OtherQuerierPresent() time.Duration { // RV*QI + QRI/2
	// RFC 3376 s8.5: "((the Robustness Variable) times (the Query Interval))
	// plus (one half of one Query Response Interval)."
	return time.Duration(t.Robustness)*t.QueryInterval + t.QueryResponseInterval/2
}

// OlderHostPresent is how long a port's group stays in IGMPv1/IGMPv2 (MLDv1)
// compatibility mode after an older report (RFC 3376 s8.13, RFC 3810 s9.13).
func (t Timers) OlderHostPresent() time.Duration { // RV*QI + QRI
	// RFC 3376 s8.13: "This value MUST be ((the Robustness Variable) times
	// (the Query Interval)) plus (one Query Response Interval)."
	return time.Duration(t.Robustness)*t.QueryInterval + t.QueryResponseInterval
}

// LastMemberQueryTime is how long the last-member queries after a leave run
// (RFC 3376 s8.10 LMQT, RFC 3810 s9.10 LLQT).
func (t Timers) LastMemberQueryTime() time.Duration { // LMQC*LMQI
	// RFC 3376 s8.10: "the time value represented by the Last Member Query
	// Interval, multiplied by the Last Member Query Count."
	return time.Duration(t.LastMemberCount) * t.LastMemberInterval
}
