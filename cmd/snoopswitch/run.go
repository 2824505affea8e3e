package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/internal/control"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
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

// runOptions are the settings of `snoopswitch run`.
type runOptions struct {
	ports     repeated
	agingTime time.Duration
	macLimit  int
	noExpress bool
	sendmmsg  bool
	loops     int
	logLevel  slog.Level
	socket    string

	// snooping
	routerPorts       repeated
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

func (o *runOptions) register(fs *flag.FlagSet) {
	fs.Var(&o.ports, "port", "an interface to bridge (repeat for each port; at least two)")
	fs.DurationVar(&o.agingTime, "aging-time", fdb.DefaultAgingTime, "how long a learned MAC address is kept without traffic from it")
	fs.IntVar(&o.macLimit, "mac-limit", fdb.DefaultPortLimit, "most MAC addresses learned per port; past it frames from new addresses are flooded and counted as fdb-port-limit")
	fs.BoolVar(&o.noExpress, "no-express", false, "receive every frame through the TPACKET_V3 ring, without the low-latency express socket (adds up to the ring's retire timeout to each frame at low rates)")
	fs.BoolVar(&o.sendmmsg, "sendmmsg", false, "send every frame with sendmmsg instead of through each port's PACKET_TX_RING (slower; for measurements, see BENCHMARKS.md)")
	fs.IntVar(&o.loops, "receive-loops", 1, "goroutines that receive for the ports (ports are spread over them); one loop forwards a frame and its reply with one wakeup")
	fs.TextVar(&o.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
	fs.StringVar(&o.socket, "control-socket", control.DefaultSocket, "unix socket that `snoopswitch show` asks; empty: none")

	fs.Var(&o.routerPorts, "router-port", "an interface to bridge that is also a static multicast router port: it gets every report and all multicast data (repeatable)")
	fs.Var(&o.fastLeave, "fast-leave", "a port whose membership ends at once on a leave, without last-member queries: for ports with one host behind them (repeatable)")
	fs.Var(&o.floodUnregistered, "flood-unregistered", "a port that also receives multicast data to groups nobody joined (repeatable)")
	fs.BoolVar(&o.noSnooping, "no-snooping", false, "turn IGMP/MLD snooping off: multicast is flooded like broadcast")
	fs.BoolVar(&o.noGuard, "no-guard", false, "turn the multicast guard off (by default host ports drop queries, PIM and MRD from hosts, check headers and rate-limit control packets; router ports are trusted)")
	fs.BoolVar(&o.noQuerier, "no-querier", false, "never act as IGMP/MLD querier (by default the switch queries while no other querier is heard)")
	fs.StringVar(&o.querierIPv4, "querier-ipv4", "0.0.0.0", "source address of the switch's IGMP queries (0.0.0.0 loses every election)")
	fs.StringVar(&o.querierIPv6, "querier-ipv6", "", "source address of the switch's MLD queries, link-local (default: derived from the switch's MAC; hosts ignore MLD queries from ::)")
	fs.IntVar(&o.igmpVersion, "igmp-version", 3, "IGMP version of the switch's queries: 2 or 3")
	fs.IntVar(&o.mldVersion, "mld-version", 2, "MLD version of the switch's queries: 1 or 2")
	fs.BoolVar(&o.zeroSourceRouters, "zero-source-router-ports", false, "make a port on which a query from 0.0.0.0 or :: arrives a router port (RFC 4541 says not to; such queries always count as a querier being present)")
	fs.Var(&o.ssm, "ssm-range", "a source-specific multicast range where EXCLUDE joins are ignored (RFC 4604); repeatable; default 232.0.0.0/8 and ff30::/12")
	d := snoop.DefaultTimers()
	fs.IntVar(&o.timers.Robustness, "robustness", d.Robustness, "robustness variable (until a querier's QRV is heard)")
	fs.DurationVar(&o.timers.QueryInterval, "query-interval", d.QueryInterval, "query interval (until a querier's QQI is heard)")
	fs.DurationVar(&o.timers.QueryResponseInterval, "query-response-interval", d.QueryResponseInterval, "max response time of general queries")
	fs.DurationVar(&o.timers.LastMemberInterval, "last-member-interval", d.LastMemberInterval, "last member query interval")
}

// validate checks what can be checked before touching the system.
func (o *runOptions) validate() error {
	if n := len(o.ports) + len(o.routerPorts); n < 2 {
		return usagef("a switch needs at least two ports (--port IFACE, repeated); got %d", n)
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
	for _, r := range o.routerPorts {
		if seen[r] {
			return usagef("port %q given twice (--router-port bridges the interface too; do not also give it as --port)", r)
		}
		seen[r] = true
	}
	if len(o.ports)+len(o.routerPorts) > fdb.MaxPorts {
		return usagef("at most %d ports", fdb.MaxPorts)
	}
	for _, set := range []struct {
		flag  string
		ports repeated
	}{{"--fast-leave", o.fastLeave}, {"--flood-unregistered", o.floodUnregistered}} {
		for _, p := range set.ports {
			if !seen[p] {
				return usagef("%s %q is not a port (give it with --port or --router-port)", set.flag, p)
			}
		}
	}
	if o.igmpVersion != 2 && o.igmpVersion != 3 {
		return usagef("--igmp-version %d: 2 or 3", o.igmpVersion)
	}
	if o.mldVersion != 1 && o.mldVersion != 2 {
		return usagef("--mld-version %d: 1 or 2", o.mldVersion)
	}
	if a, err := netip.ParseAddr(o.querierIPv4); err != nil || !a.Is4() {
		return usagef("--querier-ipv4 %q is not an IPv4 address", o.querierIPv4)
	}
	if o.querierIPv6 != "" {
		if a, err := netip.ParseAddr(o.querierIPv6); err != nil || !a.Is6() || !a.IsLinkLocalUnicast() {
			return usagef("--querier-ipv6 %q is not a link-local IPv6 address (fe80::/10): hosts ignore MLD queries from other sources", o.querierIPv6)
		}
	}
	for _, r := range o.ssm {
		if p, err := netip.ParsePrefix(r); err != nil || !p.Addr().IsMulticast() {
			return usagef("--ssm-range %q is not a multicast prefix (like 232.0.0.0/8)", r)
		}
	}
	t := o.timers
	if t.Robustness < 1 || t.QueryInterval <= 0 || t.QueryResponseInterval <= 0 || t.LastMemberInterval <= 0 || t.QueryResponseInterval >= t.QueryInterval {
		return usagef("timers: --robustness must be at least 1, intervals positive, and --query-response-interval below --query-interval")
	}
	return nil
}

// allPorts returns the ports in PortID order: --port ones, then
// --router-port ones.
func (o *runOptions) allPorts() []string {
	return append(append([]string{}, o.ports...), o.routerPorts...)
}

// portSet maps interface names to the set of their PortIDs.
func (o *runOptions) portSet(names []string) fdb.PortSet {
	var s fdb.PortSet
	for i, p := range o.allPorts() {
		if slices.Contains(names, p) {
			s.Add(fdb.PortID(i))
		}
	}
	return s
}

// guard returns the ports' guard policies, nil when the guard is off:
// host-port defaults for --port, router-port defaults for --router-port.
func (o *runOptions) guard() []guard.PortPolicy {
	if o.noGuard || o.noSnooping {
		return nil
	}
	var ps []guard.PortPolicy
	for _, p := range o.allPorts() {
		if slices.Contains(o.routerPorts, p) {
			ps = append(ps, guard.RouterPortDefaults())
		} else {
			ps = append(ps, guard.HostPortDefaults())
		}
	}
	return ps
}

// snooping returns the snooping configuration, nil when it is off.
func (o *runOptions) snooping() *snoop.Config {
	if o.noSnooping {
		return nil
	}
	t := o.timers
	t.LastMemberCount = t.Robustness
	c := &snoop.Config{
		Membership: snoop.MembershipConfig{Timers: t},
		Querier: snoop.QuerierConfig{
			Disabled:    o.noQuerier,
			IPv4Source:  netip.MustParseAddr(o.querierIPv4),
			IGMPVersion: o.igmpVersion,
			MLDVersion:  o.mldVersion,
		},
		StaticRouterPorts:     o.portSet(o.routerPorts),
		ZeroSourceRouterPorts: o.zeroSourceRouters,
		FloodUnregistered:     o.portSet(o.floodUnregistered),
	}
	if o.querierIPv6 != "" {
		c.Querier.IPv6Source = netip.MustParseAddr(o.querierIPv6)
	}
	for _, r := range o.ssm {
		c.Membership.SSM = append(c.Membership.SSM, netip.MustParsePrefix(r))
	}
	if fast := o.portSet(o.fastLeave); !fast.IsEmpty() {
		c.Membership.FastLeave = func(p fdb.PortID) bool { return fast.Has(p) }
	}
	return c
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
	socket string // control socket path; "" for none
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
		Snooping:     o.snooping(),
		Guard:        o.guard(),
	})
	if err != nil {
		return nil, err
	}
	sw := &liveSwitch{engine: e, logger: logger, socket: o.socket}
	for _, name := range o.allPorts() {
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
	if sw.socket != "" {
		if err := control.Serve(ctx, sw.socket, sw.engine); err != nil {
			return err
		}
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
