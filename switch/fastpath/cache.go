package fastpath

import (
	"log/slog"
	"sync/atomic"
	"time"

	switching "github.com/snoopswitch/snoopswitch/switch"
)

// Cache is the engine's flow cache (switching.FlowCache) on a Datapath:
// the engine's decisions go to the kernel through an Installer, its
// invalidations to Datapath.Invalidate, and the kernel's per-flow hits and
// per-port counters come back from the maps. The engine (package
// switching) cannot import this package, which builds on it; this is the
// adapter between the two. The key is the engine's (FlowKey is
// switching.FlowKey); the engine's action becomes a Forward.
type Cache struct {
	d      *Datapath
	in     *Installer
	logger *slog.Logger
	// idle is how long an entry may go unhit before Hits, making room,
	// removes it.
	idle time.Duration

	invalidateFailed atomic.Uint64
}

var _ switching.FlowCache = (*Cache)(nil)

// DefaultFlowIdle is how long an entry may go without a hit before Hits
// removes it when the table needs room. The flow's next frame goes to the
// engine, which installs it again.
const DefaultFlowIdle = 30 * time.Second

// NewCache returns the flow cache of d, which installs through in (whose
// Run the caller runs). logger (nil: none) hears of failures to invalidate.
func NewCache(d *Datapath, in *Installer, logger *slog.Logger) *Cache {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Cache{d: d, in: in, logger: logger, idle: DefaultFlowIdle}
}

// Generation is Datapath.Generation.
func (c *Cache) Generation() uint32 { return c.d.Generation() }

// Offer queues the engine's forwarding decision on the Installer; it
// never blocks and allocates nothing.
func (c *Cache) Offer(gen uint32, k switching.FlowKey, a switching.FlowAction) bool {
	return c.in.Offer(gen, k, FlowAction{Verdict: Forward, Out: a.Out, TTLMax: a.TTLMax})
}

// Invalidate makes every entry stale (Datapath.Invalidate). A failure, a
// map write the kernel refused, is tried once more and then logged as an
// error: the entries of the old generation would go on forwarding.
func (c *Cache) Invalidate() {
	err := c.d.Invalidate()
	if err != nil {
		err = c.d.Invalidate()
	}
	if err != nil {
		c.invalidateFailed.Add(1)
		c.logger.Error("fast path: invalidating the flow table failed; decided flows may forward on stale decisions", "err", err)
	}
}

// InvalidateFailures counts the invalidations that failed.
func (c *Cache) InvalidateFailures() uint64 { return c.invalidateFailed.Load() }

// Hits calls fn for every entry of the current generation that forwarded
// frames, with the time since its last. It walks the kernel's table (a
// system call per entry), then removes the stale entries, and those idle
// for DefaultFlowIdle when the table is three quarters full, to make room.
func (c *Cache) Hits(fn func(k switching.FlowKey, idle time.Duration)) {
	n, stale := 0, 0
	err := c.d.Flows(func(k FlowKey, s FlowStats) bool {
		n++
		switch {
		case s.Stale:
			stale++
		case s.Hits > 0:
			fn(k, s.Idle)
		}
		return true
	})
	if err != nil {
		c.logger.Warn("fast path: reading the flow table", "err", err)
		return
	}
	if stale > 0 || n >= c.d.MaxFlows()*3/4 {
		if _, err := c.d.Sweep(c.idle); err != nil {
			c.logger.Warn("fast path: making room in the flow table", "err", err)
		}
	}
}

// Counters returns the kernel's per-port counters (Datapath.Stats) by
// PortID; nil if they cannot be read.
func (c *Cache) Counters() []switching.FlowCounters {
	s, err := c.d.Stats()
	if err != nil {
		return nil
	}
	out := make([]switching.FlowCounters, len(s.Ports))
	for i, p := range s.Ports {
		out[i] = switching.FlowCounters{RxFrames: p.Frames, RxBytes: p.Bytes, TxFrames: p.TxFrames, TxBytes: p.TxBytes, TxErrors: p.TxErrors}
	}
	return out
}
