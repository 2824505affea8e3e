package daemon

import (
	"errors"
	"log/slog"

	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/internal/datapath"
	"github.com/snoopswitch/snoopswitch/internal/tunnel"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/switch/afpacket"
)

// Datapath returns the Options that give a switch c's datapath: the
// Opener of AF_PACKET TPACKET_V3 ring ports, the link watch, the tunnels
// (tunnel.Set, in the process's namespace), and for datapath.mode fast the
// kernel fast path, loaded now (Start takes it over). It checks first that
// the process may open packet sockets at all (afpacket.ErrPermission) and,
// for fast, load eBPF programs (datapath.ErrFastUnavailable: an error, not
// a quiet fall back to the ring, so that a switch configured for the fast
// path never runs without it unnoticed), before any port is touched. For
// auto, the default, a fast path that cannot load here leaves the switch
// on the ring, and Datapath logs once which datapath runs and why. The
// datapath keys only a restart applies, so the Opener serves reloads too.
func Datapath(c *config.Config, logger *slog.Logger) (Options, error) {
	if err := afpacket.CheckPermission(); err != nil {
		return Options{}, err
	}
	ring := c.Ring(logger)
	// Always a Set: a reload may add tunnels to a switch that started
	// without.
	o := Options{Logger: logger, WatchLinks: afpacket.WatchLinks, Tunnels: tunnel.NewSet(tunnel.Options{Logger: logger}),
		Datapath: DatapathChoice{Configured: c.Datapath.Mode, Mode: config.DatapathRing}}
	switch c.Datapath.Mode {
	case config.DatapathRing:
		o.Datapath.Reason = "configured"
	case config.DatapathFast, config.DatapathAuto:
		fast, err := datapath.LoadFast(0, logger)
		switch {
		case err == nil:
			ring = fast.Ring(ring)
			o.FastPath, o.WatchLinks = fast, fast.WatchLinks
			o.Datapath.Mode = config.DatapathFast
			o.Datapath.Reason = "configured"
			if c.Datapath.Mode == config.DatapathAuto {
				o.Datapath.Reason = "eBPF and tcx are available and permitted"
			}
		case c.Datapath.Mode == config.DatapathAuto && errors.Is(err, datapath.ErrFastUnavailable):
			o.Datapath.Reason = "the fast path cannot run here: " + datapath.Unavailable(err)
		default:
			return Options{}, err
		}
	}
	logger.Info("datapath", "mode", o.Datapath.Mode, "configured", o.Datapath.Configured, "reason", o.Datapath.Reason)
	o.Open = func(name string) (switching.Backend, error) {
		return afpacket.Open(name, ring)
	}
	return o, nil
}
