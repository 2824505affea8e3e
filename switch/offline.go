package switching

import (
	"errors"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// Offline is an engine that its caller drives instead of Run: no
// goroutines, no wall clock. The caller hands it frames with the time each
// arrived; before each frame the control plane's periodic work runs at the
// times the live loop would have run it (every 100 ms), and the frame's
// control packets are applied before the next frame. The outcome depends
// only on the frames and their times, so two runs over the same frames
// send the same frames out of the same ports. Replay drives the engine
// over a capture this way.
//
// An Offline is used by one goroutine.
type Offline struct {
	e       *Engine
	now     time.Time
	workers []*Worker // by PortID
	plane   *controlPlane
	queries []uint64 // by PortID: frames the control plane sent

	// nextTick is when the control plane runs next; due is when the
	// snooper next has work (zero: none); applied says control packets
	// changed the snooping state since the last tick, which may have
	// brought work forward.
	nextTick time.Time
	due      time.Time
	applied  bool
	ticks    uint64
}

// NewOffline returns an engine configured by cfg, with no ports, that is
// switched on at start: its clock reads start until frames move it on.
// cfg.Clock is replaced by the Offline's own clock.
func NewOffline(cfg Config, start time.Time) (*Offline, error) {
	// The first tick always runs, as the live loop's does: it sends the
	// querier's startup queries, which start its learning window.
	o := &Offline{now: start, nextTick: start.Add(controlPlaneTick), applied: true}
	cfg.Clock = o.Now
	e, err := New(cfg)
	if err != nil {
		return nil, err
	}
	// Run must not forward the same ports from other goroutines.
	e.running = true
	o.e = e
	o.rebuild()
	return o, nil
}

// Engine returns the engine, for its counters and tables (Stats, Snooper,
// MACTable, ...). Its ports are added through AddPort, not Engine.AddPort.
func (o *Offline) Engine() *Engine { return o.e }

// Now returns the engine's current time: that of the latest frame, or,
// while the control plane runs, that of its tick.
func (o *Offline) Now() time.Time { return o.now }

// AddPort adds a port, as Engine.AddPort does, and makes every port
// forward to it from now on.
func (o *Offline) AddPort(b Backend) (fdb.PortID, error) {
	id, err := o.e.AddPort(b)
	if err != nil {
		return 0, err
	}
	o.rebuild()
	return id, nil
}

// rebuild makes a worker for every port and a control plane over them.
// Workers that are replaced keep their transmit counters (Engine.Stats
// sums every worker ever made).
func (o *Offline) rebuild() {
	e := o.e
	e.mu.Lock()
	defer e.mu.Unlock()
	o.workers = o.workers[:0]
	for _, p := range e.ports {
		o.workers = append(o.workers, e.newWorkerLocked(p))
	}
	o.plane = e.newControlPlaneLocked()
	for len(o.queries) < len(e.ports) {
		o.queries = append(o.queries, 0)
	}
	for i, s := range o.plane.senders {
		if s != nil {
			o.plane.senders[i] = &countingSender{Sender: s, frames: &o.queries[i]}
		}
	}
}

// Handle forwards a batch of frames that arrived on port in at time at,
// after running the control plane's work due until then. A time earlier
// than Now (captures are not always in order) counts as Now: the clock
// never goes back. The batch's control packets are applied before Handle
// returns.
func (o *Offline) Handle(in fdb.PortID, at time.Time, batch []Packet) error {
	if int(in) >= len(o.workers) {
		return errors.New("switching: offline: frames for a port that was never added")
	}
	o.Advance(at)
	if at.After(o.now) {
		o.now = at
	}
	o.workers[in].Handle(batch)
	if len(o.e.controlQueue) > 0 {
		o.e.ApplyControl()
		o.applied = true
	}
	return nil
}

// Advance runs the control plane's work due until to: the ticks the live
// loop would run every 100 ms from start. Ticks at which nothing can be
// due are skipped, so a capture with an hour of silence costs a few ticks,
// not 36 000; the last tick before to always runs. The end of a replay
// calls it to let the timers run up to the end of the capture.
func (o *Offline) Advance(to time.Time) {
	for !o.nextTick.After(to) {
		at := o.nextTick
		if !o.applied {
			// Nothing changed since the last tick: skip to the tick at or
			// after the snooper's next work, or to the last one before to.
			last := at.Add(to.Sub(at) / controlPlaneTick * controlPlaneTick)
			switch {
			case o.due.IsZero() || o.due.After(last):
				at = last
			case o.due.After(at):
				at = at.Add((o.due.Sub(at) + controlPlaneTick - 1) / controlPlaneTick * controlPlaneTick)
			}
		}
		if at.After(o.now) {
			o.now = at
		}
		o.due = o.plane.tick(at)
		o.ticks++
		o.applied = false
		o.nextTick = at.Add(controlPlaneTick)
	}
}

// NextTick returns when the control plane runs next: Handle and Advance
// run it for a time at or after it (or skip it, if nothing can be due).
func (o *Offline) NextTick() time.Time { return o.nextTick }

// Ticks returns how many times the control plane has run.
func (o *Offline) Ticks() uint64 { return o.ticks }

// QueriesSent returns the frames the switch itself sent out of port id:
// its queries.
func (o *Offline) QueriesSent(id fdb.PortID) uint64 {
	if int(id) < len(o.queries) {
		return o.queries[id]
	}
	return 0
}

// countingSender counts the frames a Sender sent.
type countingSender struct {
	Sender
	frames *uint64
}

func (s *countingSender) Flush() (frames, bytes int, err error) {
	frames, bytes, err = s.Sender.Flush()
	*s.frames += uint64(frames)
	return frames, bytes, err
}
