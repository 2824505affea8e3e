package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

func init() {
	commands["run"] = command{"bridge interfaces until SIGINT/SIGTERM", runCmd}
}

// portList is a repeatable --port flag.
type portList []string

func (p *portList) String() string { return strings.Join(*p, ",") }
func (p *portList) Set(v string) error {
	if v == "" {
		return fmt.Errorf("empty interface name")
	}
	*p = append(*p, v)
	return nil
}

// runOptions are the settings of `snoopswitch run`.
type runOptions struct {
	ports     portList
	agingTime time.Duration
	macLimit  int
	noExpress bool
	sendmmsg  bool
	loops     int
	logLevel  slog.Level
}

func (o *runOptions) register(fs *flag.FlagSet) {
	fs.Var(&o.ports, "port", "an interface to bridge (repeat for each port; at least two)")
	fs.DurationVar(&o.agingTime, "aging-time", fdb.DefaultAgingTime, "how long a learned MAC address is kept without traffic from it")
	fs.IntVar(&o.macLimit, "mac-limit", fdb.DefaultPortLimit, "most MAC addresses learned per port; past it frames from new addresses are flooded and counted as fdb-port-limit")
	fs.BoolVar(&o.noExpress, "no-express", false, "receive every frame through the TPACKET_V3 ring, without the low-latency express socket (adds up to the ring's retire timeout to each frame at low rates)")
	fs.BoolVar(&o.sendmmsg, "sendmmsg", false, "send every frame with sendmmsg instead of through each port's PACKET_TX_RING (slower; for measurements, see BENCHMARKS.md)")
	fs.IntVar(&o.loops, "receive-loops", 1, "goroutines that receive for the ports (ports are spread over them); one loop forwards a frame and its reply with one wakeup")
	fs.TextVar(&o.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
}

// validate checks what can be checked before touching the system.
func (o *runOptions) validate() error {
	if len(o.ports) < 2 {
		return usagef("a switch needs at least two ports (--port IFACE, repeated); got %d", len(o.ports))
	}
	seen := make(map[string]bool)
	for _, p := range o.ports {
		if seen[p] {
			return usagef("port %q given twice", p)
		}
		seen[p] = true
	}
	if o.agingTime <= 0 {
		return usagef("--aging-time %v must be positive", o.agingTime)
	}
	if o.loops < 1 {
		return usagef("--receive-loops %d must be at least 1", o.loops)
	}
	if o.macLimit <= 0 {
		return usagef("--mac-limit %d must be positive", o.macLimit)
	}
	return nil
}

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", "snoopswitch run --port IFACE --port IFACE [--port IFACE ...] [flags]", stderr)
	var o runOptions
	o.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel})).With("pid", os.Getpid())
	sw, err := startSwitch(o, logger)
	if err != nil {
		return err
	}
	defer sw.close()

	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	go func() {
		for range usr1 {
			writeStatus(stderr, sw.engine)
		}
	}()

	err = sw.run(ctx)
	logger.Info("switch stopped")
	return err
}

// liveSwitch is an engine with its ring ports open.
type liveSwitch struct {
	engine *switching.Engine
	ports  []*switching.RingPort
	logger *slog.Logger
}

// startSwitch opens every port (all or nothing) and builds the engine.
func startSwitch(o runOptions, logger *slog.Logger) (*liveSwitch, error) {
	if err := switching.CheckPermission(); err != nil {
		return nil, err
	}
	e, err := switching.New(switching.Config{
		MACTable:     fdb.Config{AgingTime: o.agingTime, PortLimit: o.macLimit},
		Logger:       logger,
		ReceiveLoops: o.loops,
	})
	if err != nil {
		return nil, err
	}
	sw := &liveSwitch{engine: e, logger: logger}
	for _, name := range o.ports {
		p, err := switching.OpenRingPort(name, switching.RingConfig{NoExpress: o.noExpress, Sendmmsg: o.sendmmsg, Logger: logger})
		if err != nil {
			sw.close()
			return nil, err
		}
		sw.ports = append(sw.ports, p)
		if _, err := e.AddPort(p); err != nil {
			sw.close()
			return nil, err
		}
	}
	return sw, nil
}

// run forwards until ctx is done, following the ports' link state.
func (sw *liveSwitch) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := switching.WatchLinks(ctx, sw.engine); err != nil {
		sw.logger.Warn("link state is not followed", "err", err)
	}
	return sw.engine.Run(ctx)
}

// close unmaps the rings and closes the sockets, which releases
// promiscuous mode.
func (sw *liveSwitch) close() {
	for _, p := range sw.ports {
		if err := p.Close(); err != nil {
			sw.logger.Warn("closing port", "port", p.Name(), "err", err)
		}
	}
	sw.ports = nil
}
