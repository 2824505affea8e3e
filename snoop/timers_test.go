package snoop_test

import (
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/snoop"
)

// The defaults and formulas of RFC 3376 s8 (RFC 3810 s9 has the same).
func TestDefaultTimers(t *testing.T) {
	d := snoop.DefaultTimers()
	want := snoop.Timers{
		Robustness:            2,
		QueryInterval:         125 * time.Second,
		QueryResponseInterval: 10 * time.Second,
		LastMemberInterval:    time.Second,
		LastMemberCount:       2,
	}
	if d != want {
		t.Fatalf("DefaultTimers() = %+v, want %+v", d, want)
	}
	for _, c := range []struct {
		name string
		got  time.Duration
		want time.Duration
	}{
		{"GroupMembershipInterval", d.GroupMembershipInterval(), 260 * time.Second},
		{"OtherQuerierPresent", d.OtherQuerierPresent(), 255 * time.Second},
		{"OlderHostPresent", d.OlderHostPresent(), 260 * time.Second},
		{"LastMemberQueryTime", d.LastMemberQueryTime(), 2 * time.Second},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestTimerFormulas(t *testing.T) {
	tm := snoop.Timers{
		Robustness:            3,
		QueryInterval:         60 * time.Second,
		QueryResponseInterval: 8 * time.Second,
		LastMemberInterval:    500 * time.Millisecond,
		LastMemberCount:       4,
	}
	if got, want := tm.GroupMembershipInterval(), 188*time.Second; got != want {
		t.Errorf("GMI = %v, want RV*QI+QRI = %v", got, want)
	}
	if got, want := tm.OtherQuerierPresent(), 184*time.Second; got != want {
		t.Errorf("OtherQuerierPresent = %v, want RV*QI+QRI/2 = %v", got, want)
	}
	if got, want := tm.OlderHostPresent(), 188*time.Second; got != want {
		t.Errorf("OlderHostPresent = %v, want RV*QI+QRI = %v", got, want)
	}
	if got, want := tm.LastMemberQueryTime(), 2*time.Second; got != want {
		t.Errorf("LMQT = %v, want LMQC*LMQI = %v", got, want)
	}
}

// Zero fields take their defaults, and a zero LastMemberCount follows the
// configured Robustness (RFC 3376 s8.9).
func TestMembershipTimersDefaults(t *testing.T) {
	m := snoop.NewMembership(fdb.NewGroupTable(), snoop.MembershipConfig{})
	if got := m.Timers(0, 4); got != snoop.DefaultTimers() {
		t.Errorf("zero config: Timers() = %+v, want the defaults", got)
	}
	m = snoop.NewMembership(fdb.NewGroupTable(), snoop.MembershipConfig{
		Timers: snoop.Timers{Robustness: 3, QueryInterval: -time.Second},
	})
	want := snoop.DefaultTimers()
	want.Robustness = 3
	want.LastMemberCount = 3
	if got := m.Timers(0, 6); got != want {
		t.Errorf("Robustness 3, negative QI: Timers() = %+v, want %+v", got, want)
	}
}
