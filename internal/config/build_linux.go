package config

import (
	"log/slog"

	switching "github.com/snoopswitch/snoopswitch/switch"
)

// Ring returns the configuration every port's ring is opened with.
func (c *Config) Ring(logger *slog.Logger) switching.RingConfig {
	return switching.RingConfig{NoExpress: !c.Datapath.Express, Sendmmsg: c.Datapath.Sendmmsg, Logger: logger}
}
