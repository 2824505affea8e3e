package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/internal/datapath"
	"github.com/snoopswitch/snoopswitch/internal/tunnel"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/switch/afpacket"
)

// Datapath returns the Options that give a switch c's datapath: the
// Opener of AF_PACKET TPACKET_V3 ring ports, the link watch, the tunnels
// (tunnel.Set, in the process's namespace), for datapath.mode fast the
// kernel fast path, loaded now (Start takes it over), and the ports'
// receive steering (datapath.steer). It checks first that the process may
// open packet sockets at all (afpacket.ErrPermission) and, for fast, load
// eBPF programs (datapath.ErrFastUnavailable: an error, not a quiet fall
// back to the ring, so that a switch configured for the fast path never
// runs without it unnoticed), before any port is touched. For auto, the
// default, a fast path that cannot load here leaves the switch on the
// ring, and Datapath logs once which datapath runs and why. The datapath
// keys only a restart applies, so the Opener serves reloads too.
func Datapath(c *config.Config, logger *slog.Logger) (Options, error) {
	if err := afpacket.CheckPermission(); err != nil {
		return Options{}, err
	}
	ring := c.Ring(logger)
	// Always a Set: a reload may add tunnels to a switch that started
	// without.
	o := Options{Logger: logger, Tunnels: tunnel.NewSet(tunnel.Options{Logger: logger}),
		Datapath: DatapathChoice{Configured: c.Datapath.Mode, Mode: config.DatapathRing}}
	var fast *datapath.Fast
	switch c.Datapath.Mode {
	case config.DatapathRing:
		o.Datapath.Reason = "configured"
	case config.DatapathFast, config.DatapathAuto:
		loaded, err := datapath.LoadFast(0, logger)
		switch {
		case err == nil:
			fast = loaded
			ring = fast.Ring(ring)
			o.FastPath = fast
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
	steering, err := steering(c, o.Datapath.Mode, logger)
	if err != nil {
		if fast != nil {
			fast.Close()
		}
		return Options{}, err
	}
	o.WatchLinks = datapath.WatchLinks(fast, steering)
	if steering != nil {
		o.Steering = steering
	}
	logger.Info("datapath", "mode", o.Datapath.Mode, "configured", o.Datapath.Configured, "reason", o.Datapath.Reason)
	o.Open = func(name string) (switching.Backend, error) {
		return afpacket.Open(name, ring)
	}
	return o, nil
}

// steering resolves datapath.steer: nil when no port is to be steered.
// auto steers the ports of the fast datapath (mode: the one that runs) to the CPUs this process may run
// on, where the machine has more than one CPU online: the sender's CPU
// then only queues each frame, and the switch's CPUs forward it (measured
// in BENCHMARKS.md, "Receive steering"). The ring datapath stays
// unsteered under auto: there the frame's copy into the ring is the work
// that would move, onto the CPU the switch's receive loop already fills.
// An explicit list applies to either datapath, and must name CPUs online.
func steering(c *config.Config, mode config.DatapathMode, logger *slog.Logger) (*datapath.Steering, error) {
	auto, cpus, err := c.Datapath.Steer.CPUs()
	if err != nil {
		return nil, fmt.Errorf("config: datapath.steer: %w", err)
	}
	online, err := onlineCPUs()
	if err != nil {
		if auto {
			logger.Warn("receive steering off (datapath.steer auto): the online CPUs are unknown", "err", err)
			return nil, nil
		}
		return nil, fmt.Errorf("config: datapath.steer: %w", err)
	}
	if !auto {
		if len(cpus) == 0 {
			return nil, nil
		}
		for _, cpu := range cpus {
			if !slices.Contains(online, cpu) {
				return nil, fmt.Errorf("config: datapath.steer: CPU %d is not online (online: %s)", cpu, cpuList(online))
			}
		}
		return datapath.NewSteering(cpus, false, logger), nil
	}
	if mode != config.DatapathFast || len(online) < 2 {
		return nil, nil
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		logger.Warn("receive steering off (datapath.steer auto): this process's CPUs are unknown", "err", err)
		return nil, nil
	}
	for _, cpu := range online {
		if set.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	if len(cpus) == 0 {
		return nil, nil
	}
	return datapath.NewSteering(cpus, true, logger), nil
}

// onlineCPUs reads the CPUs the kernel has online.
func onlineCPUs() ([]int, error) {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return nil, err
	}
	_, cpus, err := config.Steer(strings.TrimSpace(string(b))).CPUs()
	return cpus, err
}

// cpuList writes cpus (sorted) in the kernel's list format.
func cpuList(cpus []int) string {
	var parts []string
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, fmt.Sprint(cpus[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", cpus[i], cpus[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}
