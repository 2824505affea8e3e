package fastpath

import (
	"context"
	"errors"
	"sync/atomic"
)

// Installer applies the engine's decisions to a Datapath from a bounded
// queue, so that the per-frame path never waits for a system call: Offer
// never blocks and allocates nothing, and a decision that does not fit in
// the queue is dropped (its flow stays on the ring, which is always
// correct, and the next frame offers it again).
//
// Ordering rule for the engine: read Datapath.Generation before reading the
// state a decision depends on, and offer the decision with that
// generation. Whoever changes such state calls Invalidate after the change.
// A decision made on the old state then carries the old generation and is
// never installed, or is stale in the kernel at once.
type Installer struct {
	d *Datapath
	q chan update

	installed, dropped, full, failed atomic.Uint64
	lastErr                          atomic.Pointer[error]
}

type update struct {
	gen    uint32
	del    bool
	key    FlowKey
	action FlowAction
}

// NewInstaller returns an installer for d with room for queueLen pending
// decisions. Run applies them.
func NewInstaller(d *Datapath, queueLen int) *Installer {
	return &Installer{d: d, q: make(chan update, max(1, queueLen))}
}

// Offer queues decision a for flow k, made in generation gen. It reports
// false, queueing nothing, when the queue is full.
func (in *Installer) Offer(gen uint32, k FlowKey, a FlowAction) bool {
	select {
	case in.q <- update{gen: gen, key: k, action: a}:
		return true
	default:
		in.dropped.Add(1)
		return false
	}
}

// OfferDelete queues the removal of k's entry, applied in order with the
// decisions queued before it.
func (in *Installer) OfferDelete(k FlowKey) bool {
	select {
	case in.q <- update{del: true, key: k}:
		return true
	default:
		in.dropped.Add(1)
		return false
	}
}

// Run applies queued decisions until ctx is done.
func (in *Installer) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-in.q:
			in.apply(u)
		}
	}
}

func (in *Installer) apply(u update) {
	var err error
	if u.del {
		err = in.d.Delete(u.key)
	} else {
		err = in.d.InstallAt(u.gen, u.key, u.action)
	}
	switch {
	case err == nil:
		if !u.del {
			in.installed.Add(1)
		}
	case errors.Is(err, ErrFull):
		in.full.Add(1)
	default:
		in.failed.Add(1)
		in.lastErr.Store(&err)
	}
}

// InstallerStats counts what an Installer did.
type InstallerStats struct {
	// Applied counts decisions written to the kernel (or skipped as
	// stale before they were written).
	Applied uint64
	// Dropped counts decisions the full queue refused.
	Dropped uint64
	// Full counts decisions the full flow table refused.
	Full uint64
	// Failed counts other errors; LastErr is the latest.
	Failed  uint64
	LastErr error
}

// Stats returns the installer's counters.
func (in *Installer) Stats() InstallerStats {
	s := InstallerStats{Applied: in.installed.Load(), Dropped: in.dropped.Load(), Full: in.full.Load(), Failed: in.failed.Load()}
	if e := in.lastErr.Load(); e != nil {
		s.LastErr = *e
	}
	return s
}
