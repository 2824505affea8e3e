package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/internal/daemon"
	"github.com/snoopswitch/snoopswitch/snoop"
)

func init() {
	commands["run"] = command{"bridge interfaces until SIGINT/SIGTERM", runCmd}
}

// repeated is a flag that may be given many times.
type repeated []string

func (p *repeated) String() string { return strings.Join(*p, ",") }
func (p *repeated) Set(v string) error {
	if v == "" {
		return fmt.Errorf("empty interface name")
	}
	*p = append(*p, v)
	return nil
}

// runOptions are the flags of `snoopswitch run`. Each sets one key of the
// configuration (flagKeys) and, given on the command line, overrides the
// --config file.
type runOptions struct {
	configFile string

	ports     repeated
	agingTime time.Duration
	macLimit  int
	datapath  config.DatapathMode
	noExpress bool
	sendmmsg  bool
	loops     int
	steer     string
	logLevel  slog.Level
	socket    string
	metrics   string

	// snooping
	routerPorts       repeated
	switchPorts       repeated
	fastLeave         repeated
	floodUnregistered repeated
	noSnooping        bool
	noGuard           bool
	noQuerier         bool
	querierIPv4       string
	querierIPv6       string
	igmpVersion       int
	mldVersion        int
	zeroSourceRouters bool
	ssm               repeated // prefixes
	timers            snoop.Timers
}

// flagKeys names the configuration key each flag of run sets.
var flagKeys = map[string]string{
	"port":                     "ports[].name",
	"router-port":              "ports[].role",
	"switch-port":              "ports[].role",
	"fast-leave":               "ports[].fast-leave",
	"flood-unregistered":       "ports[].flood-unregistered",
	"aging-time":               "limits.mac-aging-time",
	"mac-limit":                "limits.mac-per-port",
	"datapath":                 "datapath.mode",
	"no-express":               "datapath.express",
	"sendmmsg":                 "datapath.sendmmsg",
	"receive-loops":            "datapath.receive-loops",
	"steer":                    "datapath.steer",
	"log-level":                "logging.level",
	"control-socket":           "control-socket.path",
	"metrics-address":          "metrics.address",
	"no-snooping":              "snooping.enabled",
	"no-guard":                 "guard.enabled",
	"no-querier":               "querier.enabled",
	"querier-ipv4":             "querier.ipv4-source",
	"querier-ipv6":             "querier.ipv6-source",
	"igmp-version":             "snooping.igmp-version",
	"mld-version":              "snooping.mld-version",
	"zero-source-router-ports": "snooping.zero-source-router-ports",
	"ssm-range":                "snooping.ssm-ranges",
	"robustness":               "snooping.robustness",
	"query-interval":           "snooping.query-interval",
	"query-response-interval":  "snooping.query-response-interval",
	"last-member-interval":     "snooping.last-member-interval",
}

func (o *runOptions) register(fs *flag.FlagSet) {
	d := config.Default()
	fs.StringVar(&o.configFile, "config", "", "configuration file (YAML; examples/snoopswitch.yaml lists every key); flags given on the command line override it, and --port/--router-port/--switch-port add ports to it")
	fs.Var(&o.ports, "port", "an interface to bridge (repeat for each port; at least two)")
	fs.DurationVar(&o.agingTime, "aging-time", d.Limits.MACAgingTime, "how long a learned MAC address is kept without traffic from it")
	fs.IntVar(&o.macLimit, "mac-limit", d.Limits.MACPerPort, "most MAC addresses learned per port; past it frames from new addresses are flooded and counted as fdb-port-limit")
	fs.TextVar(&o.datapath, "datapath", d.Datapath.Mode, "how frames cross the switch: auto (fast where it can run, ring where it cannot; logged once with the reason), ring (every frame up the AF_PACKET rings to the switch; the reference) or fast (the rings plus the kernel fast path: an eBPF program at each port's tc ingress forwards later frames of the flows the switch decided; needs Linux 6.6 and root, or CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN, and refuses to start without them)")
	fs.BoolVar(&o.noExpress, "no-express", !d.Datapath.Express, "receive every frame through the TPACKET_V3 ring, without the low-latency express socket (adds up to the ring's retire timeout to each frame at low rates)")
	fs.BoolVar(&o.sendmmsg, "sendmmsg", d.Datapath.Sendmmsg, "send every frame with sendmmsg instead of through each port's PACKET_TX_RING (slower; for measurements, see BENCHMARKS.md)")
	fs.IntVar(&o.loops, "receive-loops", d.Datapath.ReceiveLoops, "goroutines that receive for the ports (ports are spread over them); one loop forwards a frame and its reply with one wakeup")
	fs.StringVar(&o.steer, "steer", string(d.Datapath.Steer), "the CPUs each port's receive processing (and the kernel fast path's forwarding) runs on, by receive packet steering: auto (on the fast datapath, the CPUs this process may run on, as taskset sets them; the ring datapath is left alone), off, or a list such as 1 or 0-3,6; the old setting is put back at exit")
	fs.TextVar(&o.logLevel, "log-level", d.Logging.Level, "log level: debug, info, warn, error")
	fs.StringVar(&o.socket, "control-socket", d.ControlSocket.Path, "unix socket that 'snoopswitch show' asks; empty: none")
	fs.StringVar(&o.metrics, "metrics-address", d.Metrics.Address, "host:port to serve Prometheus metrics on at /metrics (such as 127.0.0.1:9310); empty: none")

	fs.Var(&o.routerPorts, "router-port", "an interface to bridge that is also a static multicast router port: it gets every report and all multicast data (repeatable)")
	fs.Var(&o.switchPorts, "switch-port", "an interface to bridge that links to another snooping switch of the same fabric (a VXLAN tunnel to another machine): the fabric's queries, PIM and MRD pass it and make it a router port while they keep coming, reports beyond it make memberships on it (repeatable)")
	fs.Var(&o.fastLeave, "fast-leave", "a port whose membership ends at once on a leave, without last-member queries: for ports with one host behind them (repeatable)")
	fs.Var(&o.floodUnregistered, "flood-unregistered", "a port that also receives multicast data to groups nobody joined (repeatable)")
	fs.BoolVar(&o.noSnooping, "no-snooping", !d.Snooping.Enabled, "turn IGMP/MLD snooping off: multicast is flooded like broadcast")
	fs.BoolVar(&o.noGuard, "no-guard", !d.Guard.Enabled, "turn the multicast guard off (by default host ports drop queries, PIM and MRD from hosts, check headers and rate-limit control packets; router ports are trusted)")
	fs.BoolVar(&o.noQuerier, "no-querier", !d.Querier.Enabled, "never act as IGMP/MLD querier (by default the switch queries while no other querier is heard)")
	fs.StringVar(&o.querierIPv4, "querier-ipv4", d.Querier.IPv4Source.String(), "source address of the switch's IGMP queries (0.0.0.0 loses every election)")
	fs.StringVar(&o.querierIPv6, "querier-ipv6", "", "source address of the switch's MLD queries, link-local (default: derived from the switch's MAC; hosts ignore MLD queries from ::)")
	fs.IntVar(&o.igmpVersion, "igmp-version", d.Snooping.IGMPVersion, "IGMP version of the switch's queries: 2 or 3")
	fs.IntVar(&o.mldVersion, "mld-version", d.Snooping.MLDVersion, "MLD version of the switch's queries: 1 or 2")
	fs.BoolVar(&o.zeroSourceRouters, "zero-source-router-ports", d.Snooping.ZeroSourceRouterPorts, "make a port on which a query from 0.0.0.0 or :: arrives a router port (RFC 4541 says not to; such queries always count as a querier being present)")
	fs.Var(&o.ssm, "ssm-range", "a source-specific multicast range where EXCLUDE joins are ignored (RFC 4604); repeatable; default 232.0.0.0/8 and ff3x::/32")
	t := d.Snooping.Timers
	fs.IntVar(&o.timers.Robustness, "robustness", t.Robustness, "robustness variable (until a querier's QRV is heard)")
	fs.DurationVar(&o.timers.QueryInterval, "query-interval", t.QueryInterval, "query interval (until a querier's QQI is heard)")
	fs.DurationVar(&o.timers.QueryResponseInterval, "query-response-interval", t.QueryResponseInterval, "max response time of general queries")
	fs.DurationVar(&o.timers.LastMemberInterval, "last-member-interval", t.LastMemberInterval, "last member query interval")
	fs.VisitAll(func(f *flag.Flag) {
		if k, ok := flagKeys[f.Name]; ok {
			f.Usage += " [file: " + k + "]"
		}
	})
}

// configuration returns the switch's configuration: the --config file, or
// the defaults, with the flags given on the command line applied over it.
// --port, --router-port and --switch-port add ports after the file's, or
// set the role of one the file lists.
func (o *runOptions) configuration(fs *flag.FlagSet) (*config.Config, error) {
	seen := make(map[string]bool)
	for _, p := range o.ports {
		if seen[p] {
			return nil, usagef("port %q given twice", p)
		}
		seen[p] = true
	}
	for _, flags := range []struct {
		name  string
		ports repeated
	}{{"router-port", o.routerPorts}, {"switch-port", o.switchPorts}} {
		for _, r := range flags.ports {
			if seen[r] {
				return nil, usagef("port %q given twice (--%s bridges the interface too; give each interface once, with one of --port, --router-port or --switch-port)", r, flags.name)
			}
			seen[r] = true
		}
	}

	c := config.Default()
	if o.configFile != "" {
		var err error
		if c, err = config.Load(o.configFile); err != nil {
			if errors.As(err, new(config.Errors)) {
				return nil, usageError{err}
			}
			return nil, err
		}
	}
	for _, p := range o.ports {
		c.SetPort(p, config.RoleHost)
	}
	for _, p := range o.routerPorts {
		c.SetPort(p, config.RoleRouter)
	}
	for _, p := range o.switchPorts {
		c.SetPort(p, config.RoleSwitch)
	}

	var err error
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) {
		set[f.Name] = true
		if err == nil {
			err = o.apply(f.Name, c)
		}
	})
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, flagErrors(err, set)
	}
	return c, nil
}

// apply sets c's key of the flag name from its value.
func (o *runOptions) apply(name string, c *config.Config) error {
	s := &c.Snooping
	switch name {
	case "fast-leave", "flood-unregistered":
		list := o.fastLeave
		if name == "flood-unregistered" {
			list = o.floodUnregistered
		}
		for _, n := range list {
			p := c.Port(n)
			if p == nil {
				return usagef("--%s %q is not a port (give it with --port, --router-port or --switch-port, or list it under ports: in the --config file)", name, n)
			}
			if name == "fast-leave" {
				p.FastLeave = true
			} else {
				p.FloodUnregistered = true
			}
		}
	case "aging-time":
		c.Limits.MACAgingTime = o.agingTime
	case "mac-limit":
		c.Limits.MACPerPort = o.macLimit
	case "datapath":
		c.Datapath.Mode = o.datapath
	case "no-express":
		c.Datapath.Express = !o.noExpress
	case "sendmmsg":
		c.Datapath.Sendmmsg = o.sendmmsg
	case "receive-loops":
		c.Datapath.ReceiveLoops = o.loops
	case "steer":
		c.Datapath.Steer = config.Steer(o.steer)
	case "log-level":
		c.Logging.Level = o.logLevel
	case "control-socket":
		c.ControlSocket.Path = o.socket
	case "metrics-address":
		c.Metrics.Address = o.metrics
	case "no-snooping":
		s.Enabled = !o.noSnooping
	case "no-guard":
		c.Guard.Enabled = !o.noGuard
	case "no-querier":
		c.Querier.Enabled = !o.noQuerier
	case "querier-ipv4":
		a, err := netip.ParseAddr(o.querierIPv4)
		if err != nil {
			return usagef("--querier-ipv4 %q is not an IPv4 address", o.querierIPv4)
		}
		c.Querier.IPv4Source = a
	case "querier-ipv6":
		var a netip.Addr
		if o.querierIPv6 != "" {
			var err error
			if a, err = netip.ParseAddr(o.querierIPv6); err != nil {
				return usagef("--querier-ipv6 %q is not a link-local IPv6 address (fe80::/10): hosts ignore MLD queries from other sources", o.querierIPv6)
			}
		}
		c.Querier.IPv6Source = a
	case "igmp-version":
		s.IGMPVersion = o.igmpVersion
	case "mld-version":
		s.MLDVersion = o.mldVersion
	case "zero-source-router-ports":
		s.ZeroSourceRouterPorts = o.zeroSourceRouters
	case "ssm-range":
		s.SSMRanges = nil
		for _, r := range o.ssm {
			p, err := netip.ParsePrefix(r)
			if err != nil {
				return usagef("--ssm-range %q is not a multicast prefix (like 232.0.0.0/8)", r)
			}
			s.SSMRanges = append(s.SSMRanges, p)
		}
	case "robustness":
		s.Timers.Robustness = o.timers.Robustness
	case "query-interval":
		s.Timers.QueryInterval = o.timers.QueryInterval
	case "query-response-interval":
		s.Timers.QueryResponseInterval = o.timers.QueryResponseInterval
	case "last-member-interval":
		s.Timers.LastMemberInterval = o.timers.LastMemberInterval
	}
	return nil
}

// flagErrors turns Validate's errors into usage errors that name the flag
// where a flag given on the command line set the key.
func flagErrors(err error, set map[string]bool) error {
	var es config.Errors
	if !errors.As(err, &es) {
		return err
	}
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
		key, _, _ := strings.Cut(e.Key, "[") // snooping.ssm-ranges[1]
		for f, k := range flagKeys {
			if k == key && set[f] {
				lines[i] = fmt.Sprintf("--%s %s", f, e.Msg)
			}
		}
	}
	return usagef("%s", strings.Join(lines, "\n"))
}

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", "snoopswitch run --port IFACE --port IFACE [--port IFACE ...] [flags]\n  snoopswitch run --config FILE [flags]", stderr)
	var o runOptions
	o.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := o.configuration(fs)
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	level.Set(c.Logging.Level)
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})).With("pid", os.Getpid())
	opts, err := daemon.Datapath(c, logger)
	if err != nil {
		return err
	}
	// A reload reads the file again, with the same flags over it.
	opts.Load = func() (*config.Config, error) { return o.configuration(fs) }
	opts.Level = level
	sw, err := daemon.Start(c, opts)
	if err != nil {
		return err
	}
	defer sw.Close()

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGUSR1, syscall.SIGHUP)
	defer signal.Stop(signals)
	go func() {
		for sig := range signals {
			if sig == syscall.SIGUSR1 {
				if err := sw.WriteStatus(stderr); err != nil {
					logger.Error("SIGUSR1", "err", err)
				}
				continue
			}
			if _, err := sw.Reload(); err != nil {
				logger.Error("SIGHUP", "err", err)
			}
		}
	}()

	err = sw.Run(ctx)
	logger.Info("switch stopped")
	return err
}
