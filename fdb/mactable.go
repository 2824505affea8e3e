package fdb

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// PortID identifies a switch port. The switch assigns dense small integers
// (0..n-1); the MAC table keeps per-port state in a slice indexed by PortID.
type PortID uint16

// Defaults for the zero fields of Config.
const (
	// DefaultAgingTime is the ageing time IEEE 802.1Q s8.8.3 recommends for
	// dynamic filtering entries (range 10 s to 1,000,000 s), which the Linux
	// bridge uses too.
	DefaultAgingTime = 300 * time.Second
	// DefaultPortLimit bounds the learned entries of one port, so that a host
	// sending from random source MACs fills its own share of the table and
	// nobody else's.
	DefaultPortLimit = 1024
	// DefaultFlapWindow is how soon a move back to the previous port must
	// follow a move to count as a flap (a loop or a duplicated MAC rather
	// than a host that was re-plugged).
	DefaultFlapWindow = 10 * time.Second
)

// Config sets the behaviour of a MACTable. The zero value selects the defaults.
type Config struct {
	// AgingTime is how long a learned entry lives without being seen as a
	// source. 0 selects DefaultAgingTime; negative is an error.
	AgingTime time.Duration
	// PortLimit is the most learned (not static) entries one port may hold,
	// over all VLANs. 0 selects DefaultPortLimit; negative is an error.
	PortLimit int
	// FlapWindow: a move back to the port an entry just left, within this
	// time of leaving it, counts as a flap. 0 selects DefaultFlapWindow;
	// negative is an error.
	FlapWindow time.Duration
}

// LearnResult is what Learn did with a source address.
type LearnResult uint8

const (
	// LearnRefreshed: the entry was already on this port; its last-seen time
	// was refreshed.
	LearnRefreshed LearnResult = iota
	// LearnNew: a new entry was created (or an aged-out entry that Expire had
	// not removed yet was learned afresh).
	LearnNew
	// LearnMoved: the MAC was on another port and moved here. Stats.Moves
	// counts it, and Stats.Flaps as well if it moved back within FlapWindow.
	LearnMoved
	// LearnPortLimit: the port holds PortLimit learned entries, so the MAC was
	// not learned. If it was on another port, that entry was removed: frames
	// to it flood (and reach it) instead of going to the port it left.
	LearnPortLimit
	// LearnStatic: a static entry owns this MAC in this VLAN, on this port or
	// another; nothing changed. A different port counts in
	// Stats.StaticConflicts.
	LearnStatic
	// LearnIgnored: the source is a group address or all-zero, which no
	// station may send from; it is never learned.
	LearnIgnored
)

var learnResultNames = [...]string{
	LearnRefreshed: "refreshed",
	LearnNew:       "new",
	LearnMoved:     "moved",
	LearnPortLimit: "port-limit",
	LearnStatic:    "static",
	LearnIgnored:   "ignored",
}

// String returns a stable lowercase name for r, for logs and counters.
func (r LearnResult) String() string {
	if int(r) < len(learnResultNames) {
		return learnResultNames[r]
	}
	return fmt.Sprintf("LearnResult(%d)", uint8(r))
}

// Entry is one row of a MACTable snapshot.
type Entry struct {
	VLAN   uint16
	MAC    MAC
	Port   PortID
	Static bool
	// Age is the time since the MAC was last seen as a source; 0 for static
	// entries.
	Age time.Duration
}

// Stats are the MACTable's counters. Each field is read atomically, but the
// fields are not one consistent snapshot under concurrent learning.
type Stats struct {
	// Entries is the number of entries held now, learned and static, aged
	// ones that Expire has not removed yet included.
	Entries int
	// Learned counts entries created by Learn, ever.
	Learned uint64
	// Moves counts entries that moved from one port to another.
	Moves uint64
	// Flaps counts moves back to the previous port within FlapWindow; each is
	// also in Moves.
	Flaps uint64
	// PortLimit counts Learn calls refused because the port was at its limit.
	// The switch reports these as drop reason "fdb-port-limit".
	PortLimit uint64
	// StaticConflicts counts sources seen on a port other than the one their
	// static entry names.
	StaticConflicts uint64
	// Expired counts learned entries removed by Expire.
	Expired uint64
	// Flushed counts learned entries removed by FlushPort.
	Flushed uint64
}

// MACTable is the unicast forwarding table: (VLAN, MAC) -> port.
//
// Learning is per VLAN (IEEE 802.1Q independent VLAN learning): the same MAC
// in two VLANs is two entries, which may be on different ports.
//
// Memory is bounded: a port holds at most PortLimit learned entries, so with n
// ports the table holds at most n*PortLimit learned entries plus the static
// entries the configuration adds. Entries that aged out still count against
// their port until Expire removes them, so the switch calls Expire
// periodically (every second or so) to give their room back.
//
// All methods are safe for concurrent use. Learn and Lookup are the per-frame
// path, called by one goroutine per RX port at once: when the entry exists
// they take only the read lock and allocate nothing. Only a change of the
// table (new entry, move, removal) takes the write lock.
type MACTable struct {
	aging      int64  // nanoseconds, > 0
	limit      int    // > 0
	flapWindow int64  // nanoseconds, > 0
	changed    func() // SetChanged's hook; never nil

	// mu guards entries, learned, epoch and epochSet, and every field of an
	// entry except lastSeen, which refreshLocked stores under the read lock.
	mu      sync.RWMutex
	entries map[uint64]*entry // by macKey(vlan, mac)
	// learned[p] is the number of learned entries on port p. It changes only
	// under the write lock, so it is exact however many goroutines learn.
	learned []int
	// epoch is the now of the first entry ever learned. Times are stored as
	// nanoseconds since epoch, computed with time.Time.Sub: when the switch
	// passes time.Now values, Sub uses their monotonic readings, and a step
	// of the wall clock (NTP at boot) neither ages out the whole table nor
	// keeps stale entries alive for the length of the step.
	epoch    time.Time
	epochSet bool

	learnedTotal    atomic.Uint64
	moves           atomic.Uint64
	flaps           atomic.Uint64
	portLimit       atomic.Uint64
	staticConflicts atomic.Uint64
	expired         atomic.Uint64
	flushed         atomic.Uint64
}

// entry is one (VLAN, MAC). The table holds pointers so that a refresh under
// the read lock can store lastSeen in place.
type entry struct {
	// lastSeen is when the MAC was last seen as a source, in nanoseconds
	// since MACTable.epoch. It only moves forward (see refreshLocked). Unused for
	// static entries.
	lastSeen atomic.Int64

	port   PortID
	static bool

	// prevPort is the port the entry last moved away from, valid iff moved;
	// movedAt is when, in nanoseconds since epoch. Together they tell a flap
	// from a move.
	moved    bool
	prevPort PortID
	movedAt  int64
}

// NewMACTable returns an empty table configured by cfg.
func NewMACTable(cfg Config) (*MACTable, error) {
	if cfg.AgingTime < 0 {
		return nil, fmt.Errorf("fdb: AgingTime %v must be positive (0 selects the default %gs)", cfg.AgingTime, DefaultAgingTime.Seconds())
	}
	if cfg.PortLimit < 0 {
		return nil, fmt.Errorf("fdb: PortLimit %d must be positive (0 selects the default %d)", cfg.PortLimit, DefaultPortLimit)
	}
	if cfg.FlapWindow < 0 {
		return nil, fmt.Errorf("fdb: FlapWindow %v must be positive (0 selects the default %gs)", cfg.FlapWindow, DefaultFlapWindow.Seconds())
	}
	t := &MACTable{
		aging:      int64(cmp.Or(cfg.AgingTime, DefaultAgingTime)),
		limit:      cmp.Or(cfg.PortLimit, DefaultPortLimit),
		flapWindow: int64(cmp.Or(cfg.FlapWindow, DefaultFlapWindow)),
		entries:    make(map[uint64]*entry),
		changed:    func() {},
	}
	return t, nil
}

// SetChanged makes the table call fn after every change that can alter
// what Lookup answers for a MAC it found before: a move, a removal (Expire,
// FlushPort, RemoveStatic, the port-limit eviction of Learn, an aged entry
// learned afresh on another port) and AddStatic. fn runs after the table's
// lock is released, before the changing call returns. A brand-new entry
// does not call it: it turns a flood into a unicast, and nothing caches a
// flood (switching.FlowCache holds decisions for known destinations only),
// so a flood of new source MACs costs no invalidation. Call SetChanged
// before the table is shared; nil removes the hook.
func (t *MACTable) SetChanged(fn func()) {
	if fn == nil {
		fn = func() {}
	}
	t.changed = fn
}

// macKey packs (vlan, mac) into one integer, which Go maps hash and compare
// faster than a struct key. VLAN IDs have 12 bits, but all 16 are kept so that
// distinct arguments never share a key.
func macKey(vlan uint16, mac MAC) uint64 {
	return uint64(vlan)<<48 |
		uint64(mac[0])<<40 | uint64(mac[1])<<32 | uint64(mac[2])<<24 |
		uint64(mac[3])<<16 | uint64(mac[4])<<8 | uint64(mac[5])
}

// splitKey is the inverse of macKey.
func splitKey(k uint64) (vlan uint16, mac MAC) {
	return uint16(k >> 48), MAC{byte(k >> 40), byte(k >> 32), byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)}
}

// sinceEpochLocked converts now to the table's time base. Caller holds mu
// (read or write). Before the first entry is learned the result is
// meaningless, and no learned entry exists to compare it with.
func (t *MACTable) sinceEpochLocked(now time.Time) int64 {
	return int64(now.Sub(t.epoch))
}

// learnedLocked returns the number of learned entries on port. Caller holds
// mu (read or write).
func (t *MACTable) learnedLocked(port PortID) int {
	if int(port) < len(t.learned) {
		return t.learned[port]
	}
	return 0
}

// addLearnedLocked adds d to port's learned count. Caller holds mu for
// writing.
func (t *MACTable) addLearnedLocked(port PortID, d int) {
	if int(port) >= len(t.learned) {
		t.learned = slices.Grow(t.learned, int(port)+1-len(t.learned))[:int(port)+1]
	}
	t.learned[port] += d
}

// aged reports whether an entry last seen at seen is past the ageing time at
// now (both since epoch). IEEE 802.1Q s8.8.3: a dynamic filtering entry is
// removed once the ageing time has passed since it was created or last
// updated; so it is valid while now - seen < AgingTime.
func (t *MACTable) aged(seen, now int64) bool {
	return now-seen >= t.aging
}

// refreshLocked records that e was seen at now, unless e has aged out, which a
// refresh must not revive: Lookup already treats it as absent, so seeing the
// MAC again is a new learning (counted as such) and takes the write lock.
// Caller holds mu (read or write). Goroutines on several RX ports may refresh
// one entry with slightly different clocks; the stored time only moves
// forward, so a late store of an older now cannot age an entry early.
func (t *MACTable) refreshLocked(e *entry, now int64) bool {
	seen := e.lastSeen.Load()
	for {
		if t.aged(seen, now) {
			return false
		}
		if now <= seen || e.lastSeen.CompareAndSwap(seen, now) {
			return true
		}
		seen = e.lastSeen.Load()
	}
}

// Learn records that mac, in vlan, was seen as a source on port at now.
//
// Refreshing an entry that is already on port takes only the read lock and
// allocates nothing; so does refusing a new MAC on a port at its limit, so
// that a host flooding random source MACs does not serialise every RX
// goroutine on the write lock.
func (t *MACTable) Learn(vlan uint16, mac MAC, port PortID, now time.Time) LearnResult {
	if mac.IsMulticast() || mac.IsZero() {
		return LearnIgnored
	}
	k := macKey(vlan, mac)

	t.mu.RLock()
	e := t.entries[k]
	switch {
	case e == nil:
		if t.learnedLocked(port) >= t.limit {
			t.mu.RUnlock()
			t.portLimit.Add(1)
			return LearnPortLimit
		}
	case e.static:
		p := e.port
		t.mu.RUnlock()
		if p != port {
			t.staticConflicts.Add(1)
		}
		return LearnStatic
	case e.port == port:
		if t.refreshLocked(e, t.sinceEpochLocked(now)) {
			t.mu.RUnlock()
			return LearnRefreshed
		}
	}
	t.mu.RUnlock()

	t.mu.Lock()
	r, changed := t.learnLocked(k, port, now)
	t.mu.Unlock()
	if changed {
		t.changed()
	}
	return r
}

// learnLocked is the part of Learn that changes the table; changed reports
// a change SetChanged's hook is for. Caller holds mu for writing. The
// read-locked look in Learn is stale by now, so every case is decided
// again.
func (t *MACTable) learnLocked(k uint64, port PortID, now time.Time) (r LearnResult, changed bool) {
	if !t.epochSet {
		t.epoch, t.epochSet = now, true
	}
	ns := t.sinceEpochLocked(now)

	e := t.entries[k]
	switch {
	case e == nil:
		if t.learnedLocked(port) >= t.limit {
			t.portLimit.Add(1)
			return LearnPortLimit, false
		}
		t.insertLocked(k, port, ns)
		return LearnNew, false
	case e.static:
		if e.port != port {
			t.staticConflicts.Add(1)
		}
		return LearnStatic, false
	case e.port == port:
		if t.refreshLocked(e, ns) {
			return LearnRefreshed, false
		}
		// Aged out, not yet expired: learn it afresh, forgetting its moves.
		t.entries[k] = t.newEntry(port, ns)
		t.learnedTotal.Add(1)
		return LearnNew, false
	}

	// The MAC is on another port.
	if t.learnedLocked(port) >= t.limit {
		// Keeping the old entry would send the MAC's frames to a port it has
		// left; without one they flood and reach it here.
		delete(t.entries, k)
		t.addLearnedLocked(e.port, -1)
		t.portLimit.Add(1)
		return LearnPortLimit, true
	}
	if t.aged(e.lastSeen.Load(), ns) {
		// An aged entry is absent (see Lookup): this is a new learning on
		// port, not a move from the port the MAC was seen on long ago.
		delete(t.entries, k)
		t.addLearnedLocked(e.port, -1)
		t.insertLocked(k, port, ns)
		return LearnNew, true
	}
	if e.moved && e.prevPort == port && ns-e.movedAt < t.flapWindow {
		t.flaps.Add(1)
	}
	t.moves.Add(1)
	t.addLearnedLocked(e.port, -1)
	t.addLearnedLocked(port, 1)
	e.moved, e.prevPort, e.movedAt = true, e.port, ns
	e.port = port
	e.lastSeen.Store(max(e.lastSeen.Load(), ns))
	return LearnMoved, true
}

// insertLocked adds a learned entry for k on port, seen at ns. Caller holds
// mu for writing and has checked the port's limit.
func (t *MACTable) insertLocked(k uint64, port PortID, ns int64) {
	t.entries[k] = t.newEntry(port, ns)
	t.addLearnedLocked(port, 1)
	t.learnedTotal.Add(1)
}

func (t *MACTable) newEntry(port PortID, ns int64) *entry {
	e := &entry{port: port}
	e.lastSeen.Store(ns)
	return e
}

// Lookup returns the port that mac, in vlan, was learned on or statically
// assigned to. A learned entry older than the ageing time is absent even
// before Expire removes it, so a switch whose Expire runs late still floods
// to a MAC that went silent instead of sending to where it used to be.
// Lookup takes only the read lock and allocates nothing.
func (t *MACTable) Lookup(vlan uint16, mac MAC, now time.Time) (PortID, bool) {
	k := macKey(vlan, mac)
	t.mu.RLock()
	defer t.mu.RUnlock()
	e := t.entries[k]
	if e == nil {
		return 0, false
	}
	if !e.static && t.aged(e.lastSeen.Load(), t.sinceEpochLocked(now)) {
		return 0, false
	}
	return e.port, true
}

// AgingTime is the table's ageing time (Config.AgingTime or its default).
func (t *MACTable) AgingTime() time.Duration { return time.Duration(t.aging) }

// Refresh records that mac, in vlan, was seen as a source on port at at,
// as Learn does for a frame, but only for a learned entry that is on port
// and has not aged out by at; it reports whether it refreshed one. It never
// creates, moves or revives an entry. The engine calls it for the flows the
// kernel forwards (switching.FlowCache): the engine sees none of their
// frames, and their sources must not age out while they send. Read lock
// only; allocation-free.
func (t *MACTable) Refresh(vlan uint16, mac MAC, port PortID, at time.Time) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e := t.entries[macKey(vlan, mac)]
	return e != nil && !e.static && e.port == port && t.refreshLocked(e, t.sinceEpochLocked(at))
}

// AddStatic makes mac, in vlan, a static entry on port: it never ages, never
// moves, and survives FlushPort. It replaces a learned entry for the same
// (VLAN, MAC) and the port of an existing static entry. Group and all-zero
// MACs are errors: they are never a source, so a unicast entry for them could
// never be right (multicast forwarding is by IP group, not by MAC).
func (t *MACTable) AddStatic(vlan uint16, mac MAC, port PortID) error {
	switch {
	case mac.IsMulticast():
		return fmt.Errorf("fdb: static entry %v: a group MAC cannot be a unicast forwarding entry (use a unicast MAC)", mac)
	case mac.IsZero():
		return fmt.Errorf("fdb: static entry %v: the all-zero MAC cannot be a forwarding entry", mac)
	case vlan > 0x0fff:
		return fmt.Errorf("fdb: static entry %v: VLAN %d is out of range (a VLAN ID has 12 bits: 0..4095)", mac, vlan)
	}
	k := macKey(vlan, mac)
	t.mu.Lock()
	if e := t.entries[k]; e != nil && !e.static {
		t.addLearnedLocked(e.port, -1)
	}
	t.entries[k] = &entry{port: port, static: true}
	t.mu.Unlock()
	t.changed()
	return nil
}

// RemoveStatic removes the static entry for mac in vlan and reports whether
// there was one. A learned entry for the MAC is left alone.
func (t *MACTable) RemoveStatic(vlan uint16, mac MAC) bool {
	k := macKey(vlan, mac)
	t.mu.Lock()
	e := t.entries[k]
	removed := e != nil && e.static
	if removed {
		delete(t.entries, k)
	}
	t.mu.Unlock()
	if removed {
		t.changed()
	}
	return removed
}

// Expire removes the learned entries that have aged out at now and returns
// how many it removed.
func (t *MACTable) Expire(now time.Time) int {
	n := t.expire(now)
	if n > 0 {
		t.changed()
	}
	return n
}

func (t *MACTable) expire(now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	ns := t.sinceEpochLocked(now)
	n := 0
	for k, e := range t.entries {
		if !e.static && t.aged(e.lastSeen.Load(), ns) {
			delete(t.entries, k)
			t.addLearnedLocked(e.port, -1)
			n++
		}
	}
	t.expired.Add(uint64(n))
	return n
}

// FlushPort removes the learned entries on port, as when its link goes down:
// the hosts behind it may come back on another port, and until they send,
// frames to them should flood rather than go to a dead port. Static entries
// stay. It returns how many entries it removed.
func (t *MACTable) FlushPort(port PortID) int {
	n := t.flushPort(port)
	if n > 0 {
		t.changed()
	}
	return n
}

func (t *MACTable) flushPort(port PortID) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.learnedLocked(port) == 0 {
		return 0
	}
	n := 0
	for k, e := range t.entries {
		if !e.static && e.port == port {
			delete(t.entries, k)
			n++
		}
	}
	t.addLearnedLocked(port, -n)
	t.flushed.Add(uint64(n))
	return n
}

// PortLearned returns the number of learned entries on port, the count
// PortLimit bounds. Aged entries count until Expire removes them.
func (t *MACTable) PortLearned(port PortID) int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.learnedLocked(port)
}

// Entries returns a snapshot of the table sorted by VLAN, then MAC. Learned
// entries that have aged out at now are left out, as Lookup ignores them.
func (t *MACTable) Entries(now time.Time) []Entry {
	type keyed struct {
		k uint64
		e Entry
	}
	t.mu.RLock()
	ns := t.sinceEpochLocked(now)
	rows := make([]keyed, 0, len(t.entries))
	for k, e := range t.entries {
		row := keyed{k: k, e: Entry{Port: e.port, Static: e.static}}
		if !e.static {
			seen := e.lastSeen.Load()
			if t.aged(seen, ns) {
				continue
			}
			// A refresh by a goroutine whose now is ahead of ours can make
			// seen later than now; the entry is then brand new, not
			// negatively old.
			row.e.Age = time.Duration(max(ns-seen, 0))
		}
		rows = append(rows, row)
	}
	t.mu.RUnlock()

	// macKey puts the VLAN above the MAC bytes in big-endian order, so key
	// order is (VLAN, MAC) order.
	slices.SortFunc(rows, func(a, b keyed) int { return cmp.Compare(a.k, b.k) })
	out := make([]Entry, len(rows))
	for i, r := range rows {
		r.e.VLAN, r.e.MAC = splitKey(r.k)
		out[i] = r.e
	}
	return out
}

// Stats returns the table's counters.
func (t *MACTable) Stats() Stats {
	t.mu.RLock()
	n := len(t.entries)
	t.mu.RUnlock()
	return Stats{
		Entries:         n,
		Learned:         t.learnedTotal.Load(),
		Moves:           t.moves.Load(),
		Flaps:           t.flaps.Load(),
		PortLimit:       t.portLimit.Load(),
		StaticConflicts: t.staticConflicts.Load(),
		Expired:         t.expired.Load(),
		Flushed:         t.flushed.Load(),
	}
}
