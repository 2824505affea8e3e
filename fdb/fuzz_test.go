package fdb_test

import (
	"cmp"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// FuzzMACTable reads its input as a sequence of two-byte operations and runs
// them against a MACTable and against refModel, a plain reimplementation of
// the rules with no locks, no packed keys and no time base. After every
// operation the two must agree on every lookup, every per-port count, the
// snapshot and the counters, and no port may exceed its limit.
//
// Operation byte (mod 8): 0-2 Learn, 3 advance the clock by arg*50ms, 4 Expire,
// 5 FlushPort, 6 AddStatic, 7 RemoveStatic. Argument byte: bits 0-3 pick the
// MAC (14 unicast, then one multicast, then all-zero), bits 4-5 the port,
// bit 6 the VLAN.
func FuzzMACTable(f *testing.F) {
	seq := func(ops ...[2]byte) []byte {
		var b []byte
		for _, op := range ops {
			b = append(b, op[0], op[1])
		}
		return b
	}
	arg := func(vlan, mac, port byte) byte { return mac | port<<4 | vlan<<6 }
	learn := func(vlan, mac, port byte) [2]byte { return [2]byte{0, arg(vlan, mac, port)} }
	advance := func(units byte) [2]byte { return [2]byte{3, units} } // units of 50ms
	expire := [2]byte{4, 0}
	flush := func(port byte) [2]byte { return [2]byte{5, arg(0, 0, port)} }
	addStatic := func(vlan, mac, port byte) [2]byte { return [2]byte{6, arg(vlan, mac, port)} }
	removeStatic := func(vlan, mac byte) [2]byte { return [2]byte{7, arg(vlan, mac, 0)} }
	const agingUnits = 200 // fuzzAging / 50ms
	const flapUnits = 60   // fuzzFlapWindow / 50ms

	// Nothing at all.
	f.Add([]byte{})
	// A trailing odd byte is ignored.
	f.Add([]byte{0})
	// Learn, then refresh on the same port.
	f.Add(seq(learn(0, 1, 0), advance(10), learn(0, 1, 0)))
	// The same MAC in both VLANs on different ports: two entries, no move.
	f.Add(seq(learn(0, 1, 0), learn(1, 1, 2)))
	// Exactly at the ageing time the entry is absent; seen again it is new.
	f.Add(seq(learn(0, 1, 0), advance(agingUnits), learn(0, 1, 0)))
	// One tick before the ageing time it is still there and refreshes.
	f.Add(seq(learn(0, 1, 0), advance(agingUnits-1), learn(0, 1, 0), advance(agingUnits-1)))
	// Expire counts only aged entries.
	f.Add(seq(learn(0, 1, 0), advance(100), learn(0, 2, 1), advance(100), expire))
	// Fill port 0 (limit 3) and overflow it; another port still learns.
	f.Add(seq(learn(0, 1, 0), learn(0, 2, 0), learn(1, 3, 0), learn(0, 4, 0), learn(0, 4, 1)))
	// A full port learns again once Expire frees room.
	f.Add(seq(learn(0, 1, 0), learn(0, 2, 0), learn(0, 3, 0), advance(agingUnits), learn(0, 4, 0), expire, learn(0, 4, 0)))
	// A->B is a move, B->A inside the flap window a flap.
	f.Add(seq(learn(0, 1, 0), advance(1), learn(0, 1, 1), advance(flapUnits-1), learn(0, 1, 0)))
	// B->A exactly at the flap window is a move, not a flap.
	f.Add(seq(learn(0, 1, 0), advance(1), learn(0, 1, 1), advance(flapUnits), learn(0, 1, 0)))
	// A move onto a full port removes the stale entry on the old one.
	f.Add(seq(learn(0, 1, 0), learn(0, 2, 1), learn(0, 3, 1), learn(0, 4, 1), learn(0, 1, 1)))
	// An aged entry seen on another port is new, not a move.
	f.Add(seq(learn(0, 1, 0), advance(agingUnits), learn(0, 1, 1)))
	// A static entry replaces a learned one, conflicts, and survives a flush.
	f.Add(seq(learn(0, 1, 0), addStatic(0, 1, 1), learn(0, 1, 0), flush(1), advance(255), expire))
	// A static entry removed lets the MAC learn again.
	f.Add(seq(addStatic(1, 5, 2), learn(1, 5, 3), removeStatic(1, 5), learn(1, 5, 3), removeStatic(1, 5)))
	// Multicast and all-zero sources are ignored; static entries for them fail.
	f.Add(seq(learn(0, 14, 0), learn(0, 15, 0), addStatic(0, 14, 0), addStatic(0, 15, 0)))
	// FlushPort empties a port and frees its room.
	f.Add(seq(learn(0, 1, 2), learn(0, 2, 2), learn(0, 3, 2), flush(2), learn(0, 4, 2)))

	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := fdb.Config{AgingTime: fuzzAging, PortLimit: fuzzLimit, FlapWindow: fuzzFlapWindow}
		tab := newTable(t, cfg)
		ref := newRefModel(cfg)
		var clock time.Duration
		for i := 0; i+1 < len(data); i += 2 {
			op, a := data[i]%8, data[i+1]
			vlan := uint16(a >> 6 & 1)
			mac := fuzzMACs[a&0x0f]
			port := fdb.PortID(a >> 4 & 3)
			now := t0.Add(clock)
			switch op {
			case 0, 1, 2:
				got, want := tab.Learn(vlan, mac, port, now), ref.learn(vlan, mac, port, clock)
				if got != want {
					t.Fatalf("op %d: Learn(vlan %d, %v, port %d, t0+%v) = %v, model says %v", i/2, vlan, mac, port, clock, got, want)
				}
			case 3:
				clock += time.Duration(a) * 50 * time.Millisecond
			case 4:
				if got, want := tab.Expire(now), ref.expire(clock); got != want {
					t.Fatalf("op %d: Expire(t0+%v) = %d, model says %d", i/2, clock, got, want)
				}
			case 5:
				if got, want := tab.FlushPort(port), ref.flushPort(port); got != want {
					t.Fatalf("op %d: FlushPort(%d) = %d, model says %d", i/2, port, got, want)
				}
			case 6:
				err := tab.AddStatic(vlan, mac, port)
				if wantErr := !ref.addStatic(vlan, mac, port); (err != nil) != wantErr {
					t.Fatalf("op %d: AddStatic(%d, %v, %d) = %v, model wants error: %v", i/2, vlan, mac, port, err, wantErr)
				}
			case 7:
				if got, want := tab.RemoveStatic(vlan, mac), ref.removeStatic(vlan, mac); got != want {
					t.Fatalf("op %d: RemoveStatic(%d, %v) = %v, model says %v", i/2, vlan, mac, got, want)
				}
			}
			ref.check(t, tab, clock)
		}
	})
}

const (
	fuzzAging      = 10 * time.Second
	fuzzLimit      = 3
	fuzzFlapWindow = 3 * time.Second
	fuzzPorts      = 4
)

// fuzzMACs: few enough that ports fill and MACs meet again on other ports.
var fuzzMACs = func() [16]fdb.MAC {
	var m [16]fdb.MAC
	for i := range 14 {
		m[i] = hostMAC(i + 1)
	}
	m[14] = fdb.MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}
	m[15] = fdb.MAC{}
	return m
}()

type refKey struct {
	vlan uint16
	mac  fdb.MAC
}

type refEntry struct {
	port    fdb.PortID
	static  bool
	seen    time.Duration // since t0
	moved   bool
	prev    fdb.PortID
	movedAt time.Duration
}

// refModel is the MAC table's rules written as directly as possible, with
// times as durations since t0. The clock never goes backwards here.
type refModel struct {
	cfg     fdb.Config
	entries map[refKey]*refEntry
	stats   fdb.Stats
}

func newRefModel(cfg fdb.Config) *refModel {
	return &refModel{cfg: cfg, entries: make(map[refKey]*refEntry)}
}

func (m *refModel) live(e *refEntry, now time.Duration) bool {
	return e.static || now-e.seen < m.cfg.AgingTime
}

func (m *refModel) learnedOn(port fdb.PortID) int {
	n := 0
	for _, e := range m.entries {
		if !e.static && e.port == port {
			n++
		}
	}
	return n
}

func (m *refModel) learn(vlan uint16, mac fdb.MAC, port fdb.PortID, now time.Duration) fdb.LearnResult {
	if mac.IsMulticast() || mac.IsZero() {
		return fdb.LearnIgnored
	}
	k := refKey{vlan, mac}
	e := m.entries[k]
	switch {
	case e != nil && e.static:
		if e.port != port {
			m.stats.StaticConflicts++
		}
		return fdb.LearnStatic
	case e != nil && e.port == port && m.live(e, now):
		e.seen = now
		return fdb.LearnRefreshed
	case e != nil && e.port == port:
		m.entries[k] = &refEntry{port: port, seen: now}
		m.stats.Learned++
		return fdb.LearnNew
	}
	if m.learnedOn(port) >= m.cfg.PortLimit {
		delete(m.entries, k)
		m.stats.PortLimit++
		return fdb.LearnPortLimit
	}
	if e == nil || !m.live(e, now) {
		m.entries[k] = &refEntry{port: port, seen: now}
		m.stats.Learned++
		return fdb.LearnNew
	}
	m.stats.Moves++
	if e.moved && e.prev == port && now-e.movedAt < m.cfg.FlapWindow {
		m.stats.Flaps++
	}
	*e = refEntry{port: port, seen: now, moved: true, prev: e.port, movedAt: now}
	return fdb.LearnMoved
}

func (m *refModel) expire(now time.Duration) int {
	n := 0
	for k, e := range m.entries {
		if !m.live(e, now) {
			delete(m.entries, k)
			n++
		}
	}
	m.stats.Expired += uint64(n)
	return n
}

func (m *refModel) flushPort(port fdb.PortID) int {
	n := 0
	for k, e := range m.entries {
		if !e.static && e.port == port {
			delete(m.entries, k)
			n++
		}
	}
	m.stats.Flushed += uint64(n)
	return n
}

// addStatic reports whether the static entry was accepted.
func (m *refModel) addStatic(vlan uint16, mac fdb.MAC, port fdb.PortID) bool {
	if mac.IsMulticast() || mac.IsZero() {
		return false
	}
	m.entries[refKey{vlan, mac}] = &refEntry{port: port, static: true}
	return true
}

func (m *refModel) removeStatic(vlan uint16, mac fdb.MAC) bool {
	k := refKey{vlan, mac}
	if e := m.entries[k]; e != nil && e.static {
		delete(m.entries, k)
		return true
	}
	return false
}

// check compares tab with the model at now, and checks the invariants that
// hold whatever the model says.
func (m *refModel) check(t *testing.T, tab *fdb.MACTable, now time.Duration) {
	t.Helper()
	at := t0.Add(now)
	for vlan := range uint16(2) {
		for _, mac := range fuzzMACs {
			port, ok := tab.Lookup(vlan, mac, at)
			e := m.entries[refKey{vlan, mac}]
			wantOK := e != nil && m.live(e, now)
			if ok != wantOK || (ok && port != e.port) {
				t.Fatalf("Lookup(%d, %v, t0+%v) = %d, %v; model has %+v", vlan, mac, now, port, ok, e)
			}
		}
	}
	total := 0
	for p := range fdb.PortID(fuzzPorts) {
		got, want := tab.PortLearned(p), m.learnedOn(p)
		if got != want || got > fuzzLimit {
			t.Fatalf("PortLearned(%d) = %d, model says %d (limit %d)", p, got, want, fuzzLimit)
		}
		total += got
	}
	m.stats.Entries = len(m.entries)
	if st := tab.Stats(); st != m.stats {
		t.Fatalf("Stats = %+v, model says %+v", st, m.stats)
	}
	if total > m.stats.Entries || m.stats.Entries > fuzzPorts*fuzzLimit+2*len(fuzzMACs) {
		t.Fatalf("%d learned, %d entries: over the memory bound", total, m.stats.Entries)
	}

	var want []fdb.Entry
	for _, k := range slices.SortedFunc(maps.Keys(m.entries), func(a, b refKey) int {
		return cmp.Or(cmp.Compare(a.vlan, b.vlan), slices.Compare(a.mac[:], b.mac[:]))
	}) {
		e := m.entries[k]
		if !m.live(e, now) {
			continue
		}
		row := fdb.Entry{VLAN: k.vlan, MAC: k.mac, Port: e.port, Static: e.static}
		if !e.static {
			row.Age = now - e.seen
		}
		want = append(want, row)
	}
	if got := tab.Entries(at); !slices.Equal(got, want) {
		t.Fatalf("Entries(t0+%v) = %+v, model says %+v", now, got, want)
	}
}
