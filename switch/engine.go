package switching

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
	// MAC is the switch's own address, the source of the queries it sends
	// and the tie-break of the querier election among switches querying
	// from the same address; zero picks one from snoop.SwitchMAC, seeded
	// with the host's name, machine ID and network namespace, the same on
	// every start. The other switches of a fabric recognise a snoopswitch's
	// queries by such a MAC (snoop.IsSwitchMAC): give one from SwitchMAC
	// if you give one.
	MAC fdb.MAC
	// GroupEntryLimit bounds the (S,G) and (*,G) entries of the whole
	// switch (see fdb.PortMembership.Entries); 0 means
	// DefaultGroupEntryLimit. Each port's own limit is its guard policy's
	// GroupLimit. A join past a limit is refused (or, on a port whose
	// policy says replace, takes the place of that port's oldest group); no
	// other port's entry is ever evicted and snooping never turns off.
	GroupEntryLimit int
	// ReceiveLoops is how many goroutines receive for the ports whose
	// backends share a Poller (the AF_PACKET ring ports), which are spread
	// over them; see PolledBackend. 0 means 1: one loop for every port
	// forwards a frame and its reply with one thread wakeup, and on a
	// machine with few cores the senders and receivers need the others.
	ReceiveLoops int
	// FlowCache, if set, is given the engine's forwarding decisions to
	// repeat for later frames of their flows (the kernel fast path), and
	// told of every change that makes them stale (see FlowCache). Nil:
	// every frame comes to the engine.
	FlowCache FlowCache
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
	controlQueue chan queuedPacket
	mac          fdb.MAC
	groupLimit   int       // switch-wide group entries (Config.GroupEntryLimit)
	cache        FlowCache // nil without one

	// policyMu serialises the changes of the guard's policies, so that a
	// read-modify-write (UpdatePolicies) and a replacement (SetPolicies)
	// never undo each other.
	policyMu sync.Mutex

	mu      sync.Mutex // guards ports, their backends and workers
	ports   []*port
	workers []*Worker
	// txDone holds, by PortID, the transmit counters of the workers of
	// generations that have ended (see Run).
	txDone  []txTotals
	running bool
	// retired are backends replaced or removed while running; the next
	// generation closes them once the receive loops have let go.
	retired []Backend
	// reconfig asks Run to start a new generation: ports were added,
	// removed or given a new backend.
	reconfig chan struct{}
	// forwarding is closed when Run has started the receive loops.
	forwarding chan struct{}
}

// txTotals are transmit counters summed over workers.
type txTotals struct{ frames, bytes, errors uint64 }

type port struct {
	id fdb.PortID
	// backend, removed and kernelDone are guarded by Engine.mu.
	backend Backend
	// removed: the port was taken out of the switch (RemovePort). Its ID
	// stays reserved for it, and AddPort with its name brings it back.
	removed bool
	// flush: removed, and its MACs and memberships still to be forgotten
	// once the receive loops are stopped.
	flush bool
	// kernelDone sums the kernel counters of the port's earlier backends.
	kernelDone KernelStats
	up         atomic.Bool
	rx         rxCounters
	// controlQueued counts the port's packets in the control queue.
	controlQueued atomic.Int32
	// vlans are the VLANs the port carries; nil for all (SetPortVLANs).
	vlans atomic.Pointer[vlanSet]
	// splitHorizon: see SetPortSplitHorizon.
	splitHorizon atomic.Bool
}

// New returns an engine with no ports.
func New(cfg Config) (*Engine, error) {
	// The hooks below are called only once e is complete: the tables
	// change when frames and control packets come.
	e := &Engine{cache: cfg.FlowCache}
	macs, err := fdb.NewMACTable(cfg.MACTable)
	if err != nil {
		return nil, err
	}
	macs.SetChanged(e.invalidate)
	if cfg.ReceiveLoops < 0 {
		return nil, fmt.Errorf("switching: ReceiveLoops %d must not be negative", cfg.ReceiveLoops)
	}
	if cfg.GroupEntryLimit < 0 {
		return nil, fmt.Errorf("switching: GroupEntryLimit %d must not be negative (0 means the default, %d)", cfg.GroupEntryLimit, DefaultGroupEntryLimit)
	}
	*e = Engine{macs: macs, clock: cfg.Clock, logger: cfg.Logger, receiveLoops: cfg.ReceiveLoops, forwarding: make(chan struct{}), mac: cfg.MAC,
		controlQueue: make(chan queuedPacket, controlQueueLen), groupLimit: cfg.GroupEntryLimit, reconfig: make(chan struct{}, 1), cache: cfg.FlowCache}
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
		if sc.Querier.MAC.IsZero() {
			sc.Querier.MAC = e.mac
		}
		if sc.Membership.Admit == nil {
			sc.Membership.Admit = e.admitEntry
		}
		if sc.Membership.AdmitHost == nil {
			sc.Membership.AdmitHost = e.admitHost
		}
		sc.Changed = chainHooks(sc.Changed, e.invalidate)
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

// chainHooks returns a function that calls a (if set), then b.
func chainHooks(a, b func()) func() {
	if a == nil {
		return b
	}
	return func() { a(); b() }
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

// admitHost is the snooper's host limit (snoop.MembershipConfig.AdmitHost):
// the port's guard policy, and switch-wide twice GroupEntryLimit (a host
// entry per group and one per source: what the hosts of a full table
// need if each group has one host), so that host tracking stays bounded
// whatever the hosts report, with or without a guard. It is called with the
// group table's lock held: HostEntries takes none.
func (e *Engine) admitHost(port fdb.PortID, others, need int) bool {
	if e.guard != nil && !e.guard.AllowNewHost(port, others, need) {
		return false
	}
	if e.snooper.Groups().HostEntries()+need <= 2*e.groupLimit {
		return true
	}
	if e.guard != nil {
		e.guard.Count(port, guard.ReasonHostLimit)
		return false
	}
	e.mu.Lock()
	if int(port) < len(e.ports) {
		e.ports[port].rx.drops[DropHostLimit].Add(1)
	}
	e.mu.Unlock()
	return false
}

// maxPorts bounds the port count: port sets are fixed-size bitsets.
const maxPorts = fdb.MaxPorts

// AddPort adds a port and returns its ID; the port starts up. While Run
// runs, the port forwards once Run has started a new generation of its
// receive loops, a matter of milliseconds. A port that was removed comes
// back under its old ID. The engine owns b from now on (see Close).
func (e *Engine) AddPort(b Backend) (fdb.PortID, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var p *port
	for _, q := range e.ports {
		if q.backend.Name() == b.Name() {
			if !q.removed {
				return 0, fmt.Errorf("switching: port %q added twice", b.Name())
			}
			p = q
		}
	}
	if p == nil {
		if len(e.ports) >= maxPorts {
			return 0, fmt.Errorf("switching: too many ports (at most %d, removed ones included)", maxPorts)
		}
		p = &port{id: fdb.PortID(len(e.ports))}
		e.ports = append(e.ports, p)
	}
	p.backend, p.removed, p.flush = b, false, false
	p.up.Store(true)
	e.reconfigureLocked()
	e.invalidate()
	return p.id, nil
}

// RemovePort takes port id out of the switch: nothing is forwarded to or
// from it once Run has started a new generation, and its learned MACs,
// memberships and router state are forgotten. The engine closes its
// backend. Its ID stays reserved for it.
func (e *Engine) RemovePort(id fdb.PortID) error {
	e.mu.Lock()
	if int(id) >= len(e.ports) || e.ports[id].removed {
		e.mu.Unlock()
		return fmt.Errorf("switching: remove port %d: no such port", id)
	}
	p := e.ports[id]
	e.retireLocked(p)
	p.removed, p.flush = true, true
	p.up.Store(false)
	e.reconfigureLocked()
	e.mu.Unlock()
	e.forget(p)
	e.invalidate()
	e.logger.Info("port removed", "port", p.backend.Name())
	return nil
}

// ReplaceBackend gives port id a new backend, as when its interface was
// deleted and created again: the old one is closed once Run has started a
// new generation. The port keeps its ID, policies and counters.
func (e *Engine) ReplaceBackend(id fdb.PortID, b Backend) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if int(id) >= len(e.ports) || e.ports[id].removed {
		return fmt.Errorf("switching: replace the backend of port %d: no such port", id)
	}
	p := e.ports[id]
	if p.backend.Name() != b.Name() {
		return fmt.Errorf("switching: replace the backend of port %q with one named %q", p.backend.Name(), b.Name())
	}
	e.retireLocked(p)
	p.backend = b
	e.reconfigureLocked()
	e.invalidate()
	return nil
}

// retireLocked hands p's backend over to be closed, keeping its kernel
// counters. Caller holds mu.
func (e *Engine) retireLocked(p *port) {
	if p.backend == nil {
		return
	}
	p.kernelDone.add(p.backend.KernelStats())
	e.retired = append(e.retired, p.backend)
}

// reconfigureLocked asks Run for a new generation. Caller holds mu.
func (e *Engine) reconfigureLocked() {
	if !e.running {
		return
	}
	select {
	case e.reconfig <- struct{}{}:
	default:
	}
}

// forget drops what the switch learned on p: MACs, memberships, router
// state.
func (e *Engine) forget(p *port) (macs, groups int) {
	macs = e.macs.FlushPort(p.id)
	if e.snooper != nil {
		groups = e.snooper.PortDown(p.id)
	}
	return macs, groups
}

// Close closes the backends of every port, those removed or replaced
// included. Run must have returned.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for _, b := range e.retired {
		errs = append(errs, b.Close())
	}
	e.retired = nil
	for _, p := range e.ports {
		if !p.removed {
			errs = append(errs, p.backend.Close())
		}
	}
	return errors.Join(errs...)
}

// SetPolicies replaces every port's guard policy (by PortID) at once, and
// removes the memberships the new access lists refuse, counting them per
// port as EventMembershipRevoked. On error nothing changes. Memberships past
// a lowered group limit stay; the port gains no new entry until it is below
// the limit again.
func (e *Engine) SetPolicies(policies []guard.PortPolicy) (revoked int, err error) {
	e.policyMu.Lock()
	defer e.policyMu.Unlock()
	return e.setPoliciesLocked(policies)
}

// UpdatePolicies hands edit every port's guard policy as it stands (by
// PortID, one for each port the engine has numbered), and applies what edit
// leaves in the slice as SetPolicies does, unless edit returns an error or
// reports that it changed nothing. No other change of the policies comes
// between the read and the write.
func (e *Engine) UpdatePolicies(edit func(policies []guard.PortPolicy) (changed bool, err error)) (changed bool, revoked int, err error) {
	if e.guard == nil {
		return false, 0, errors.New("switching: the guard is off (no policies to change)")
	}
	e.policyMu.Lock()
	defer e.policyMu.Unlock()
	e.mu.Lock()
	policies := make([]guard.PortPolicy, len(e.ports))
	e.mu.Unlock()
	for i := range policies {
		policies[i] = e.guard.Policy(fdb.PortID(i))
	}
	if changed, err = edit(policies); err != nil || !changed {
		return false, 0, err
	}
	revoked, err = e.setPoliciesLocked(policies)
	return err == nil, revoked, err
}

// setPoliciesLocked is SetPolicies; the caller holds e.policyMu.
func (e *Engine) setPoliciesLocked(policies []guard.PortPolicy) (revoked int, err error) {
	if e.guard == nil {
		return 0, errors.New("switching: the guard is off (no policies to set)")
	}
	if err := e.guard.SetPolicies(policies); err != nil {
		return 0, err
	}
	// A new access list or sender policy revokes the decisions made under
	// the old one at once (memberships it refuses go below, and invalidate
	// again through the group table).
	e.invalidate()
	removed := e.snooper.Revoke(e.guard.Permits)
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, n := range removed {
		if int(id) < len(e.ports) {
			e.ports[id].rx.events[EventMembershipRevoked].Add(uint64(n))
		}
		revoked += n
	}
	return revoked, nil
}

// Snooper returns the engine's IGMP/MLD snooping, nil when it is off.
func (e *Engine) Snooper() *snoop.Snooper { return e.snooper }

// Guard returns the engine's multicast guard, nil when it is off.
func (e *Engine) Guard() *guard.Guard { return e.guard }

// Logger returns the logger the engine reports its events to, for what
// works alongside it (a backend's link events).
func (e *Engine) Logger() *slog.Logger { return e.logger }

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

// Backend returns port id's backend, nil if there is no such port or it
// was removed.
func (e *Engine) Backend(id fdb.PortID) Backend {
	e.mu.Lock()
	defer e.mu.Unlock()
	if int(id) < len(e.ports) && !e.ports[id].removed {
		return e.ports[id].backend
	}
	return nil
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
	name, removed := p.backend.Name(), p.removed
	e.mu.Unlock()
	if removed || p.up.Swap(up) == up {
		return
	}
	// A decision to send to a port that went down, or one made while it
	// was down (without it), is stale.
	defer e.invalidate()
	if !up {
		n, groups := e.forget(p)
		p.rx.events[EventLinkDownMACs].Add(uint64(n))
		p.rx.events[EventLinkDownMemberships].Add(uint64(groups))
		e.logger.Info("port down", "port", name, "macs_flushed", n, "memberships_flushed", groups)
	} else {
		if e.snooper != nil {
			e.snooper.PortUp(id, e.clock())
		}
		e.logger.Info("port up", "port", name)
	}
}

// Forwarding returns a channel that is closed once Run has every port's
// senders ready and its receive loops started: frames sent after that are
// forwarded in the order they arrive.
func (e *Engine) Forwarding() <-chan struct{} { return e.forwarding }

// Run forwards frames between the ports until ctx is done, then returns
// after every port's receive loop has stopped. The ports are not closed
// (Close does that).
//
// Run works in generations: a set of receive loops and a control plane over
// the ports as they are. When ports are added, removed or given a new
// backend, it stops the loops, closes the retired backends, forgets what
// removed ports learned, and starts a new generation. The MAC table, the
// snooping state, the guard and the counters live on; frames that arrive
// in the gap wait in the kernel's socket buffers.
func (e *Engine) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.running {
		e.mu.Unlock()
		return errors.New("switching: engine already running")
	}
	active := 0
	for _, p := range e.ports {
		if !p.removed {
			active++
		}
	}
	if active < 2 {
		e.mu.Unlock()
		return errors.New("switching: a switch needs at least two ports")
	}
	e.running = true
	e.mu.Unlock()

	for gen := 0; ; gen++ {
		names, stop := e.startGeneration(ctx)
		if gen == 0 {
			close(e.forwarding)
			e.logger.Info("switch running", "ports", strings.Join(names, ","), "receive_loops", max(1, e.receiveLoops))
		} else {
			e.logger.Info("ports changed", "ports", strings.Join(names, ","))
		}
		var err error
		select {
		case <-ctx.Done():
			err = stop()
		case <-e.reconfig:
			err = stop()
		}
		if err != nil || ctx.Err() != nil {
			return err
		}
	}
}

// startGeneration closes the retired backends, forgets removed ports, and
// starts receive loops and a control plane over the ports. It returns the
// ports' names and a function that stops the loops and returns their
// errors; a loop that fails stops the others.
func (e *Engine) startGeneration(ctx context.Context) (names []string, stop func() error) {
	e.mu.Lock()
	for _, b := range e.retired {
		if err := b.Close(); err != nil {
			e.logger.Warn("closing a retired port", "port", b.Name(), "err", err)
		}
	}
	e.retired = nil
	var workers []*Worker
	var flush []*port
	for _, p := range e.ports {
		if p.flush {
			p.flush = false
			flush = append(flush, p)
		}
		if !p.removed {
			workers = append(workers, e.newWorkerLocked(p))
			names = append(names, p.backend.Name())
		}
	}
	plane := e.newControlPlaneLocked()
	e.mu.Unlock()
	for _, p := range flush {
		e.forget(p) // what the last generation learned after RemovePort
	}
	// The last generation's workers decided until they stopped with the
	// ports they were made with, which AddPort and RemovePort changed.
	e.invalidate()

	ctx, cancel := context.WithCancel(ctx)
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
	wg.Go(func() { plane.run(ctx) })
	if e.cache != nil {
		wg.Go(func() { e.refreshFlows(ctx.Done()) })
	}
	return names, func() error {
		cancel()
		wg.Wait()
		close(errs)
		e.endGeneration(workers)
		return errors.Join(collect(errs)...)
	}
}

// endGeneration folds the transmit counters of a generation's workers into
// txDone and lets go of the workers.
func (e *Engine) endGeneration(workers []*Worker) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, w := range workers {
		e.workers = slices.DeleteFunc(e.workers, func(x *Worker) bool { return x == w })
		for len(e.txDone) < len(w.tx) {
			e.txDone = append(e.txDone, txTotals{})
		}
		for i := range w.tx {
			e.txDone[i].frames += w.tx[i].frames.Load()
			e.txDone[i].bytes += w.tx[i].bytes.Load()
			e.txDone[i].errors += w.tx[i].errors.Load()
		}
	}
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
	w := e.newWorkerLocked(e.ports[in])
	e.mu.Unlock()
	// Workers made earlier may hold an older set of ports (see
	// startGeneration).
	e.invalidate()
	return w
}

func (e *Engine) newWorkerLocked(in *port) *Worker {
	w := &Worker{
		e:       e,
		in:      in,
		ports:   e.activePortsLocked(),
		senders: make([]Sender, len(e.ports)),
		queued:  make([]int, len(e.ports)),
		tx:      make([]txCounters, len(e.ports)),
		dirty:   make([]fdb.PortID, 0, len(e.ports)),
	}
	if e.cache != nil {
		w.offered = make([]offeredFlow, offeredSlots)
	}
	for i, p := range w.ports {
		if p == nil {
			continue
		}
		w.all.Add(p.id)
		if p != in {
			w.senders[i] = p.backend.NewSender()
		}
	}
	// Stats sums the transmit counters of every worker ever made.
	e.workers = append(e.workers, w)
	return w
}

// activePortsLocked returns the ports by PortID, nil for removed ones.
// Caller holds mu.
func (e *Engine) activePortsLocked() []*port {
	ports := make([]*port, len(e.ports))
	for i, p := range e.ports {
		if !p.removed {
			ports[i] = p
		}
	}
	return ports
}

// Stats returns a snapshot of every port's counters, by PortID; removed
// ports are there too, marked Removed.
func (e *Engine) Stats() []PortStats {
	var flows []FlowCounters
	if e.cache != nil {
		flows = e.cache.Counters() // before mu: it may make system calls
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]PortStats, len(e.ports))
	for i, p := range e.ports {
		s := PortStats{
			Name:     p.backend.Name(),
			Up:       p.up.Load(),
			Removed:  p.removed,
			RxFrames: p.rx.frames.Load(),
			RxBytes:  p.rx.bytes.Load(),
			Drops:    make(map[string]uint64),
			Events:   make(map[string]uint64),
			Kernel:   p.kernelDone,
		}
		if !p.removed {
			s.Kernel.add(p.backend.KernelStats())
		}
		if i < len(e.txDone) {
			s.TxFrames, s.TxBytes, s.TxErrors = e.txDone[i].frames, e.txDone[i].bytes, e.txDone[i].errors
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
		for _, w := range e.workers {
			if i < len(w.tx) {
				s.TxFrames += w.tx[i].frames.Load()
				s.TxBytes += w.tx[i].bytes.Load()
				s.TxErrors += w.tx[i].errors.Load()
			}
		}
		if i < len(flows) {
			// What the cache forwarded is the port's traffic too, so that
			// show counters, the metrics and the bench count every frame.
			c := flows[i]
			s.FlowCache = &c
			s.RxFrames += c.RxFrames
			s.RxBytes += c.RxBytes
			s.TxFrames += c.TxFrames
			s.TxBytes += c.TxBytes
			s.TxErrors += c.TxErrors
		}
		out[i] = s
	}
	return out
}
