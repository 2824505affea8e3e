package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/internal/datapath"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/switch/afpacket"
)

// SwitchConfig configures StartSwitch. The zero value gives the defaults of
// `snoopswitch run`, on the datapath SNOOPSWITCH_DATAPATH names.
type SwitchConfig struct {
	Engine switching.Config
	Ring   afpacket.Config
	// Datapath is "ring" (the AF_PACKET rings alone), "fast" (the kernel
	// fast path in front of them, as `snoopswitch run --datapath fast`) or
	// "auto" (fast where the fast path loads, ring where it cannot, as
	// `snoopswitch run` by default); "" is the environment's
	// SNOOPSWITCH_DATAPATH, or auto without it. Switch.Datapath says which
	// runs. With fast or auto, Engine.FlowCache and Ring.SocketFilter must
	// be nil: the fast path brings its own (a test of the ring's own
	// behaviour says ring).
	Datapath string
	// MaxFlows is the fast path's flow table size; 0 is
	// datapath.DefaultMaxFlows.
	MaxFlows int
}

// DatapathEnv names the environment variable that sets the datapath of
// every switch whose SwitchConfig leaves Datapath empty: `make test` runs
// the namespace suites a second time with SNOOPSWITCH_DATAPATH=ring.
const DatapathEnv = "SNOOPSWITCH_DATAPATH"

// DatapathMode returns the datapath a SwitchConfig with Datapath d asks
// for (auto among them).
func DatapathMode(d string) (config.DatapathMode, error) {
	from := "SwitchConfig.Datapath"
	if d == "" {
		d, from = os.Getenv(DatapathEnv), DatapathEnv
	}
	m := config.DatapathAuto
	if d == "" {
		return m, nil
	}
	if err := m.UnmarshalText([]byte(d)); err != nil {
		return m, fmt.Errorf("testenv: %s: %w", from, err)
	}
	return m, nil
}

// A Switch is a snoopswitch engine running in the lab's switch namespace,
// with a ring port on the switch side of every host.
type Switch struct {
	Engine *switching.Engine
	// Ports holds the ring ports in the order of Lab.SwitchPorts (host
	// order, a shared port once): Ports[i] is SwitchPorts()[i].
	Ports []*afpacket.Port
	// Fast is the kernel fast path in front of the ports on the fast
	// datapath; nil on the ring datapath.
	Fast *datapath.Fast
	// Datapath is the datapath that runs, ring or fast (auto is one of
	// them).
	Datapath config.DatapathMode

	stop context.CancelFunc
	done chan error
	once sync.Once
	err  error
}

// StartSwitch opens a port for every switch port of the lab and starts the
// engine, following the ports' link state. The switch runs until Close or
// until the lab closes.
func (l *Lab) StartSwitch(cfg SwitchConfig) (*Switch, error) {
	mode, err := DatapathMode(cfg.Datapath)
	if err != nil {
		return nil, err
	}
	var fast *datapath.Fast
	watch := afpacket.WatchLinks
	if mode != config.DatapathRing {
		switch {
		case cfg.Engine.FlowCache != nil:
			return nil, fmt.Errorf("testenv: SwitchConfig.Engine.FlowCache is set on the %s datapath, whose fast path brings its own (say Datapath: \"ring\")", mode)
		case cfg.Ring.SocketFilter != nil:
			return nil, fmt.Errorf("testenv: SwitchConfig.Ring.SocketFilter is set on the %s datapath, whose fast path brings its own (say Datapath: \"ring\")", mode)
		}
		fast, err = datapath.LoadFast(cfg.MaxFlows, cfg.Engine.Logger)
		switch {
		case err == nil:
			cfg.Engine.FlowCache = fast.FlowCache()
			cfg.Ring = fast.Ring(cfg.Ring)
			watch = fast.WatchLinks
			mode = config.DatapathFast
		case mode == config.DatapathAuto && errors.Is(err, datapath.ErrFastUnavailable):
			mode = config.DatapathRing
		default:
			return nil, fmt.Errorf("testenv: %w", err)
		}
	}
	// The engine is made in the switch namespace too: its default MAC
	// (snoop.SwitchMAC) derives from the namespace, so the switches of a
	// fabric's machines differ as their own `snoopswitch run` would, and
	// their querier election has a tie-break.
	var e *switching.Engine
	err = l.sw.Do(func() error {
		var err error
		e, err = switching.New(cfg.Engine)
		return err
	})
	if err != nil {
		if fast != nil {
			fast.Close()
		}
		return nil, fmt.Errorf("testenv: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sw := &Switch{Engine: e, Fast: fast, Datapath: mode, stop: cancel, done: make(chan error, 1)}
	err = l.sw.Do(func() error {
		for _, name := range l.SwitchPorts() {
			p, err := afpacket.Open(name, cfg.Ring)
			if err != nil {
				return err
			}
			sw.Ports = append(sw.Ports, p)
			id, err := e.AddPort(p)
			if err != nil {
				return err
			}
			// In the switch's namespace, where the port's ifindex is its
			// interface.
			if fast != nil {
				if err := fast.Attach(id, p); err != nil {
					return err
				}
			}
		}
		return watch(ctx, e)
	})
	if err != nil {
		cancel()
		sw.closePorts()
		return nil, fmt.Errorf("testenv: start switch: %w", err)
	}
	go func() { sw.done <- e.Run(ctx) }()
	select {
	case <-e.Forwarding():
	case err := <-sw.done:
		sw.closePorts()
		return nil, fmt.Errorf("testenv: switch stopped at once: %w", err)
	}
	l.mu.Lock()
	l.switches = append(l.switches, sw)
	l.mu.Unlock()
	return sw, nil
}

// StartSwitch starts a switch for a test (see Lab.StartSwitch); the test
// fails if it cannot start, and the switch stops when the test ends.
func StartSwitch(tb testing.TB, l *Lab, cfg SwitchConfig) *Switch {
	tb.Helper()
	sw, err := l.StartSwitch(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := sw.Close(); err != nil {
			tb.Error(err)
		}
	})
	return sw
}

// ErrSlowShutdown is returned by Switch.Close when the engine did not stop
// within a second.
var ErrSlowShutdown = errors.New("testenv: switch did not stop within a second")

// Close stops the engine and closes its ports: rings unmapped, promiscuous
// mode released, the fast path (if any) detached and unloaded. It is
// idempotent.
func (s *Switch) Close() error {
	s.once.Do(func() {
		s.stop()
		select {
		case s.err = <-s.done:
			// The engine closes what it holds, re-attached ports
			// included; closing a port twice does no harm.
			s.err = errors.Join(s.err, s.Engine.Close(), s.closePorts())
		case <-time.After(time.Second):
			// The receive loops may still read the rings: leave them
			// mapped rather than pull the memory from under them.
			s.err = ErrSlowShutdown
		}
	})
	return s.err
}

func (s *Switch) closePorts() error {
	var errs []error
	for _, p := range s.Ports {
		errs = append(errs, p.Close())
	}
	if s.Fast != nil {
		errs = append(errs, s.Fast.Close())
	}
	return errors.Join(errs...)
}
