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

// Steering moves the receive processing of the switch's ports to a set
// of CPUs (receive packet steering, fastpath.SteerReceive) and puts back
// each port's old setting when the port goes or the switch stops. On veth
// and tap ports the kernel runs a frame's receive side, the fast path's
// lookup and forwarding with it, in the sender's context: steered, the
// sender's CPU only queues the frame, and another CPU forwards it. Its
// methods are safe for concurrent use.
type Steering struct {
	cpus []int
	// lenient: a port that cannot be steered is logged and left alone
	// (datapath.steer auto) instead of failing its attachment.
	lenient bool
	logger  *slog.Logger

	mu       sync.Mutex
	restores map[string]func() error // by interface name; guarded by mu
	warned   bool                    // guarded by mu
}

// NewSteering steers every port Steer is given to cpus. With lenient, a
// port that cannot be steered (sysfs of another network namespace, no
// permission) is logged once and forwards unsteered.
func NewSteering(cpus []int, lenient bool, logger *slog.Logger) *Steering {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Steering{cpus: cpus, lenient: lenient, logger: logger, restores: make(map[string]func() error)}
}

// CPUs returns the CPUs the ports are steered to.
func (s *Steering) CPUs() []int { return s.cpus }

// Steer steers interface name, remembering its old setting for Restore.
func (s *Steering) Steer(name string) error {
	restore, err := fastpath.SteerReceive(name, s.cpus)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if !s.lenient {
			return fmt.Errorf("datapath.steer: port %q: %w", name, err)
		}
		if !s.warned {
			s.warned = true
			s.logger.Warn("receive steering off: a port cannot be steered (datapath.steer auto); its receive processing stays on the sender's CPU", "port", name, "err", err)
		}
		return nil
	}
	// A port steered before has a new interface (a re-attached port):
	// the old one, and the setting its restore would put back, are gone,
	// and restore read the new one's.
	s.restores[name] = restore
	s.logger.Debug("receive steered", "port", name, "cpus", s.cpus)
	return nil
}

// Restore puts back the setting interface name had before Steer.
func (s *Steering) Restore(name string) error {
	s.mu.Lock()
	restore := s.restores[name]
	delete(s.restores, name)
	s.mu.Unlock()
	if restore == nil {
		return nil
	}
	if err := restore(); err != nil {
		return fmt.Errorf("datapath: restoring the receive steering of %q: %w", name, err)
	}
	return nil
}

// Close restores every port still steered.
func (s *Steering) Close() error {
	s.mu.Lock()
	names := make([]string, 0, len(s.restores))
	for n := range s.restores {
		names = append(names, n)
	}
	s.mu.Unlock()
	var errs []error
	for _, n := range names {
		errs = append(errs, s.Restore(n))
	}
	return errors.Join(errs...)
}

// WatchLinks is afpacket.WatchLinks with what follows the new interface of
// every port it re-attaches: the fast path f attached to it, and its
// receive steered by s; either may be nil.
func WatchLinks(f *Fast, s *Steering) func(ctx context.Context, e *switching.Engine) error {
	return func(ctx context.Context, e *switching.Engine) error {
		return afpacket.LinkWatch{Reattached: func(id fdb.PortID, p *afpacket.Port) {
			if f != nil {
				if err := f.Attach(id, p); err != nil {
					// The port forwards through its ring, as on the ring datapath.
					e.Logger().Warn("fast path not attached to a re-attached port; its frames go through the ring", "port", p.Name(), "err", err)
				}
			}
			if s != nil {
				if err := s.Steer(p.Name()); err != nil {
					e.Logger().Warn("receive steering not applied to a re-attached port", "port", p.Name(), "err", err)
				}
			}
		}}.Run(ctx, e)
	}
}
