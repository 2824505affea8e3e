package fdb_test

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// t0 is the fake clock's start. Tests advance it with Add; nothing sleeps.
var t0 = time.Unix(1_700_000_000, 0)

// hostMAC returns a locally administered unicast MAC numbered i.
func hostMAC(i int) fdb.MAC {
	return fdb.MAC{0x02, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}
}

func newTable(t testing.TB, cfg fdb.Config) *fdb.MACTable {
	t.Helper()
	tab, err := fdb.NewMACTable(cfg)
	if err != nil {
		t.Fatalf("NewMACTable(%+v): %v", cfg, err)
	}
	return tab
}

func learn(t *testing.T, tab *fdb.MACTable, vlan uint16, mac fdb.MAC, port fdb.PortID, now time.Time, want fdb.LearnResult) {
	t.Helper()
	if got := tab.Learn(vlan, mac, port, now); got != want {
		t.Fatalf("Learn(vlan %d, %v, port %d, t0+%v) = %v, want %v", vlan, mac, port, now.Sub(t0), got, want)
	}
}

func wantLookup(t *testing.T, tab *fdb.MACTable, vlan uint16, mac fdb.MAC, now time.Time, wantPort fdb.PortID, wantOK bool) {
	t.Helper()
	port, ok := tab.Lookup(vlan, mac, now)
	if ok != wantOK || (ok && port != wantPort) {
		t.Fatalf("Lookup(vlan %d, %v, t0+%v) = %d, %v; want %d, %v", vlan, mac, now.Sub(t0), port, ok, wantPort, wantOK)
	}
}

func TestNewMACTableValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  fdb.Config
		want string // "" for no error
	}{
		{"zero selects defaults", fdb.Config{}, ""},
		{"explicit values", fdb.Config{AgingTime: time.Second, PortLimit: 1, FlapWindow: time.Millisecond}, ""},
		{"negative aging", fdb.Config{AgingTime: -5 * time.Second},
			"fdb: AgingTime -5s must be positive (0 selects the default 300s)"},
		{"negative limit", fdb.Config{PortLimit: -1},
			"fdb: PortLimit -1 must be positive (0 selects the default 1024)"},
		{"negative flap window", fdb.Config{FlapWindow: -time.Second},
			"fdb: FlapWindow -1s must be positive (0 selects the default 10s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := fdb.NewMACTable(tt.cfg)
			if tt.want == "" {
				if err != nil || tab == nil {
					t.Fatalf("NewMACTable(%+v) = %v, %v; want a table", tt.cfg, tab, err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("NewMACTable(%+v) error = %v, want %q", tt.cfg, err, tt.want)
			}
			if tab != nil {
				t.Fatalf("NewMACTable(%+v) returned a table with its error", tt.cfg)
			}
		})
	}
}

func TestDefaultsApply(t *testing.T) {
	tab := newTable(t, fdb.Config{})
	m := hostMAC(1)
	learn(t, tab, 0, m, 1, t0, fdb.LearnNew)
	wantLookup(t, tab, 0, m, t0.Add(fdb.DefaultAgingTime-time.Nanosecond), 1, true)
	wantLookup(t, tab, 0, m, t0.Add(fdb.DefaultAgingTime), 0, false)
	for i := 2; i <= fdb.DefaultPortLimit; i++ {
		learn(t, tab, 0, hostMAC(i), 1, t0, fdb.LearnNew)
	}
	learn(t, tab, 0, hostMAC(fdb.DefaultPortLimit+1), 1, t0, fdb.LearnPortLimit)
}

func TestLearnAndRefresh(t *testing.T) {
	tab := newTable(t, fdb.Config{AgingTime: 10 * time.Second})
	a := hostMAC(1)
	learn(t, tab, 0, a, 3, t0, fdb.LearnNew)
	learn(t, tab, 0, a, 3, t0.Add(8*time.Second), fdb.LearnRefreshed)
	// The refresh at t0+8s keeps it alive past t0+10s.
	wantLookup(t, tab, 0, a, t0.Add(17*time.Second), 3, true)
	wantLookup(t, tab, 0, a, t0.Add(18*time.Second), 0, false)

	// A refresh carrying an older time (another RX goroutine's clock lagging)
	// must not pull last-seen back.
	learn(t, tab, 0, a, 3, t0.Add(2*time.Second), fdb.LearnRefreshed)
	wantLookup(t, tab, 0, a, t0.Add(17*time.Second), 3, true)

	st := tab.Stats()
	if st.Entries != 1 || st.Learned != 1 || st.Moves != 0 {
		t.Fatalf("Stats = %+v, want 1 entry, 1 learned, 0 moves", st)
	}
	if n := tab.PortLearned(3); n != 1 {
		t.Fatalf("PortLearned(3) = %d, want 1", n)
	}
	if n := tab.PortLearned(4000); n != 0 {
		t.Fatalf("PortLearned(4000) = %d, want 0 for a port never seen", n)
	}
}

func TestLookupPerVLAN(t *testing.T) {
	tab := newTable(t, fdb.Config{})
	m := hostMAC(7)
	learn(t, tab, 10, m, 1, t0, fdb.LearnNew)
	// The same MAC in another VLAN is another entry: not a move.
	learn(t, tab, 20, m, 2, t0, fdb.LearnNew)
	wantLookup(t, tab, 10, m, t0, 1, true)
	wantLookup(t, tab, 20, m, t0, 2, true)
	wantLookup(t, tab, 0, m, t0, 0, false)
	wantLookup(t, tab, 30, m, t0, 0, false)
	if st := tab.Stats(); st.Entries != 2 || st.Moves != 0 {
		t.Fatalf("Stats = %+v, want 2 entries and no move", st)
	}
	// Both count against their ports' limits.
	if a, b := tab.PortLearned(1), tab.PortLearned(2); a != 1 || b != 1 {
		t.Fatalf("PortLearned = %d, %d; want 1, 1", a, b)
	}
	// VLAN IDs beyond 12 bits never alias a valid one.
	learn(t, tab, 0x1000|10, m, 3, t0, fdb.LearnNew)
	wantLookup(t, tab, 10, m, t0, 1, true)
}

func TestAging(t *testing.T) {
	const aging = 30 * time.Second
	tab := newTable(t, fdb.Config{AgingTime: aging})
	a, b := hostMAC(1), hostMAC(2)
	learn(t, tab, 0, a, 1, t0, fdb.LearnNew)
	learn(t, tab, 0, b, 2, t0.Add(10*time.Second), fdb.LearnNew)
	if err := tab.AddStatic(0, hostMAC(3), 4); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		at           time.Duration
		aOK, bOK     bool
		entries      int // from Entries(now): aged excluded
		storedBefore int // Stats().Entries: aged ones still stored
	}{
		{0, true, true, 3, 3},
		{aging - time.Nanosecond, true, true, 3, 3},
		// IEEE 802.1Q s8.8.3: valid while now - seen < AgingTime.
		{aging, false, true, 2, 3},
		{aging + 10*time.Second - time.Nanosecond, false, true, 2, 3},
		{aging + 10*time.Second, false, false, 1, 3},
	}
	for _, tt := range tests {
		now := t0.Add(tt.at)
		wantLookup(t, tab, 0, a, now, 1, tt.aOK)
		wantLookup(t, tab, 0, b, now, 2, tt.bOK)
		if n := len(tab.Entries(now)); n != tt.entries {
			t.Errorf("at t0+%v: len(Entries) = %d, want %d", tt.at, n, tt.entries)
		}
		if n := tab.Stats().Entries; n != tt.storedBefore {
			t.Errorf("at t0+%v: Stats().Entries = %d, want %d (Lookup must not remove)", tt.at, n, tt.storedBefore)
		}
	}
}

func TestExpire(t *testing.T) {
	tab := newTable(t, fdb.Config{AgingTime: 10 * time.Second})
	for i := range 5 {
		learn(t, tab, 0, hostMAC(i), fdb.PortID(i%2), t0.Add(time.Duration(i)*time.Second), fdb.LearnNew)
	}
	if err := tab.AddStatic(0, hostMAC(100), 1); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		at      time.Duration
		removed int
		left    int
	}{
		{9 * time.Second, 0, 6},
		{10 * time.Second, 1, 5}, // hostMAC(0), seen at 0s
		{12 * time.Second, 2, 3}, // seen at 1s and 2s
		{12 * time.Second, 0, 3}, // nothing twice
		{time.Hour, 2, 1},        // the static entry stays
		{100 * time.Hour, 0, 1},  // and stays
	}
	total := 0
	for _, s := range steps {
		if n := tab.Expire(t0.Add(s.at)); n != s.removed {
			t.Fatalf("Expire(t0+%v) = %d, want %d", s.at, n, s.removed)
		}
		total += s.removed
		if st := tab.Stats(); st.Entries != s.left || st.Expired != uint64(total) {
			t.Fatalf("after Expire(t0+%v): Stats = %+v, want %d entries, %d expired", s.at, st, s.left, total)
		}
	}
	if a, b := tab.PortLearned(0), tab.PortLearned(1); a != 0 || b != 0 {
		t.Fatalf("PortLearned = %d, %d after everything expired; want 0, 0", a, b)
	}
}

func TestRelearnAfterAging(t *testing.T) {
	tab := newTable(t, fdb.Config{AgingTime: 10 * time.Second, PortLimit: 1})
	a := hostMAC(1)
	learn(t, tab, 0, a, 1, t0, fdb.LearnNew)
	// Aged but not expired: seen again on the same port it is learned afresh,
	// not refreshed (Lookup had already stopped answering for it), and it
	// needs no room beyond the slot it holds.
	learn(t, tab, 0, a, 1, t0.Add(10*time.Second), fdb.LearnNew)
	wantLookup(t, tab, 0, a, t0.Add(19*time.Second), 1, true)
	if st := tab.Stats(); st.Learned != 2 || st.Entries != 1 {
		t.Fatalf("Stats = %+v, want 2 learned, 1 entry", st)
	}
	if n := tab.PortLearned(1); n != 1 {
		t.Fatalf("PortLearned(1) = %d, want 1", n)
	}
}

func TestPortLimit(t *testing.T) {
	const limit = fdb.DefaultPortLimit
	tab := newTable(t, fdb.Config{AgingTime: time.Minute})
	for i := range limit {
		learn(t, tab, uint16(i%3), hostMAC(i), 1, t0, fdb.LearnNew)
	}
	if n := tab.PortLearned(1); n != limit {
		t.Fatalf("PortLearned(1) = %d, want %d", n, limit)
	}
	// The 1025th MAC, in any VLAN, is refused and counted, every time.
	over := hostMAC(limit)
	learn(t, tab, 0, over, 1, t0, fdb.LearnPortLimit)
	learn(t, tab, 7, over, 1, t0, fdb.LearnPortLimit)
	wantLookup(t, tab, 0, over, t0, 0, false)
	if st := tab.Stats(); st.PortLimit != 2 || st.Entries != limit || st.Learned != limit {
		t.Fatalf("Stats = %+v, want 2 refusals, %d entries", st, limit)
	}
	// Known MACs on the full port still refresh.
	learn(t, tab, 0, hostMAC(0), 1, t0.Add(30*time.Second), fdb.LearnRefreshed)
	// Other ports are unaffected.
	learn(t, tab, 0, over, 2, t0, fdb.LearnNew)
	if n := tab.PortLearned(2); n != 1 {
		t.Fatalf("PortLearned(2) = %d, want 1", n)
	}
	// Statics do not count against the limit.
	if err := tab.AddStatic(0, hostMAC(50_000), 1); err != nil {
		t.Fatal(err)
	}
	if n := tab.PortLearned(1); n != limit {
		t.Fatalf("PortLearned(1) = %d after AddStatic, want %d", n, limit)
	}

	// Aged entries hold their room until Expire gives it back.
	later := t0.Add(time.Minute)
	learn(t, tab, 0, hostMAC(limit+1), 1, later, fdb.LearnPortLimit)
	if n := tab.Expire(later); n != limit { // all but the refreshed one, plus the one on port 2
		t.Fatalf("Expire = %d, want %d", n, limit)
	}
	if n := tab.PortLearned(1); n != 1 {
		t.Fatalf("PortLearned(1) = %d after Expire, want 1", n)
	}
	learn(t, tab, 0, hostMAC(limit+1), 1, later, fdb.LearnNew)
	wantLookup(t, tab, 0, hostMAC(limit+1), later, 1, true)
}

func TestMovesAndFlaps(t *testing.T) {
	const window = 10 * time.Second
	type step struct {
		port fdb.PortID
		at   time.Duration
		want fdb.LearnResult
	}
	tests := []struct {
		name         string
		steps        []step
		moves, flaps uint64
	}{
		{"A->B is a move", []step{{1, 0, fdb.LearnNew}, {2, time.Second, fdb.LearnMoved}}, 1, 0},
		{"A->B->A within the window is a flap", []step{
			{1, 0, fdb.LearnNew}, {2, time.Second, fdb.LearnMoved}, {1, time.Second + window - time.Nanosecond, fdb.LearnMoved},
		}, 2, 1},
		{"A->B->A at the window is not", []step{
			{1, 0, fdb.LearnNew}, {2, time.Second, fdb.LearnMoved}, {1, time.Second + window, fdb.LearnMoved},
		}, 2, 0},
		{"A->B->C is two moves", []step{
			{1, 0, fdb.LearnNew}, {2, time.Second, fdb.LearnMoved}, {3, 2 * time.Second, fdb.LearnMoved},
		}, 2, 0},
		{"A->B->A->B->A flaps each time", []step{
			{1, 0, fdb.LearnNew}, {2, 1 * time.Second, fdb.LearnMoved}, {1, 2 * time.Second, fdb.LearnMoved},
			{2, 3 * time.Second, fdb.LearnMoved}, {1, 4 * time.Second, fdb.LearnMoved},
		}, 4, 3},
		{"refreshes on B do not reset the window", []step{
			{1, 0, fdb.LearnNew}, {2, 1 * time.Second, fdb.LearnMoved}, {2, 5 * time.Second, fdb.LearnRefreshed},
			{1, 12 * time.Second, fdb.LearnMoved},
		}, 2, 0},
		{"an aged entry seen elsewhere is new, not a move", []step{
			{1, 0, fdb.LearnNew}, {2, time.Minute, fdb.LearnNew}, {1, time.Minute + time.Second, fdb.LearnMoved},
		}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := newTable(t, fdb.Config{AgingTime: time.Minute, FlapWindow: window})
			m := hostMAC(1)
			for _, s := range tt.steps {
				learn(t, tab, 0, m, s.port, t0.Add(s.at), s.want)
				wantLookup(t, tab, 0, m, t0.Add(s.at), s.port, true)
			}
			st := tab.Stats()
			if st.Moves != tt.moves || st.Flaps != tt.flaps || st.Entries != 1 {
				t.Fatalf("Stats = %+v, want %d moves, %d flaps, 1 entry", st, tt.moves, tt.flaps)
			}
			last := tt.steps[len(tt.steps)-1].port
			for p := fdb.PortID(0); p < 4; p++ {
				want := 0
				if p == last {
					want = 1
				}
				if n := tab.PortLearned(p); n != want {
					t.Errorf("PortLearned(%d) = %d, want %d", p, n, want)
				}
			}
		})
	}
}

func TestMoveOntoFullPortRemovesStaleEntry(t *testing.T) {
	tab := newTable(t, fdb.Config{PortLimit: 2})
	roamer := hostMAC(1)
	learn(t, tab, 0, roamer, 1, t0, fdb.LearnNew)
	learn(t, tab, 0, hostMAC(2), 2, t0, fdb.LearnNew)
	learn(t, tab, 0, hostMAC(3), 2, t0, fdb.LearnNew)
	// Port 2 is full. The roamer is not learned there, and its entry on port
	// 1 goes: frames to it flood (and reach it) instead of going to port 1.
	learn(t, tab, 0, roamer, 2, t0.Add(time.Second), fdb.LearnPortLimit)
	wantLookup(t, tab, 0, roamer, t0.Add(time.Second), 0, false)
	if n := tab.PortLearned(1); n != 0 {
		t.Fatalf("PortLearned(1) = %d, want 0", n)
	}
	if n := tab.PortLearned(2); n != 2 {
		t.Fatalf("PortLearned(2) = %d, want 2", n)
	}
	if st := tab.Stats(); st.PortLimit != 1 || st.Moves != 0 || st.Entries != 2 {
		t.Fatalf("Stats = %+v, want 1 refusal, no move, 2 entries", st)
	}
}

func TestStaticEntries(t *testing.T) {
	tab := newTable(t, fdb.Config{AgingTime: 10 * time.Second})
	gw := hostMAC(1)

	// A static entry replaces a learned one and gives back its room.
	learn(t, tab, 0, gw, 2, t0, fdb.LearnNew)
	if err := tab.AddStatic(0, gw, 1); err != nil {
		t.Fatal(err)
	}
	if n := tab.PortLearned(2); n != 0 {
		t.Fatalf("PortLearned(2) = %d after AddStatic replaced its entry, want 0", n)
	}
	wantLookup(t, tab, 0, gw, t0, 1, true)

	// It never ages.
	far := t0.Add(1000 * time.Hour)
	wantLookup(t, tab, 0, gw, far, 1, true)
	if n := tab.Expire(far); n != 0 {
		t.Fatalf("Expire removed %d entries, want 0 (static)", n)
	}

	// It never moves; a source on another port is a conflict, counted.
	learn(t, tab, 0, gw, 2, far, fdb.LearnStatic)
	learn(t, tab, 0, gw, 3, far, fdb.LearnStatic)
	learn(t, tab, 0, gw, 1, far, fdb.LearnStatic) // its own port: no conflict
	wantLookup(t, tab, 0, gw, far, 1, true)
	if st := tab.Stats(); st.StaticConflicts != 2 || st.Moves != 0 {
		t.Fatalf("Stats = %+v, want 2 static conflicts, no move", st)
	}

	// It is per VLAN: the MAC still learns in VLAN 5.
	learn(t, tab, 5, gw, 2, far, fdb.LearnNew)

	// It survives FlushPort.
	if n := tab.FlushPort(1); n != 0 {
		t.Fatalf("FlushPort(1) = %d, want 0", n)
	}
	wantLookup(t, tab, 0, gw, far, 1, true)

	// Entries shows it with Age 0.
	ents := tab.Entries(far)
	if len(ents) != 2 || ents[0] != (fdb.Entry{VLAN: 0, MAC: gw, Port: 1, Static: true}) {
		t.Fatalf("Entries = %+v, want the static entry first", ents)
	}

	// Re-adding moves it; RemoveStatic removes only statics.
	if err := tab.AddStatic(0, gw, 4); err != nil {
		t.Fatal(err)
	}
	wantLookup(t, tab, 0, gw, far, 4, true)
	if tab.RemoveStatic(5, gw) {
		t.Fatal("RemoveStatic removed a learned entry")
	}
	if !tab.RemoveStatic(0, gw) {
		t.Fatal("RemoveStatic(0, gw) = false, want true")
	}
	if tab.RemoveStatic(0, gw) {
		t.Fatal("RemoveStatic twice = true, want false")
	}
	wantLookup(t, tab, 0, gw, far, 0, false)
	// Without it the MAC learns again.
	learn(t, tab, 0, gw, 3, far, fdb.LearnNew)
}

func TestAddStaticErrors(t *testing.T) {
	tab := newTable(t, fdb.Config{})
	tests := []struct {
		vlan uint16
		mac  fdb.MAC
		want string
	}{
		{0, fdb.MAC{0x01, 0x00, 0x5e, 0, 0, 1}, "fdb: static entry 01:00:5e:00:00:01: a group MAC cannot be a unicast forwarding entry"},
		{0, fdb.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "a group MAC"},
		{0, fdb.MAC{}, "fdb: static entry 00:00:00:00:00:00: the all-zero MAC"},
		{4096, hostMAC(1), "VLAN 4096 is out of range"},
	}
	for _, tt := range tests {
		err := tab.AddStatic(tt.vlan, tt.mac, 1)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("AddStatic(%d, %v) error = %v, want it to contain %q", tt.vlan, tt.mac, err, tt.want)
		}
	}
	if n := tab.Stats().Entries; n != 0 {
		t.Fatalf("Stats().Entries = %d after failed AddStatic calls, want 0", n)
	}
	if err := tab.AddStatic(4095, hostMAC(1), 1); err != nil {
		t.Fatalf("AddStatic(4095, ...) = %v, want nil", err)
	}
}

func TestFlushPort(t *testing.T) {
	tab := newTable(t, fdb.Config{})
	for i := range 10 {
		learn(t, tab, uint16(i%2), hostMAC(i), fdb.PortID(i%3), t0, fdb.LearnNew)
	}
	if err := tab.AddStatic(0, hostMAC(99), 0); err != nil {
		t.Fatal(err)
	}
	// Port 0 held MACs 0, 3, 6, 9.
	if n := tab.FlushPort(0); n != 4 {
		t.Fatalf("FlushPort(0) = %d, want 4", n)
	}
	if n := tab.FlushPort(0); n != 0 {
		t.Fatalf("FlushPort(0) again = %d, want 0", n)
	}
	if n := tab.FlushPort(9); n != 0 {
		t.Fatalf("FlushPort(9) = %d, want 0 for a port never seen", n)
	}
	for i := range 10 {
		wantLookup(t, tab, uint16(i%2), hostMAC(i), t0, fdb.PortID(i%3), i%3 != 0)
	}
	wantLookup(t, tab, 0, hostMAC(99), t0, 0, true)
	if n := tab.PortLearned(0); n != 0 {
		t.Fatalf("PortLearned(0) = %d, want 0", n)
	}
	if st := tab.Stats(); st.Flushed != 4 || st.Entries != 7 {
		t.Fatalf("Stats = %+v, want 4 flushed, 7 entries", st)
	}
	// A flushed MAC seen elsewhere is new, not a move.
	learn(t, tab, 0, hostMAC(0), 1, t0, fdb.LearnNew)
}

func TestLearnIgnored(t *testing.T) {
	tab := newTable(t, fdb.Config{})
	for _, m := range []fdb.MAC{
		{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}, // IPv4 multicast
		{0x33, 0x33, 0x00, 0x00, 0x00, 0x01}, // IPv6 multicast
		{0x01, 0x80, 0xc2, 0x00, 0x00, 0x00}, // STP, link-local
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, // broadcast
		{},                                   // all-zero
	} {
		learn(t, tab, 0, m, 1, t0, fdb.LearnIgnored)
		wantLookup(t, tab, 0, m, t0, 0, false)
	}
	if st := tab.Stats(); st != (fdb.Stats{}) {
		t.Fatalf("Stats = %+v, want zero", st)
	}
}

func TestEntriesSnapshot(t *testing.T) {
	tab := newTable(t, fdb.Config{AgingTime: time.Minute})
	learn(t, tab, 20, fdb.MAC{0x02, 0, 0, 0, 0, 1}, 1, t0, fdb.LearnNew)
	learn(t, tab, 10, fdb.MAC{0x0a, 0, 0, 0, 0, 1}, 2, t0.Add(10*time.Second), fdb.LearnNew)
	learn(t, tab, 10, fdb.MAC{0x02, 0xff, 0, 0, 0, 1}, 3, t0.Add(20*time.Second), fdb.LearnNew)
	learn(t, tab, 0, fdb.MAC{0xfe, 0, 0, 0, 0, 1}, 1, t0.Add(30*time.Second), fdb.LearnNew)
	if err := tab.AddStatic(10, fdb.MAC{0x02, 0, 0, 0, 0, 9}, 4); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(65 * time.Second) // the VLAN 20 entry has aged out
	want := []fdb.Entry{
		{VLAN: 0, MAC: fdb.MAC{0xfe, 0, 0, 0, 0, 1}, Port: 1, Age: 35 * time.Second},
		{VLAN: 10, MAC: fdb.MAC{0x02, 0, 0, 0, 0, 9}, Port: 4, Static: true},
		{VLAN: 10, MAC: fdb.MAC{0x02, 0xff, 0, 0, 0, 1}, Port: 3, Age: 45 * time.Second},
		{VLAN: 10, MAC: fdb.MAC{0x0a, 0, 0, 0, 0, 1}, Port: 2, Age: 55 * time.Second},
	}
	got := tab.Entries(now)
	if len(got) != len(want) {
		t.Fatalf("Entries = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Entries[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	// A snapshot taken at a time before an entry's last refresh reports age 0,
	// not a negative age.
	if e := tab.Entries(t0)[0]; e.Age != 0 {
		t.Errorf("Entries(t0)[0].Age = %v, want 0", e.Age)
	}
}

func TestLearnResultString(t *testing.T) {
	want := map[fdb.LearnResult]string{
		fdb.LearnRefreshed:   "refreshed",
		fdb.LearnNew:         "new",
		fdb.LearnMoved:       "moved",
		fdb.LearnPortLimit:   "port-limit",
		fdb.LearnStatic:      "static",
		fdb.LearnIgnored:     "ignored",
		fdb.LearnResult(200): "LearnResult(200)",
	}
	for r, s := range want {
		if got := r.String(); got != s {
			t.Errorf("LearnResult(%d).String() = %q, want %q", uint8(r), got, s)
		}
	}
}

// TestConcurrentLearnLookupExpire runs one learner per port, each also
// looking up, while another goroutine expires and flushes ports. Under -race
// it checks the locking; afterwards the per-port counts must equal what the
// table holds.
func TestConcurrentLearnLookupExpire(t *testing.T) {
	const (
		ports  = 4
		macs   = 64 // per port, some shared between ports so they move
		rounds = 300
		limit  = 40 // below macs, so limits are hit
	)
	tab := newTable(t, fdb.Config{AgingTime: 5 * time.Millisecond, PortLimit: limit, FlapWindow: 3 * time.Millisecond})
	gw := hostMAC(1 << 20)
	if err := tab.AddStatic(0, gw, 0); err != nil {
		t.Fatal(err)
	}
	var clock atomic.Int64 // nanoseconds since t0, advanced by the learners
	now := func() time.Time { return t0.Add(time.Duration(clock.Load())) }

	var learners, control sync.WaitGroup
	stop := make(chan struct{})
	for p := range ports {
		learners.Add(1)
		go func() {
			defer learners.Done()
			port := fdb.PortID(p)
			for range rounds {
				for i := range macs {
					// Half the MACs are this port's own, half shared by all
					// ports (those move and flap).
					m := hostMAC(p*macs + i)
					if i%2 == 0 {
						m = hostMAC(i)
					}
					vlan := uint16(i % 3)
					if res := tab.Learn(vlan, m, port, now()); res == fdb.LearnIgnored {
						t.Errorf("Learn(%v) = %v", m, res)
						return
					}
					if port, ok := tab.Lookup(vlan, m, now()); ok && int(port) >= ports {
						t.Errorf("Lookup(%v) = port %d, which no learner used", m, port)
						return
					}
				}
				tab.Learn(0, gw, port, now())
				clock.Add(int64(time.Millisecond))
			}
		}()
	}
	control.Add(1)
	go func() {
		defer control.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			tab.Expire(now())
			if i%8 == 0 {
				tab.FlushPort(fdb.PortID(i / 8 % ports))
			}
			_ = tab.Entries(now())
			_ = tab.Stats()
			for p := range ports {
				if n := tab.PortLearned(fdb.PortID(p)); n > limit {
					t.Errorf("PortLearned(%d) = %d, over the limit %d", p, n, limit)
				}
			}
		}
	}()
	learners.Wait()
	close(stop)
	control.Wait()

	end := now()
	tab.Expire(end) // so that Entries(end) holds everything stored
	count := make(map[fdb.PortID]int)
	statics := 0
	for _, e := range tab.Entries(end) {
		if e.Static {
			statics++
			if e.Port != 0 {
				t.Errorf("static entry moved to port %d", e.Port)
			}
			continue
		}
		count[e.Port]++
	}
	for p := range fdb.PortID(ports) {
		if got := tab.PortLearned(p); got != count[p] || got > limit {
			t.Errorf("PortLearned(%d) = %d, table holds %d (limit %d)", p, got, count[p], limit)
		}
	}
	st := tab.Stats()
	if statics != 1 || st.Entries != len(tab.Entries(end)) {
		t.Errorf("statics = %d, Stats = %+v", statics, st)
	}
	if st.StaticConflicts != uint64((ports-1)*rounds) {
		t.Errorf("StaticConflicts = %d, want %d", st.StaticConflicts, (ports-1)*rounds)
	}
	if st.Moves == 0 || st.PortLimit == 0 || st.Expired == 0 {
		t.Errorf("Stats = %+v: the test did not exercise moves, limits and aging", st)
	}
}

// The per-frame path: a refresh of a known source and a lookup of a known
// destination allocate nothing, and neither does refusing a source on a full
// port or one that conflicts with a static entry (a host flooding random
// source MACs exercises those on every frame).
func TestFastPathAllocs(t *testing.T) {
	tab := newTable(t, fdb.Config{PortLimit: 1})
	known, other, gw := hostMAC(1), hostMAC(2), hostMAC(3)
	tab.Learn(7, known, 1, t0)
	if err := tab.AddStatic(7, gw, 2); err != nil {
		t.Fatal(err)
	}
	now := t0
	tests := []struct {
		name string
		f    func()
	}{
		{"Learn refresh", func() {
			now = now.Add(time.Millisecond)
			if r := tab.Learn(7, known, 1, now); r != fdb.LearnRefreshed {
				t.Fatalf("Learn = %v", r)
			}
		}},
		{"Lookup hit", func() {
			if _, ok := tab.Lookup(7, known, now); !ok {
				t.Fatal("Lookup missed")
			}
		}},
		{"Lookup miss", func() {
			if _, ok := tab.Lookup(7, other, now); ok {
				t.Fatal("Lookup hit")
			}
		}},
		{"Learn at port limit", func() {
			if r := tab.Learn(7, other, 1, now); r != fdb.LearnPortLimit {
				t.Fatalf("Learn = %v", r)
			}
		}},
		{"Learn static conflict", func() {
			if r := tab.Learn(7, gw, 1, now); r != fdb.LearnStatic {
				t.Fatalf("Learn = %v", r)
			}
		}},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(1000, tt.f); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", tt.name, n)
		}
	}
}

// benchTable holds n learned entries spread over 8 ports and VLANs 0-3, a
// table the size a small switch carries.
func benchTable(b *testing.B, n int) (*fdb.MACTable, []fdb.MAC) {
	tab := newTable(b, fdb.Config{})
	macs := make([]fdb.MAC, n)
	for i := range macs {
		macs[i] = hostMAC(i)
		if r := tab.Learn(uint16(i%4), macs[i], fdb.PortID(i%8), t0); r != fdb.LearnNew {
			b.Fatalf("Learn = %v", r)
		}
	}
	return tab, macs
}

func BenchmarkLearnRefresh(b *testing.B) {
	tab, macs := benchTable(b, 4096)
	now := t0.Add(time.Second)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		j := i % len(macs)
		tab.Learn(uint16(j%4), macs[j], fdb.PortID(j%8), now)
		i++
	}
}

func BenchmarkLearnRefreshParallel(b *testing.B) {
	tab, macs := benchTable(b, 4096)
	now := t0.Add(time.Second)
	var worker atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		// Each goroutine is one RX port refreshing its own hosts, as in
		// the switch.
		port := int(worker.Add(1)-1) % 8
		i := port
		for pb.Next() {
			tab.Learn(uint16(i%4), macs[i], fdb.PortID(port), now)
			i = (i + 8) % len(macs)
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	tab, macs := benchTable(b, 4096)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		j := i % len(macs)
		tab.Lookup(uint16(j%4), macs[j], t0)
		i++
	}
}

func BenchmarkLookupParallel(b *testing.B) {
	tab, macs := benchTable(b, 4096)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			j := i % len(macs)
			tab.Lookup(uint16(j%4), macs[j], t0)
			i += 7
		}
	})
}

// TestChangedHook: the SetChanged hook is called after every change that can
// alter what Lookup answers for a MAC it found before, and not for a new
// entry or a refresh, so that a flood of new sources costs a flow cache
// nothing.
func TestChangedHook(t *testing.T) {
	var calls int
	tab := newTable(t, fdb.Config{AgingTime: 10 * time.Second, PortLimit: 2})
	tab.SetChanged(func() { calls++ })
	step := func(name string, want int, do func()) {
		t.Helper()
		before := calls
		do()
		if got := calls - before; got != want {
			t.Errorf("%s: Changed called %d times, want %d", name, got, want)
		}
	}
	a, b, c := hostMAC(1), hostMAC(2), hostMAC(3)
	step("new entry", 0, func() { learn(t, tab, 0, a, 1, t0, fdb.LearnNew) })
	step("refresh", 0, func() { learn(t, tab, 0, a, 1, t0.Add(time.Second), fdb.LearnRefreshed) })
	step("move", 1, func() { learn(t, tab, 0, a, 2, t0.Add(2*time.Second), fdb.LearnMoved) })
	learn(t, tab, 0, b, 3, t0, fdb.LearnNew)
	learn(t, tab, 0, c, 3, t0, fdb.LearnNew)
	step("port-limit eviction", 1, func() { learn(t, tab, 0, a, 3, t0.Add(3*time.Second), fdb.LearnPortLimit) })
	step("static added", 1, func() { tab.AddStatic(0, a, 4) })
	step("static removed", 1, func() { tab.RemoveStatic(0, a) })
	step("no static to remove", 0, func() { tab.RemoveStatic(0, a) })
	step("flush of an empty port", 0, func() { tab.FlushPort(7) })
	learn(t, tab, 0, a, 5, t0.Add(3*time.Second), fdb.LearnNew)
	step("flush", 1, func() { tab.FlushPort(3) })
	step("expire of nothing aged", 0, func() { tab.Expire(t0.Add(4 * time.Second)) })
	learn(t, tab, 0, b, 6, t0.Add(4*time.Second), fdb.LearnNew)
	step("aged entry learned afresh on another port", 1, func() { learn(t, tab, 0, b, 5, t0.Add(20*time.Second), fdb.LearnNew) })
	step("expire", 1, func() { tab.Expire(t0.Add(20 * time.Second)) })
}

// TestRefresh: Refresh keeps a learned entry on its port alive, and never
// creates, moves, revives or touches a static entry.
func TestRefresh(t *testing.T) {
	tab := newTable(t, fdb.Config{AgingTime: 10 * time.Second})
	a := hostMAC(1)
	if tab.Refresh(0, a, 1, t0) {
		t.Error("Refresh created an entry")
	}
	learn(t, tab, 0, a, 1, t0, fdb.LearnNew)
	if tab.Refresh(0, a, 2, t0.Add(5*time.Second)) {
		t.Error("Refresh on another port refreshed")
	}
	if !tab.Refresh(0, a, 1, t0.Add(8*time.Second)) {
		t.Error("Refresh on the entry's port did not refresh")
	}
	tab.Refresh(0, a, 1, t0.Add(4*time.Second)) // a late, older reading must not age it early
	wantLookup(t, tab, 0, a, t0.Add(17*time.Second), 1, true)
	wantLookup(t, tab, 0, a, t0.Add(18*time.Second), 1, false)
	if tab.Refresh(0, a, 1, t0.Add(19*time.Second)) {
		t.Error("Refresh revived an aged entry")
	}
	tab.AddStatic(0, a, 1)
	if tab.Refresh(0, a, 1, t0.Add(19*time.Second)) {
		t.Error("Refresh refreshed a static entry")
	}
}
