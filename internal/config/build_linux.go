package config

import (
	"log/slog"

	"github.com/snoopswitch/snoopswitch/switch/afpacket"
)

// Ring returns the configuration every port's ring is opened with.
func (c *Config) Ring(logger *slog.Logger) afpacket.Config {
	return afpacket.Config{NoExpress: !c.Datapath.Express, Sendmmsg: c.Datapath.Sendmmsg, Logger: logger}
}
