package guard

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// EventLog logs guard events through a *slog.Logger, at most Burst events per
// (reason, port) per Interval, so that an attack cannot fill the disk. Events
// beyond that are counted; the first event after the window closes (or Flush)
// logs "guard: events suppressed" with their number first.
//
// State is a fixed array of one slot per (port, reason), each with its own
// mutex: memory does not grow with the input, and ports do not contend.
// Time is passed in.
type EventLog struct {
	log      *slog.Logger
	burst    int
	interval time.Duration
	slots    [fdb.MaxPorts][numReasons]eventSlot
}

type eventSlot struct {
	mu sync.Mutex
	// start is when the current window opened; logged and suppressed count
	// events in it. Guarded by mu.
	start      time.Time
	logged     int
	suppressed uint64
}

// Default event log limits: 10 events per (reason, port) per minute is enough
// to see an attack begin and who sends it, and bounds a port's log lines to
// 14 reasons x 11 lines a minute.
const (
	DefaultEventBurst    = 10
	DefaultEventInterval = time.Minute
)

// NewEventLog returns an EventLog writing to l. burst <= 0 takes
// DefaultEventBurst, interval <= 0 DefaultEventInterval.
func NewEventLog(l *slog.Logger, burst int, interval time.Duration) *EventLog {
	if burst <= 0 {
		burst = DefaultEventBurst
	}
	if interval <= 0 {
		interval = DefaultEventInterval
	}
	return &EventLog{log: l, burst: burst, interval: interval}
}

// Allow reports whether an event of reason r on port at now may be logged,
// and counts it as suppressed if not. When it opens a new window for the
// (reason, port) it first logs how many events the last one suppressed.
// Callers that build costly attributes call it before building them.
func (e *EventLog) Allow(now time.Time, port fdb.PortID, r Reason) bool {
	if int(port) >= fdb.MaxPorts || r >= numReasons {
		return false
	}
	s := &e.slots[port][r]
	s.mu.Lock()
	var flushed uint64
	if s.start.IsZero() || !now.Before(s.start.Add(e.interval)) {
		flushed = s.suppressed
		s.start, s.logged, s.suppressed = now, 0, 0
	}
	ok := s.logged < e.burst
	if ok {
		s.logged++
	} else {
		s.suppressed++
	}
	s.mu.Unlock()
	if flushed > 0 {
		e.logSuppressed(port, r, flushed)
	}
	return ok
}

// Flush logs the suppressed counts of every window that has closed at now,
// and starts those slots afresh. The switch calls it from its periodic tick so
// that the count of an attack that stopped is not lost.
func (e *EventLog) Flush(now time.Time) {
	for port := range e.slots {
		for r := range e.slots[port] {
			s := &e.slots[port][r]
			s.mu.Lock()
			var flushed uint64
			if s.suppressed > 0 && !now.Before(s.start.Add(e.interval)) {
				flushed = s.suppressed
				s.start, s.logged, s.suppressed = time.Time{}, 0, 0
			}
			s.mu.Unlock()
			if flushed > 0 {
				e.logSuppressed(fdb.PortID(port), Reason(r), flushed)
			}
		}
	}
}

func (e *EventLog) logSuppressed(port fdb.PortID, r Reason, n uint64) {
	e.log.LogAttrs(context.Background(), slog.LevelWarn, "guard: events suppressed",
		slog.String("reason", r.String()), slog.Int("port", int(port)),
		slog.Uint64("suppressed", n))
}

// Drop logs a dropped packet: msg with the reason, the port and attrs, at
// Warn level, if the rate limit allows.
func (e *EventLog) Drop(now time.Time, port fdb.PortID, r Reason, msg string, attrs ...slog.Attr) {
	if !e.Allow(now, port, r) {
		return
	}
	all := make([]slog.Attr, 0, len(attrs)+2)
	all = append(all, slog.String("reason", r.String()), slog.Int("port", int(port)))
	all = append(all, attrs...)
	e.log.LogAttrs(context.Background(), slog.LevelWarn, msg, all...)
}

// RogueQuerier logs a query dropped by router guard or querier guard (r) on
// port, from the station with Ethernet address mac and IP address addr, in
// vlan, if the rate limit allows.
func (e *EventLog) RogueQuerier(now time.Time, port fdb.PortID, r Reason, vlan uint16, mac fdb.MAC, addr netip.Addr) {
	if !e.Allow(now, port, r) {
		return
	}
	e.log.LogAttrs(context.Background(), slog.LevelWarn, "guard: rogue querier",
		slog.String("reason", r.String()), slog.Int("port", int(port)),
		slog.Int("vlan", int(vlan)), slog.String("mac", mac.String()),
		slog.String("address", addr.String()))
}
