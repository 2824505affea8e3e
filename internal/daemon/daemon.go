package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/internal/control"
	"github.com/snoopswitch/snoopswitch/internal/tunnel"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

// Opener opens the port of the interface name, as a start or a reload
// adds it to the engine. Datapath gives the Opener of AF_PACKET ring
// ports; tests pass ports of their own.
type Opener func(name string) (switching.Backend, error)

// Options are what a Switch needs besides its configuration.
type Options struct {
	// Open opens each port. Required.
	Open Opener
	// Load reads the configuration again for a reload (the file, with the
	// command line's flags over it). Nil: the switch cannot reload.
	Load func() (*config.Config, error)
	// Logger logs the switch's events; nil discards them.
	Logger *slog.Logger
	// Level is the Logger's level, which a reload sets; nil: a reload
	// leaves the level alone.
	Level *slog.LevelVar
	// WatchLinks follows the ports' link state while the switch runs
	// (afpacket.WatchLinks); nil: not followed.
	WatchLinks func(ctx context.Context, e *switching.Engine) error
	// FastPath is the kernel fast path in front of the ports (datapath
	// mode fast; datapath.Fast); nil: the ports alone (mode ring). Start
	// takes it over: Close, or a Start that fails, closes it.
	FastPath FastPath
	// Tunnels makes the configuration's tunnels (tunnel.Set), in the
	// namespace Open opens ports in: Start creates them before it opens
	// any port, a reload adds and removes them. Start takes it over:
	// Close, or a Start that fails, removes every tunnel it made. Nil: a
	// configuration with tunnels is refused.
	Tunnels Tunnels
	// Datapath is which datapath runs and why (show datapath, SIGUSR1);
	// Datapath (the function) fills it in.
	Datapath DatapathChoice
	// Steering moves each port's receive processing to other CPUs
	// (datapath.steer; datapath.Steering); nil: left where the kernel puts
	// it. Start takes it over: Close puts every port's setting back.
	Steering Steering
}

// Tunnels creates and removes VXLAN tunnels (tunnel.Set).
type Tunnels interface {
	Create(t tunnel.Spec) (*tunnel.Device, error)
	// Remove deletes a tunnel Create made.
	Remove(name string) error
	// CheckMTU returns what the tunnels cannot carry whole of the ports'
	// frames: warnings to log, and an error that refuses the
	// configuration (tunnel.Set.CheckMTU).
	CheckMTU(tunnels []tunnel.Spec, ports []string) ([]*tunnel.MTUError, error)
	// Close removes every tunnel Create made.
	Close() error
}

// DatapathChoice is the datapath a switch runs and why.
type DatapathChoice struct {
	// Configured is datapath.mode; Mode is what runs (ring or fast).
	Configured, Mode config.DatapathMode
	// Reason says why Mode runs where Configured is auto, "configured"
	// otherwise.
	Reason string
}

// Steering steers the receive processing of a port's interface as the
// port is attached, and puts its old setting back as it goes
// (datapath.Steering).
type Steering interface {
	Steer(name string) error
	Restore(name string) error
	Close() error
}

// FastPath is a kernel fast path that repeats the engine's decisions
// (datapath.Fast): the engine gets its flow cache, and every port the
// switch adds is attached to it, every port it removes detached.
type FastPath interface {
	FlowCache() switching.FlowCache
	Attach(id fdb.PortID, b switching.Backend) error
	Detach(id fdb.PortID) error
	Close() error
}

// Switch is an engine with its ports open, and the configuration it runs.
type Switch struct {
	engine *switching.Engine
	opts   Options
	logger *slog.Logger

	mu     sync.Mutex     // serialises reloads and reads of config
	config *config.Config // running
}

// Start builds the engine of c and opens every port of c, all or nothing:
// on error every port opened so far is closed again.
func Start(c *config.Config, o Options) (*Switch, error) {
	fail := func(err error) (*Switch, error) {
		if o.FastPath != nil {
			err = errors.Join(err, o.FastPath.Close())
		}
		if o.Tunnels != nil {
			err = errors.Join(err, o.Tunnels.Close())
		}
		if o.Steering != nil {
			err = errors.Join(err, o.Steering.Close())
		}
		return nil, err
	}
	if o.Open == nil {
		return fail(errors.New("daemon: no port opener"))
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// The tunnels are interfaces like any other port's, so they exist
	// before the ports open.
	if err := createTunnels(o.Tunnels, c.TunnelSpecs(), c.TunnelSpecs(), c.PortNames(), logger); err != nil {
		return fail(err)
	}
	ec := c.Engine(logger)
	if o.FastPath != nil {
		ec.FlowCache = o.FastPath.FlowCache()
	}
	e, err := switching.New(ec)
	if err != nil {
		return fail(err)
	}
	sw := &Switch{engine: e, opts: o, logger: logger, config: c}
	for _, cp := range c.Ports {
		p, err := o.Open(cp.Name)
		if err != nil {
			sw.Close()
			return nil, err
		}
		id, err := e.AddPort(p)
		if err != nil {
			p.Close()
			sw.Close()
			return nil, err
		}
		if err := e.SetPortVLANs(id, cp.VLANIDs()); err != nil {
			sw.Close()
			return nil, err
		}
		if err := e.SetPortSplitHorizon(id, cp.SplitHorizon); err != nil {
			sw.Close()
			return nil, err
		}
		if err := sw.attach(id, p); err != nil {
			sw.Close()
			return nil, err
		}
	}
	return sw, nil
}

// createTunnels creates the tunnels specs with ts and checks the MTU of
// every port (names) against every tunnel (all), all or nothing: on error
// the tunnels created are removed again.
func createTunnels(ts Tunnels, specs, all []tunnel.Spec, names []string, logger *slog.Logger) error {
	if len(all) == 0 {
		return nil
	}
	if ts == nil {
		return fmt.Errorf("daemon: tunnel %q: this switch cannot make tunnels", all[0].Name)
	}
	var made []string
	undo := func(err error) error {
		for _, name := range made {
			err = errors.Join(err, ts.Remove(name))
		}
		return err
	}
	for _, t := range specs {
		d, err := ts.Create(t)
		if err != nil {
			return undo(err)
		}
		made = append(made, t.Name)
		logger.Info("tunnel created", "tunnel", t.Name, "vni", t.VNI, "remote", t.Remote, "local", t.Local, "device", t.Device,
			"dstport", t.Port(), "mtu", d.MTU, "underlay_mtu", d.UnderlayMTU, "gso_max_size", d.GSOMaxSize)
	}
	warnings, err := ts.CheckMTU(all, names)
	if err != nil {
		return undo(err)
	}
	for _, w := range warnings {
		logger.Warn("tunnel MTU (mtu-check: warn)", "err", w)
	}
	return nil
}

// attach attaches the fast path, if any, to port id, and steers its
// receive processing, if configured.
func (sw *Switch) attach(id fdb.PortID, b switching.Backend) error {
	if sw.opts.FastPath != nil {
		if err := sw.opts.FastPath.Attach(id, b); err != nil {
			return err
		}
	}
	if sw.opts.Steering != nil {
		if err := sw.opts.Steering.Steer(b.Name()); err != nil {
			if sw.opts.FastPath != nil {
				err = errors.Join(err, sw.opts.FastPath.Detach(id))
			}
			return err
		}
	}
	return nil
}

// detach detaches the fast path, if any, from port id, and puts back its
// receive steering.
func (sw *Switch) detach(id fdb.PortID) {
	if sw.opts.FastPath != nil {
		if err := sw.opts.FastPath.Detach(id); err != nil {
			sw.logger.Warn("detaching the fast path from a port", "port", sw.engine.PortName(id), "err", err)
		}
	}
	if sw.opts.Steering != nil {
		if err := sw.opts.Steering.Restore(sw.engine.PortName(id)); err != nil {
			sw.logger.Warn("restoring a port's receive steering", "port", sw.engine.PortName(id), "err", err)
		}
	}
}

// Engine returns the switch's engine.
func (sw *Switch) Engine() *switching.Engine { return sw.engine }

// Config returns the configuration the switch runs: the one it started
// with, or the last one a reload applied.
func (sw *Switch) Config() *config.Config {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.config
}

// Run forwards until ctx is done, following the ports' link state, with
// the control socket and the metrics endpoint (if configured) open.
func (sw *Switch) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if sw.opts.WatchLinks != nil {
		if err := sw.opts.WatchLinks(ctx, sw.engine); err != nil {
			sw.logger.Warn("link state is not followed", "err", err)
		}
	}
	c := sw.Config()
	if path := c.ControlSocket.Path; path != "" {
		d := control.Daemon{Config: sw.Document, Datapath: sw.Datapath}
		if sw.opts.Load != nil {
			d.Reload = sw.Reload
		}
		if err := control.Serve(ctx, path, sw.engine, d); err != nil {
			return err
		}
	}
	if addr := c.Metrics.Address; addr != "" {
		a, err := control.ServeMetrics(ctx, addr, sw.engine, sw.Datapath)
		if err != nil {
			return err
		}
		sw.logger.Info("serving metrics", "url", "http://"+a.String()+"/metrics")
	}
	return sw.engine.Run(ctx)
}

// Close closes every port the engine has had, which (for ring ports)
// unmaps the rings and releases promiscuous mode, and the fast path (its
// programs detached from the ports, its maps gone).
func (sw *Switch) Close() {
	if err := sw.engine.Close(); err != nil {
		sw.logger.Warn("closing the ports", "err", err)
	}
	if sw.opts.FastPath != nil {
		if err := sw.opts.FastPath.Close(); err != nil {
			sw.logger.Warn("closing the fast path", "err", err)
		}
	}
	if sw.opts.Steering != nil {
		if err := sw.opts.Steering.Close(); err != nil {
			sw.logger.Warn("restoring the ports' receive steering", "err", err)
		}
	}
	// After the ports: a tunnel goes once nothing reads it.
	if sw.opts.Tunnels != nil {
		if err := sw.opts.Tunnels.Close(); err != nil {
			sw.logger.Warn("removing the tunnels", "err", err)
		}
	}
}

// Document returns the running configuration for `show config`, with the
// guard policies as they are now (runtime rules included).
func (sw *Switch) Document() config.Document {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	doc := sw.config.Document()
	if g := sw.engine.Guard(); g != nil {
		for i, p := range doc.Ports {
			if id, ok := sw.engine.PortID(p.Name); ok {
				doc.Ports[i].Guard = config.PolicyDoc(g.Policy(id))
			}
		}
		for i, t := range doc.Tunnels {
			if id, ok := sw.engine.PortID(t.Name); ok {
				doc.Tunnels[i].Guard = config.PolicyDoc(g.Policy(id))
			}
		}
	}
	return doc
}
