package lab

import (
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/snoopswitch/snoopswitch/internal/control"
)

// FabricReport is what a fabric lab counted: the snooping fabric's run as
// a Report (every host's datagrams; its Querier names each machine's),
// and for both fabrics the frames of every stream that crossed every
// tunnel.
type FabricReport struct {
	*Report
	// Prefix starts the names of the fabric's namespaces and links.
	Prefix string
	// Machines are the machines in order, Tunnels every tunnel direction.
	Machines []MachineInfo
	Tunnels  []TunnelInfo
	// Crossed[f][i][k] counts the datagrams of Streams[i] that crossed
	// Tunnels[k] in fabric f (0: FloodingFabric, 1: SnoopingFabric).
	Crossed [2][][]int
	// FloodingReceived is Report.Received over the flooding fabric.
	FloodingReceived [][]int
	// Queriers[f][m] is what machine m's switch said of the querier
	// election once fabric f's streams had run.
	Queriers [2][][]control.QuerierState
}

// MachineInfo is what the report shows of a machine.
type MachineInfo struct {
	Name      string
	Namespace string
	Underlay  netip.Prefix
	Hosts     []string
}

// TunnelInfo is one direction of a tunnel: frames from From's switch to
// To's, counted where they arrive, on Device in To's namespace.
type TunnelInfo struct {
	From, To string
	Device   string
	VNI      int
}

// floodingRun and snoopingRun index Crossed and Queriers.
const (
	floodingRun = 0
	snoopingRun = 1
)

// querierSummary says which querier the machines name in the snooping
// fabric, per family: one switch that is the querier and the same address
// named by every other machine, or what each says when they disagree.
func (r *FabricReport) querierSummary() string {
	var parts []string
	for _, fam := range []string{"igmp", "mld"} {
		proto := "IGMP"
		if fam == "mld" {
			proto = "MLD"
		}
		var selves, each []string
		addrs := make(map[string]bool)
		for m, qs := range r.Queriers[snoopingRun] {
			for _, q := range qs {
				if q.VLAN != 0 || q.Family != fam {
					continue
				}
				name := r.Machines[m].Name
				addrs[q.Querier] = true
				if q.Self {
					selves = append(selves, name)
					each = append(each, fmt.Sprintf("%s itself (%s)", name, q.Querier))
				} else {
					each = append(each, fmt.Sprintf("%s names %s", name, q.Querier))
				}
			}
		}
		switch {
		case len(addrs) == 1 && len(selves) == 1:
			parts = append(parts, fmt.Sprintf("%s: %s's switch, from %s, named by every machine", proto, selves[0], strings.Join(slices.Collect(maps.Keys(addrs)), "")))
		case len(addrs) == 1 && len(selves) == 0:
			parts = append(parts, fmt.Sprintf("%s: %s, no switch, named by every machine", proto, strings.Join(slices.Collect(maps.Keys(addrs)), "")))
		default:
			parts = append(parts, fmt.Sprintf("%s: NOT ONE (%s)", proto, strings.Join(each, "; ")))
		}
	}
	return "the fabric's; " + strings.Join(parts, "; ")
}

// Failures lists what went wrong in the snooping fabric (Report.Failures:
// hosts that missed datagrams they asked for or got others, lost pings),
// and machines that name different queriers.
func (r *FabricReport) Failures() []string {
	out := r.Report.Failures()
	if strings.Contains(r.Querier, "NOT ONE") {
		out = append(out, "the machines name different queriers: "+r.Querier)
	}
	return out
}

// Saved returns the datagrams that crossed the tunnels over the flooding
// fabric and over the snooping fabric, all streams and tunnels together.
func (r *FabricReport) Saved() (flooding, snooping int) {
	for i := range r.Topology.Streams {
		for k := range r.Tunnels {
			flooding += r.Crossed[floodingRun][i][k]
			snooping += r.Crossed[snoopingRun][i][k]
		}
	}
	return flooding, snooping
}

// Write prints the report: the machines and tunnels, the hosts and what
// they received (Report.Write), the datagrams on each tunnel in both
// fabrics, and each machine's querier.
func (r *FabricReport) Write(w io.Writer) {
	t := r.Topology
	shape := "a star, every machine to " + t.Machines[0]
	if t.Tunnels == TunnelsFullMesh {
		shape = "a full mesh, split horizon on every tunnel"
	}
	fmt.Fprintf(w, "Machines (%s), each a namespace with its own underlay address, running its own `snoopswitch run`:\n", t.Name)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  MACHINE\tNAMESPACE\tUNDERLAY\tHOSTS")
	for _, m := range r.Machines {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", m.Name, m.Namespace, m.Underlay, strings.Join(m.Hosts, ", "))
	}
	tw.Flush()
	fmt.Fprintf(w, "Tunnels (%s): point-to-point VXLAN, learning off, a VNI each, a switch port at both ends:\n", shape)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for k, tn := range r.Tunnels {
		if k%2 == 1 {
			continue // the ends of a tunnel are adjacent
		}
		o := r.Tunnels[k+1]
		fmt.Fprintf(tw, "  %s <-> %s\tVNI %d\t%s on %s, %s on %s\n", tn.To, tn.From, tn.VNI, tn.Device, tn.To, o.Device, o.To)
	}
	tw.Flush()
	fmt.Fprintln(w)
	r.Report.Write(w)
	r.writeTunnels(w)
	r.writeQueriers(w)
}

// writeTunnels prints, per stream, the datagrams that crossed each tunnel
// direction over the flooding fabric and over the snooping fabric.
func (r *FabricReport) writeTunnels(w io.Writer) {
	fmt.Fprintln(w, "\nDatagrams of each stream that crossed each tunnel, counted where they arrive,")
	fmt.Fprintf(w, "flooding fabric (the tunnels as --router-port) / snooping fabric (--switch-port):\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "  STREAM\t")
	for _, tn := range r.Tunnels {
		fmt.Fprintf(tw, "%s->%s\t", tn.From, tn.To)
	}
	fmt.Fprintln(tw, "ALL\t")
	for i, s := range r.Topology.Streams {
		fmt.Fprintf(tw, "  %s\t", s.Name())
		var f, n int
		for k := range r.Tunnels {
			a, b := r.Crossed[floodingRun][i][k], r.Crossed[snoopingRun][i][k]
			f, n = f+a, n+b
			fmt.Fprintf(tw, "%d / %d\t", a, b)
		}
		fmt.Fprintf(tw, "%d / %d\t\n", f, n)
	}
	tw.Flush()
	flooding, snooping := r.Saved()
	pct := 0.0
	if flooding > 0 {
		pct = 100 * float64(flooding-snooping) / float64(flooding)
	}
	fmt.Fprintf(w, "Frames saved on the tunnels: %d of %d (%.0f%%) against the flooding fabric.\n", flooding-snooping, flooding, pct)
}

// writeQueriers prints each machine's querier election, in both fabrics.
func (r *FabricReport) writeQueriers(w io.Writer) {
	fmt.Fprintln(w, "\nThe querier each machine's switch names (snoopswitch show querier), snooping fabric [flooding fabric]:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  MACHINE\tIGMP\tMLD")
	for m, info := range r.Machines {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", info.Name, r.querierCell(m, "igmp"), r.querierCell(m, "mld"))
	}
	tw.Flush()
}

func (r *FabricReport) querierCell(m int, family string) string {
	cell := func(run int) string {
		if m >= len(r.Queriers[run]) {
			return "-"
		}
		for _, q := range r.Queriers[run][m] {
			if q.VLAN == 0 && q.Family == family {
				if q.Self {
					return q.Querier + " (itself)"
				}
				return q.Querier
			}
		}
		return "-"
	}
	return fmt.Sprintf("%s [%s]", cell(snoopingRun), cell(floodingRun))
}
