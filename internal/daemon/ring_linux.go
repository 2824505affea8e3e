package daemon

import (
	"log/slog"

	"github.com/snoopswitch/snoopswitch/internal/config"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/switch/afpacket"
)

// RingPorts returns the Opener of AF_PACKET TPACKET_V3 ring ports with c's
// datapath settings, after checking that the process may open packet
// sockets at all (afpacket.ErrPermission), before any port is touched.
// The datapath keys only a restart applies, so the Opener serves reloads
// too.
func RingPorts(c *config.Config, logger *slog.Logger) (Opener, error) {
	if err := afpacket.CheckPermission(); err != nil {
		return nil, err
	}
	ring := c.Ring(logger)
	return func(name string) (switching.Backend, error) {
		return afpacket.Open(name, ring)
	}, nil
}
