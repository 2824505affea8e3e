package testenv_test

import (
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/testenv"
)

func TestPercentile(t *testing.T) {
	ms := time.Millisecond
	r := testenv.PingResult{RTTs: []time.Duration{5 * ms, 1 * ms, 4 * ms, 2 * ms, 3 * ms, 10 * ms, 6 * ms, 7 * ms, 9 * ms, 8 * ms}}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{
		{0, 1 * ms},
		{10, 1 * ms},
		{11, 2 * ms},
		{50, 5 * ms},
		{90, 9 * ms},
		{99, 10 * ms},
		{100, 10 * ms},
		{150, 10 * ms},
	} {
		if got := r.Percentile(tc.p); got != tc.want {
			t.Errorf("Percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := (testenv.PingResult{}).Percentile(50); got != 0 {
		t.Errorf("Percentile of no replies = %v, want 0", got)
	}
	if r.RTTs[0] != 5*ms {
		t.Error("Percentile reordered RTTs")
	}
}
