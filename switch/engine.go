package switching

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/snoop"
)

// Backend is the I/O of one port: where its frames come from and go to.
type Backend interface {
	// Name is the port's name (the interface name for a ring port).
	Name() string
	// Receive hands batches of received frames to handle until ctx is
	// done, then returns nil; it returns an error only when the port can
	// no longer receive at all. The packets, and the memory they point to,
	// are valid only during the call to handle.
	Receive(ctx context.Context, handle func(batch []Packet)) error
	// NewSender returns a transmit queue for the port, used by one
	// goroutine only.
	NewSender() Sender
	// KernelStats returns the kernel's counters for the port.
	KernelStats() KernelStats
	// Close releases the port. Receive must have returned.
	Close() error
}

// Sender queues frames for one egress port and sends them in batches.
type Sender interface {
	// Queue adds p to the batch; it reports false, queueing nothing, when
	// the batch is full. The caller flushes and queues again.
	Queue(p *Packet) bool
	// Flush sends what was queued and empties the batch. It reports how
	// many frames and bytes left, and the error that stopped the others.
	Flush() (frames, bytes int, err error)
}

// ErrPortDown is returned (wrapped) by a Sender whose link is down.
var ErrPortDown = errors.New("switching: port link is down")

// Config configures an Engine.
type Config struct {
	// MACTable configures MAC learning.
	MACTable fdb.Config
	// Clock returns the current time; nil means time.Now. Replay passes the
	// capture's clock, tests a fake one.
	Clock func() time.Time
	// Logger receives the engine's events; nil discards them.
	Logger *slog.Logger
	// Snooping turns IGMP/MLD snooping on: multicast data goes only to the
	// ports that joined its group, plus router ports. Nil floods multicast
	// like broadcast.
	Snooping *snoop.Config
	// Guard is the multicast security policy of each port, by PortID (a
	// port beyond the slice gets guard.HostPortDefaults). Nil turns the
	// guard off. It applies only with Snooping.
	Guard []guard.PortPolicy
	// MAC is the switch's own address, the source of the queries it sends;
	// zero picks a locally administered one.
	MAC fdb.MAC
	// GroupEntryLimit bounds the (S,G) and (*,G) entries of the whole
	// switch (see fdb.PortMembership.Entries); 0 means
	// DefaultGroupEntryLimit. Each port's own limit is its guard policy's
	// GroupLimit. A join past a limit is refused (or, on a port whose
	// policy says replace, takes the place of that port's oldest group); no
	// other port's entry is ever evicted and snooping never turns off.
	GroupEntryLimit int
	// ReceiveLoops is how many goroutines receive for the ring ports, which
	// are spread over them. 0 means 1: one loop for every port forwards a
	// frame and its reply with one thread wakeup, and on a machine with few
	// cores the senders and receivers need the others.
	ReceiveLoops int
}

// Engine is the switch: ports, the MAC table and the forwarding pipeline.
type Engine struct {
	macs         *fdb.MACTable
	clock        func() time.Time
	logger       *slog.Logger
	receiveLoops int
	snooper      *snoop.Snooper // nil without snooping
	guard        *guard.Guard   // nil without a guard
	events       *guard.EventLog
	controlQueue chan controlPacket
	mac          fdb.MAC
	groupLimit   int // switch-wide group entries (Config.GroupEntryLimit)

	mu      sync.Mutex // guards ports and workers while ports are added
	ports   []*port
	workers []*Worker
	running bool
	// forwarding is closed when Run has started the receive loops.
	forwarding chan struct{}
}

type port struct {
	id      fdb.PortID
	backend Backend
	up      atomic.Bool
	rx      rxCounters
	// controlQueued counts the port's packets in the control queue.
	controlQueued atomic.Int32
}

// New returns an engine with no ports.
func New(cfg Config) (*Engine, error) {
	macs, err := fdb.NewMACTable(cfg.MACTable)
	if err != nil {
		return nil, err
	}
	if cfg.ReceiveLoops < 0 {
		return nil, fmt.Errorf("switching: ReceiveLoops %d must not be negative", cfg.ReceiveLoops)
	}
	if cfg.GroupEntryLimit < 0 {
		return nil, fmt.Errorf("switching: GroupEntryLimit %d must not be negative (0 means the default, %d)", cfg.GroupEntryLimit, DefaultGroupEntryLimit)
	}
	e := &Engine{macs: macs, clock: cfg.Clock, logger: cfg.Logger, receiveLoops: cfg.ReceiveLoops, forwarding: make(chan struct{}), mac: cfg.MAC,
		controlQueue: make(chan controlPacket, controlQueueLen), groupLimit: cfg.GroupEntryLimit}
	if e.groupLimit == 0 {
		e.groupLimit = DefaultGroupEntryLimit
	}
	if e.mac.IsZero() {
		e.mac = defaultSwitchMAC()
	}
	if cfg.Guard != nil && cfg.Snooping != nil {
		if e.guard, err = guard.New(cfg.Guard); err != nil {
			return nil, err
		}
	}
	if cfg.Snooping != nil {
		sc := *cfg.Snooping
		if !sc.Querier.IPv6Source.IsValid() {
			sc.Querier.IPv6Source = linkLocal(e.mac)
		}
		if sc.Membership.Admit == nil {
			sc.Membership.Admit = e.admitEntry
		}
		e.snooper = snoop.New(sc)
	}
	if e.clock == nil {
		e.clock = time.Now
	}
	if e.logger == nil {
		e.logger = slog.New(slog.DiscardHandler)
	}
	e.events = guard.NewEventLog(e.logger, guard.DefaultEventBurst, guard.DefaultEventInterval)
	return e, nil
}

// DefaultGroupEntryLimit is the switch-wide limit on group entries: with
// the host ports' default of guard.DefaultHostGroupLimit, 64 ports fill it.
const DefaultGroupEntryLimit = 65536

// admitEntry is the snooper's group limit (snoop.MembershipConfig.Admit):
// the port's guard policy and the switch-wide GroupEntryLimit, or without a
// guard the switch-wide limit alone, so that memory stays bounded whatever
// the hosts report.
func (e *Engine) admitEntry(port fdb.PortID, portEntries, evictable, switchEntries int) (allow, replace bool) {
	var rx *rxCounters
	e.mu.Lock()
	if int(port) < len(e.ports) {
		rx = &e.ports[port].rx
	}
	e.mu.Unlock()
	if e.guard != nil {
		allow, replace = e.guard.AllowNewEntry(port, portEntries, evictable, switchEntries, e.groupLimit)
	} else if allow = switchEntries < e.groupLimit; !allow && rx != nil {
		rx.drops[DropGroupLimit].Add(1)
	}
	if replace && rx != nil {
		rx.events[EventGroupReplaced].Add(1)
	}
	return allow, replace
}

// maxPorts bounds the port count: port sets are fixed-size bitsets.
const maxPorts = fdb.MaxPorts

// AddPort adds a port before Run and returns its ID. The port starts up.
func (e *Engine) AddPort(b Backend) (fdb.PortID, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.running {
		return 0, errors.New("switching: ports must be added before Run")
	}
	if len(e.ports) >= maxPorts {
		return 0, fmt.Errorf("switching: too many ports (at most %d)", maxPorts)
	}
	for _, p := range e.ports {
		if p.backend.Name() == b.Name() {
			return 0, fmt.Errorf("switching: port %q added twice", b.Name())
		}
	}
	p := &port{id: fdb.PortID(len(e.ports)), backend: b}
	p.up.Store(true)
	e.ports = append(e.ports, p)
	return p.id, nil
}

// Snooper returns the engine's IGMP/MLD snooping, nil when it is off.
func (e *Engine) Snooper() *snoop.Snooper { return e.snooper }

// Guard returns the engine's multicast guard, nil when it is off.
func (e *Engine) Guard() *guard.Guard { return e.guard }

// MACTable returns the engine's MAC table.
func (e *Engine) MACTable() *fdb.MACTable { return e.macs }

// PortID returns the ID of the port named name.
func (e *Engine) PortID(name string) (fdb.PortID, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.ports {
		if p.backend.Name() == name {
			return p.id, true
		}
	}
	return 0, false
}

// PortName returns the name of port id, or "" if there is none.
func (e *Engine) PortName(id fdb.PortID) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if int(id) < len(e.ports) {
		return e.ports[id].backend.Name()
	}
	return ""
}

// SetPortUp records a port's link state. A port going down loses the
// addresses learned on it, so traffic to them floods until they are heard
// again (wherever they are now) instead of going into a dead link.
func (e *Engine) SetPortUp(id fdb.PortID, up bool) {
	e.mu.Lock()
	if int(id) >= len(e.ports) {
		e.mu.Unlock()
		return
	}
	p := e.ports[id]
	e.mu.Unlock()
	if p.up.Swap(up) == up {
		return
	}
	if !up {
		n := e.macs.FlushPort(id)
		groups := 0
		if e.snooper != nil {
			groups = e.snooper.PortDown(id)
		}
		e.logger.Info("port down", "port", p.backend.Name(), "macs_flushed", n, "memberships_flushed", groups)
	} else {
		if e.snooper != nil {
			e.snooper.PortUp(id, e.clock())
		}
		e.logger.Info("port up", "port", p.backend.Name())
	}
}

// Forwarding returns a channel that is closed once Run has every port's
// senders ready and its receive loops started: frames sent after that are
// forwarded in the order they arrive.
func (e *Engine) Forwarding() <-chan struct{} { return e.forwarding }

// Run forwards frames between the ports until ctx is done, then returns
// after every port's receive loop has stopped. The ports are not closed.
func (e *Engine) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.running {
		e.mu.Unlock()
		return errors.New("switching: engine already running")
	}
	if len(e.ports) < 2 {
		e.mu.Unlock()
		return errors.New("switching: a switch needs at least two ports")
	}
	e.running = true
	workers := make([]*Worker, len(e.ports))
	for i, p := range e.ports {
		workers[i] = e.newWorkerLocked(p)
	}
	e.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	loops := receiveLoops(ctx, workers, e.receiveLoops)
	errs := make(chan error, len(loops))
	for _, loop := range loops {
		wg.Go(func() {
			if err := loop(); err != nil {
				errs <- err
				cancel()
			}
		})
	}
	ctl := e.newControl()
	wg.Go(func() { ctl.run(ctx) })
	names := make([]string, len(workers))
	for i, w := range workers {
		names[i] = w.in.backend.Name()
	}
	close(e.forwarding)
	e.logger.Info("switch running", "ports", strings.Join(names, ","), "receive_loops", max(1, e.receiveLoops))
	wg.Wait()
	close(errs)
	return errors.Join(collect(errs)...)
}

func collect(ch <-chan error) []error {
	var out []error
	for err := range ch {
		out = append(out, err)
	}
	return out
}

// NewWorker returns the forwarding pipeline for frames received on port in,
// with its own senders. Run makes one per port; replay and benchmarks drive
// one directly.
func (e *Engine) NewWorker(in fdb.PortID) *Worker {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.newWorkerLocked(e.ports[in])
}

func (e *Engine) newWorkerLocked(in *port) *Worker {
	w := &Worker{
		e:       e,
		in:      in,
		ports:   e.ports,
		senders: make([]Sender, len(e.ports)),
		queued:  make([]int, len(e.ports)),
		tx:      make([]txCounters, len(e.ports)),
		dirty:   make([]fdb.PortID, 0, len(e.ports)),
	}
	for _, p := range e.ports {
		w.all.Add(p.id)
	}
	for i, p := range e.ports {
		if p != in {
			w.senders[i] = p.backend.NewSender()
		}
	}
	// Stats sums the transmit counters of every worker ever made.
	e.workers = append(e.workers, w)
	return w
}

// Stats returns a snapshot of every port's counters.
func (e *Engine) Stats() []PortStats {
	e.mu.Lock()
	ports, workers := e.ports, e.workers
	e.mu.Unlock()
	out := make([]PortStats, len(ports))
	for i, p := range ports {
		s := PortStats{
			Name:     p.backend.Name(),
			Up:       p.up.Load(),
			RxFrames: p.rx.frames.Load(),
			RxBytes:  p.rx.bytes.Load(),
			Drops:    make(map[string]uint64),
			Events:   make(map[string]uint64),
			Kernel:   p.backend.KernelStats(),
		}
		for r := range numDropReasons {
			if n := p.rx.drops[r].Load(); n > 0 {
				s.Drops[r.String()] = n
			}
		}
		if e.guard != nil {
			for k, n := range e.guard.Counters(p.id) {
				if n > 0 {
					s.Drops[k] += n
				}
			}
		}
		for ev := range numEvents {
			if n := p.rx.events[ev].Load(); n > 0 {
				s.Events[ev.String()] = n
			}
		}
		for _, w := range workers {
			if i < len(w.tx) {
				s.TxFrames += w.tx[i].frames.Load()
				s.TxBytes += w.tx[i].bytes.Load()
				s.TxErrors += w.tx[i].errors.Load()
			}
		}
		out[i] = s
	}
	return out
}
