package datapath

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/snoopswitch/snoopswitch/fdb"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/switch/afpacket"
	"github.com/snoopswitch/snoopswitch/switch/fastpath"
)

// DefaultMaxFlows is the room of the kernel's flow table: flows past it
// stay on the rings, which forward them as before, until entries idle for
// fastpath.DefaultFlowIdle make room. The table is preallocated, about
// 100 bytes an entry.
const DefaultMaxFlows = 65536

// installerQueue bounds the decisions waiting for the installer; one that
// does not fit is dropped and offered again by a later frame of its flow.
const installerQueue = 4096

// ErrFastUnavailable wraps the error of a fast path that cannot load or
// attach here; its message says what to change.
// Without root the verifier needs CAP_PERFMON besides CAP_BPF to accept the
// program's pointer arithmetic on map values (measured: with CAP_BPF alone
// it refuses, "pointer arithmetic with it prohibited for !root"), and tc
// attachment needs CAP_NET_ADMIN.
var ErrFastUnavailable = errors.New("datapath: the fast datapath cannot run here: it needs root, or CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (systemd: packaging/fast-datapath.conf), and Linux 6.6 or later (tcx); or run the ring datapath (--datapath ring, datapath.mode: ring)")

// Unavailable is the cause in err, an error of LoadFast or Attach wrapping
// ErrFastUnavailable: what kept the fast path from running here, without
// ErrFastUnavailable's advice (a datapath of auto logs it as its reason to
// run the ring).
func Unavailable(err error) string {
	var m interface{ Unwrap() []error }
	if errors.As(err, &m) {
		if es := m.Unwrap(); len(es) == 2 && es[0] == ErrFastUnavailable {
			return es[1].Error()
		}
	}
	return err.Error()
}

// Fast is the kernel fast path of one switch, with its installer running.
// Its methods are safe for concurrent use.
type Fast struct {
	d      *fastpath.Datapath
	in     *fastpath.Installer
	cache  *fastpath.Cache
	logger *slog.Logger
	stop   context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex // guards ports and closed
	ports  map[fdb.PortID]*fastpath.Port
	closed bool
}

// LoadFast loads the fast path with room for maxFlows flows (0:
// DefaultMaxFlows) and starts its installer. Where eBPF cannot be used it
// returns an error wrapping ErrFastUnavailable and fastpath.ErrUnavailable.
func LoadFast(maxFlows int, logger *slog.Logger) (*Fast, error) {
	if maxFlows == 0 {
		maxFlows = DefaultMaxFlows
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d, err := fastpath.Load(maxFlows)
	if err != nil {
		if errors.Is(err, fastpath.ErrUnavailable) {
			return nil, fmt.Errorf("%w:\n%w", ErrFastUnavailable, err)
		}
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Fast{
		d:      d,
		in:     fastpath.NewInstaller(d, installerQueue),
		logger: logger,
		stop:   cancel,
		done:   make(chan struct{}),
		ports:  make(map[fdb.PortID]*fastpath.Port),
	}
	f.cache = fastpath.NewCache(d, f.in, logger)
	go func() {
		defer close(f.done)
		f.in.Run(ctx)
	}()
	return f, nil
}

// FlowCache is the engine's flow cache (switching.Config.FlowCache).
func (f *Fast) FlowCache() switching.FlowCache { return f.cache }

// Ring returns c with the fast path's socket filter on every socket that
// receives for a port, so the rings do not also copy the frames the
// kernel forwards (packet taps see a frame before tc ingress does).
func (f *Fast) Ring(c afpacket.Config) afpacket.Config {
	c.SocketFilter = f.d.AttachSocketFilter
	return c
}

// Attach attaches the fast path to the interface of port id, a ring port
// opened with Ring's configuration, once the engine has it. A port
// attached before (its interface was created again) is detached first.
func (f *Fast) Attach(id fdb.PortID, b switching.Backend) error {
	p, ok := b.(*afpacket.Port)
	if !ok {
		return fmt.Errorf("datapath: port %q is not a ring port (%T): the fast path attaches to ring ports only", b.Name(), b)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errors.New("datapath: the fast path is closed")
	}
	if old := f.ports[id]; old != nil {
		// Its interface is gone, and with it the tc link: the error of
		// closing it again says nothing about the new one.
		if err := old.Close(); err != nil {
			f.logger.Debug("fast path: detaching the old interface", "port", p.Name(), "err", err)
		}
		delete(f.ports, id)
	}
	fp, err := f.d.AttachPort(p.Ifindex(), id)
	if err != nil {
		return fmt.Errorf("%w:\nport %q: %w", ErrFastUnavailable, p.Name(), err)
	}
	f.ports[id] = fp
	return nil
}

// Detach detaches the fast path from port id: the kernel forwards nothing
// from or to it any more. A port not attached is no error.
func (f *Fast) Detach(id fdb.PortID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fp := f.ports[id]
	if fp == nil {
		return nil
	}
	delete(f.ports, id)
	return fp.Close()
}

// Attached reports whether port id has the fast path attached.
func (f *Fast) Attached(id fdb.PortID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ports[id] != nil
}

// WatchLinks is afpacket.WatchLinks, attaching the fast path to the new
// interface of every port it re-attaches (WatchLinks(f, nil)).
func (f *Fast) WatchLinks(ctx context.Context, e *switching.Engine) error {
	return WatchLinks(f, nil)(ctx, e)
}

// MaxFlows is the room of the flow table.
func (f *Fast) MaxFlows() int { return f.d.MaxFlows() }

// Installer returns the installer's counters: decisions applied, and
// those the queue or the full flow table refused.
func (f *Fast) Installer() fastpath.InstallerStats { return f.in.Stats() }

// Close stops the installer, detaches every port and unloads the
// programs and maps. The rings then get every frame again.
func (f *Fast) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.mu.Unlock()
	f.stop()
	<-f.done
	return f.d.Close()
}
