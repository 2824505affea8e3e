package control

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// The tables below are the one text form of the reports: `snoopswitch
// show` prints them, `snoopswitch run` writes the datapath (WriteDatapath,
// in datapath.go), fdb and ports tables to
// its standard error on SIGUSR1, and `snoopswitch replay` prints
// the groups, routers and querier tables of the state it ends with. Each
// writes its header and rows through its own tabwriter.

// newTable returns a tabwriter over w with the columns every table uses.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// WriteGroups writes the groups table.
func WriteGroups(w io.Writer, gs []Group) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "VLAN\tGROUP\tPORT\tMODE\tSOURCES\tGROUP TIMER\tCOMPAT\tREPORTER\tHOSTS")
	for _, g := range gs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.VLAN, g.Group, g.Port, g.Mode, FormatSources(g.Sources),
			FormatTimer(g.GroupTimer), Dash(g.Compat), Dash(g.Reporter), FormatHosts(g.Hosts, g.Untracked))
	}
	return tw.Flush()
}

// WritePorts writes the ports table (show ports, show counters, SIGUSR1).
// RX and TX count every frame, those the kernel fast path forwarded
// included; FAST RX and FAST TX are that part ("-" on the ring datapath);
// RING DROPS are frames the kernel dropped at the port's full ring.
func WritePorts(w io.Writer, ps []Port) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "PORT\tLINK\tRX FRAMES\tRX BYTES\tTX FRAMES\tTX BYTES\tFAST RX\tFAST TX\tRING DROPS\tDROPS\tEVENTS\tCONTROL\tPARSE ERRORS")
	for _, p := range ps {
		link := "up"
		if !p.Up {
			link = "down"
		}
		fastRx, fastTx := "-", "-"
		if f := p.FlowCache; f != nil {
			fastRx, fastTx = fmt.Sprint(f.RxFrames), fmt.Sprint(f.TxFrames)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", p.Name, link, p.RxFrames, p.RxBytes, p.TxFrames, p.TxBytes,
			fastRx, fastTx, p.Kernel.Drops, FormatCounts(p.Drops), FormatCounts(p.Events), FormatCounts(p.Control), FormatCounts(p.ParseErrors))
	}
	return tw.Flush()
}

// WriteMACs writes the MAC table (show fdb, SIGUSR1).
func WriteMACs(w io.Writer, es []MACEntry) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "VLAN\tMAC\tPORT\tTYPE\tAGE")
	for _, e := range es {
		kind, age := "learned", fmt.Sprintf("%.0fs", e.Age)
		if e.Static {
			kind, age = "static", "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.VLAN, e.MAC, e.Port, kind, age)
	}
	return tw.Flush()
}

// WriteRouters writes the router ports table.
func WriteRouters(w io.Writer, rs []Router) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "VLAN\tPORT\tLEARNED FROM\tROUTER\tEXPIRES")
	for _, r := range rs {
		vlan := fmt.Sprint(r.VLAN)
		if r.Source == "static" {
			vlan = "all"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", vlan, r.Port, r.Source, Dash(r.Address), FormatTimer(r.Expires))
	}
	return tw.Flush()
}

// WriteQuerier writes the querier elections table.
func WriteQuerier(w io.Writer, qs []QuerierState) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "VLAN\tPROTOCOL\tQUERIER\tQUERIER MAC\tSELF\tOTHER PRESENT\tNEXT QUERY\tLAST HEARD\tUNREGISTERED DATA")
	for _, q := range qs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%v\t%s\t%s\t%s\t%s\n", q.VLAN, q.Family, Dash(q.Querier), Dash(q.QuerierMAC), q.Self,
			FormatTimer(q.OtherPresent), FormatTimer(q.NextQuery), Dash(q.LastHeard), formatUnregistered(q))
	}
	return tw.Flush()
}

// formatUnregistered says where data to groups nobody joined goes:
// "flooded (no querier)", "flooded (learning, until +0.7s)", "to router
// ports".
func formatUnregistered(q QuerierState) string {
	switch q.Unregistered {
	case "flooding":
		return "flooded (no querier)"
	case "learning":
		if q.LearningLeft <= 0 {
			return "flooded (learning, until the first query is answered)"
		}
		return fmt.Sprintf("flooded (learning, until +%.1fs)", q.LearningLeft)
	case "constrained":
		return "to router ports"
	}
	return Dash(q.Unregistered)
}

// FormatCounts writes counters as name=n pairs sorted by name, leaving out
// zeros; "-" for none.
func FormatCounts(m map[string]uint64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// FormatHosts writes a membership's tracked hosts as address=MODE{sources},
// and "+untracked" when a host that reported is not among them.
func FormatHosts(hs []Host, untracked bool) string {
	parts := make([]string, 0, len(hs)+1)
	for _, h := range hs {
		parts = append(parts, fmt.Sprintf("%s=%s{%s}", h.Address, h.Mode, strings.Join(h.Sources, ",")))
	}
	if untracked {
		parts = append(parts, "+untracked")
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// FormatSources writes a membership's sources: requested ones with their
// timer, excluded ones after a "!"; "*" for none (any source).
func FormatSources(ss []Source) string {
	if len(ss) == 0 {
		return "*"
	}
	parts := make([]string, len(ss))
	for i, s := range ss {
		if s.Excluded {
			parts[i] = "!" + s.Address
		} else {
			parts[i] = fmt.Sprintf("%s(%.0fs)", s.Address, s.Timer)
		}
	}
	return strings.Join(parts, ",")
}

// FormatTimer writes seconds left, "-" for none.
func FormatTimer(s float64) string {
	if s <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fs", s)
}

// Dash writes s, "-" for empty.
func Dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
