package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"text/tabwriter"
	"time"

	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/testenv"
)

func init() {
	commands["lab"] = command{"build a namespace lab, run the switch in it, show it working", labCmd}
}

type labOptions struct {
	hosts  int
	pings  int
	keep   bool
	prefix string
}

func labCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("lab", "snoopswitch lab [--hosts N] [--keep]", stderr)
	var o labOptions
	fs.IntVar(&o.hosts, "hosts", 3, "number of hosts, each in its own namespace behind a switch port")
	fs.IntVar(&o.pings, "pings", 5, "echo requests from every host to every other, IPv4 and IPv6")
	fs.BoolVar(&o.keep, "keep", false, "keep the lab and the switch running until Ctrl-C, to explore it with the printed `ip netns exec` lines")
	fs.StringVar(&o.prefix, "prefix", "", "name prefix of the lab's namespaces and links (default: random \"ss\" + 4 hex digits)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.hosts < 2 || o.hosts > 16 {
		return usagef("--hosts %d: a lab has 2 to 16 hosts", o.hosts)
	}
	if o.pings < 1 {
		return usagef("--pings %d must be at least 1", o.pings)
	}
	return runLab(ctx, o, stdout)
}

// runLab builds the lab, runs the switch, shows the hosts pinging each other
// and what the switch learned, and removes everything it made.
func runLab(ctx context.Context, o labOptions, w io.Writer) (err error) {
	lab, err := testenv.NewLab(testenv.Options{Prefix: o.prefix})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := lab.Close(); cerr != nil && err == nil {
			err = cerr
		}
		fmt.Fprintf(w, "\nRemoved the lab (namespaces %s-*).\n", lab.Prefix())
	}()
	for i := 1; i <= o.hosts; i++ {
		if _, err := lab.AddHost(fmt.Sprintf("h%d", i), testenv.HostOptions{}); err != nil {
			return err
		}
	}
	sw, err := lab.StartSwitch(testenv.SwitchConfig{Engine: switching.Config{
		Logger:   slog.New(slog.DiscardHandler),
		Snooping: &snoop.Config{},
	}})
	if err != nil {
		return err
	}

	fmt.Fprintf(w, "snoopswitch lab: %d hosts on a userspace switch, in namespaces %s-*\n\n", o.hosts, lab.Prefix())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tNAMESPACE\tSWITCH PORT\tMAC\tIPv4\tIPv6")
	for _, h := range lab.Hosts() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", h.Name, h.NS.Name, h.SwitchPort, h.MAC, h.IPv4, h.IPv6)
	}
	tw.Flush()

	fmt.Fprintf(w, "\nPings through the switch (%d each):\n", o.pings)
	failed := 0
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FROM\tTO\tADDRESS\tREPLIES\tRTT p50\tRTT max")
	for _, from := range lab.Hosts() {
		for _, to := range lab.Hosts() {
			if from == to {
				continue
			}
			for _, addr := range []netip.Addr{to.IPv4.Addr(), to.IPv6.Addr()} {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				r, err := from.Ping(addr, o.pings, 10*time.Millisecond, time.Second)
				if err != nil {
					return err
				}
				if r.Received != r.Sent {
					failed++
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\n", from.Name, to.Name, addr, r.Received, r.Sent,
					fmtRTT(r.Percentile(50)), fmtRTT(r.Percentile(100)))
			}
		}
	}
	tw.Flush()

	fmt.Fprintln(w, "\nMAC table the switch learned:")
	writeMACTable(w, sw.Engine)
	fmt.Fprintln(w, "\nPort counters:")
	writePortStats(w, sw.Engine)

	if o.keep {
		fmt.Fprintln(w, "\nThe lab stays up until Ctrl-C. Explore it with:")
		for _, h := range lab.Hosts() {
			fmt.Fprintf(w, "  ip netns exec %s bash    # %s\n", h.NS.Name, h.Name)
		}
		fmt.Fprintf(w, "  ip netns exec %s bash    # the switch's namespace\n", lab.SwitchNS().Name)
		<-ctx.Done()
	}
	if failed > 0 {
		return fmt.Errorf("%d ping runs lost replies", failed)
	}
	return nil
}

func fmtRTT(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(time.Microsecond).String()
}
