package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/internal/control"
	"github.com/snoopswitch/snoopswitch/internal/lab"
)

func init() {
	commands["lab"] = command{"build a namespace lab around the switch and show multicast snooping and the guard at work", labCmd}
}

type labOptions struct {
	topology string // a file; "" is the embedded default
	pings    int
	keep     bool
	prefix   string
	fabric   bool
	datapath config.DatapathMode
}

func labCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("lab", "snoopswitch lab [--fabric | --topology FILE] [--datapath auto|ring|fast] [--keep] [--prefix P] [--pings N] [--print-default]", stderr)
	var o labOptions
	fs.StringVar(&o.topology, "topology", "", "build the lab of this topology file instead of the built-in default (--print-default shows the format)")
	printDefault := fs.Bool("print-default", false, "print the built-in default topology (with --fabric: the fabric), with comments describing the format, and exit")
	fs.BoolVar(&o.fabric, "fabric", false, "build the built-in fabric instead: three machines over VXLAN tunnels, each running its own snoopswitch run, against a flooding fabric (a topology file with machines is a fabric too)")
	fs.IntVar(&o.pings, "pings", 3, "echo requests from every host to the next, over IPv4 and IPv6")
	fs.BoolVar(&o.keep, "keep", false, "keep the lab and the switch running until Ctrl-C, to explore it with the printed ip netns exec lines")
	o.datapath = config.DatapathAuto
	fs.TextVar(&o.datapath, "datapath", o.datapath, "the switch's datapath, as run's --datapath: auto (fast where the kernel fast path can run, ring where it cannot), ring or fast")
	fs.StringVar(&o.prefix, "prefix", "", "name prefix of the lab's namespaces and links (default: random \"ss\" + 4 hex digits)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *printDefault {
		text := lab.DefaultYAML()
		if o.fabric {
			text = lab.FabricYAML()
		}
		_, err := stdout.Write(text)
		return err
	}
	if o.fabric && o.topology != "" {
		return usagef("--fabric builds the built-in fabric and --topology a file's: give one")
	}
	if o.pings < 0 {
		return usagef("--pings %d: use 0 (no pings) or more", o.pings)
	}
	topo := lab.Default()
	if o.fabric {
		topo = lab.Fabric()
	}
	if o.topology != "" {
		data, err := os.ReadFile(o.topology)
		if err != nil {
			return fmt.Errorf("topology: %w", err)
		}
		if topo, err = lab.Parse(o.topology, data); err != nil {
			return usageError{err}
		}
	}
	if topo.IsFabric() {
		return runFabricLab(ctx, topo, o, stdout)
	}
	return runLab(ctx, topo, o, stdout)
}

// errInterrupted is runLab's error when Ctrl-C (or SIGTERM) stopped it.
var errInterrupted = errors.New("interrupted")

// runLab builds the lab, runs it, prints the report, and removes everything
// it made, also when ctx is cancelled (Ctrl-C) midway.
func runLab(ctx context.Context, topo *lab.Topology, o labOptions, w io.Writer) (err error) {
	start := time.Now()
	l, err := lab.Build(topo, o.prefix, o.datapath.String())
	if err != nil {
		return err
	}
	prefix := l.Env.Prefix()
	defer func() {
		if cerr := l.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		fmt.Fprintf(w, "\nRemoved the lab (namespaces %s-*).\n", prefix)
	}()
	fmt.Fprintf(w, "snoopswitch lab: %d hosts on snoopswitch (running in this process, datapath %s%s), in namespaces %s-*\n\n",
		len(topo.Hosts), l.Switch.Datapath, autoNote(o.datapath), prefix)

	report, err := l.Run(ctx, o.pings)
	if ctx.Err() != nil {
		return errInterrupted
	}
	if err != nil {
		return err
	}
	report.Write(w)
	failures := report.Failures()
	if len(failures) == 0 {
		fmt.Fprintf(w, "\nResult: every host got exactly the datagrams it asked for, and no other; %s (%.1f s).\n", attacksVerdict(topo), time.Since(start).Seconds())
	} else {
		fmt.Fprintf(w, "\nResult: FAILED (%.1f s):\n", time.Since(start).Seconds())
		for _, f := range failures {
			fmt.Fprintf(w, "  - %s\n", f)
		}
	}

	if o.keep {
		if err := keepLab(ctx, l, w); err != nil {
			return err
		}
	}
	if len(failures) > 0 {
		return fmt.Errorf("the lab did not show what it should: %s", strings.Join(failures, "; "))
	}
	return nil
}

// autoNote says that auto chose the datapath.
func autoNote(d config.DatapathMode) string {
	if d == config.DatapathAuto {
		return " by auto"
	}
	return ""
}

func attacksVerdict(topo *lab.Topology) string {
	if len(topo.Attacks) == 0 {
		return "no attacks in this topology"
	}
	return "the guard stopped every attack"
}

// keepLab holds the topology's memberships again, prints how to explore the
// lab, and waits for Ctrl-C.
func keepLab(ctx context.Context, l *lab.Lab, w io.Writer) error {
	if err := l.HoldJoins(); err != nil {
		return err
	}
	socket := filepath.Join(filepath.Dir(config.DefaultControlSocket), "lab-"+l.Env.Prefix()+".sock")
	if err := control.Serve(ctx, socket, l.Switch.Engine, control.Daemon{}); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nThe lab stays up, its hosts joined to their groups again, until Ctrl-C. Explore it:")
	fmt.Fprintf(w, "  snoopswitch show groups --control-socket %s    # or ports, fdb, routers, querier, counters\n", socket)
	for _, h := range l.Hosts() {
		fmt.Fprintf(w, "  ip netns exec %-16s bash    # %s: %s, %s\n", h.NS.Name, h.Name, h.IPv4.Addr(), h.IPv6.Addr())
	}
	fmt.Fprintf(w, "  ip netns exec %-16s bash    # the switch side of every link\n", l.Env.SwitchNS().Name)
	h := l.Hosts()[len(l.Hosts())-1]
	fmt.Fprintf(w, "  ip netns exec %s tcpdump -ni eth0 igmp or icmp6    # watch the queries\n", h.NS.Name)
	<-ctx.Done()
	return nil
}

// runFabricLab builds the fabric, runs it over a flooding fabric and the
// snooping fabric, prints the report, and removes everything it made, also
// when ctx is cancelled (Ctrl-C) midway.
func runFabricLab(ctx context.Context, topo *lab.Topology, o labOptions, w io.Writer) (err error) {
	start := time.Now()
	if o.keep {
		return usagef("--keep: a fabric lab stops its switch processes after each run; explore one with the printed ip netns exec lines of a plain lab, or build your own from README's \"Across machines\"")
	}
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("lab: the snoopswitch program the machines run: %w", err)
	}
	l, err := lab.BuildFabric(topo, o.prefix, bin)
	if err != nil {
		return err
	}
	l.Datapath = o.datapath.String()
	prefix := l.Env.Prefix()
	defer func() {
		if cerr := l.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		fmt.Fprintf(w, "\nRemoved the fabric (namespaces %s*).\n", prefix)
	}()
	fmt.Fprintf(w, "snoopswitch lab: a fabric of %d machines and %d hosts, each machine running %s run --datapath %s, in namespaces %s*\n\n", len(topo.Machines), len(topo.Hosts), filepath.Base(bin), l.Datapath, prefix)
	report, err := l.Run(ctx, o.pings)
	if ctx.Err() != nil {
		return errInterrupted
	}
	if err != nil {
		return err
	}
	report.Write(w)
	failures := report.Failures()
	flooding, snooping := report.Saved()
	if len(failures) == 0 {
		fmt.Fprintf(w, "\nResult: every host got exactly the datagrams it asked for, and no other; the tunnels carried %d datagrams where a flooding fabric carries %d (%.1f s).\n", snooping, flooding, time.Since(start).Seconds())
		return nil
	}
	fmt.Fprintf(w, "\nResult: FAILED (%.1f s):\n", time.Since(start).Seconds())
	for _, f := range failures {
		fmt.Fprintf(w, "  - %s\n", f)
	}
	return fmt.Errorf("the fabric lab did not show what it should: %s", strings.Join(failures, "; "))
}
