package testenv

import (
	"math"
	"slices"
	"time"
)

// A PingResult reports a run of ICMP echo requests.
type PingResult struct {
	Sent     int             // echo requests the kernel accepted
	Received int             // replies that came back within the timeout
	RTTs     []time.Duration // round-trip times of the replies, in sequence order
}

// Percentile returns the p-th percentile (0 to 100, nearest rank) of the
// round-trip times: Percentile(50) is the median, Percentile(100) the
// maximum. It returns 0 when no reply came back.
func (r PingResult) Percentile(p float64) time.Duration {
	if len(r.RTTs) == 0 {
		return 0
	}
	s := slices.Clone(r.RTTs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}
