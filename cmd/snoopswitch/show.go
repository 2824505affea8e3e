package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/internal/control"
)

func init() {
	commands["show"] = command{"show what a running switch knows: " + strings.Join(control.Topics, ", "), showCmd}
}

func showCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("show", "snoopswitch show "+strings.Join(control.Topics, "|")+" [--json] [--control-socket PATH]", stderr)
	asJSON := fs.Bool("json", false, "print the switch's JSON document instead of a table (its shape is in the README)")
	socket := fs.String("control-socket", control.DefaultSocket, "the running switch's control socket")
	// The topic comes first; flags may follow it.
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		return usagef("what to show? one of %s", strings.Join(control.Topics, ", "))
	}
	topic := args[0]
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if !slices.Contains(control.Topics, topic) {
		return usagef("cannot show %q: one of %s", topic, strings.Join(control.Topics, ", "))
	}
	doc, err := control.Fetch(*socket, topic)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(doc)
		return err
	}
	return renderTable(stdout, topic, doc)
}

// renderTable prints a show document as a human table.
func renderTable(w io.Writer, topic string, doc []byte) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	switch topic {
	case "groups":
		var gs []control.Group
		if err := json.Unmarshal(doc, &gs); err != nil {
			return err
		}
		fmt.Fprintln(tw, "VLAN\tGROUP\tPORT\tMODE\tSOURCES\tGROUP TIMER\tCOMPAT\tREPORTER")
		for _, g := range gs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.VLAN, g.Group, g.Port, g.Mode, formatSources(g.Sources),
				formatTimer(g.GroupTimer), dash(g.Compat), dash(g.Reporter))
		}
	case "ports", "counters":
		var ps []control.Port
		if err := json.Unmarshal(doc, &ps); err != nil {
			return err
		}
		fmt.Fprintln(tw, "PORT\tLINK\tRX FRAMES\tTX FRAMES\tKERNEL DROPS\tDROPS\tEVENTS\tCONTROL\tPARSE ERRORS")
		for _, p := range ps {
			link := "up"
			if !p.Up {
				link = "down"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", p.Name, link, p.RxFrames, p.TxFrames, p.Kernel.Drops,
				formatCounts(p.Drops), formatCounts(p.Events), formatCounts(p.Control), formatCounts(p.ParseErrors))
		}
	case "config":
		// The configuration file this switch runs: YAML that --config reads.
		var d config.Document
		if err := json.Unmarshal(doc, &d); err != nil {
			return err
		}
		out, err := d.YAML()
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "# the running configuration (runtime rules included)\n%s", out)
	case "fdb":
		var es []control.MACEntry
		if err := json.Unmarshal(doc, &es); err != nil {
			return err
		}
		fmt.Fprintln(tw, "VLAN\tMAC\tPORT\tTYPE\tAGE")
		for _, e := range es {
			kind := "learned"
			if e.Static {
				kind = "static"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%.0fs\n", e.VLAN, e.MAC, e.Port, kind, e.Age)
		}
	case "routers":
		var rs []control.Router
		if err := json.Unmarshal(doc, &rs); err != nil {
			return err
		}
		fmt.Fprintln(tw, "VLAN\tPORT\tLEARNED FROM\tROUTER\tEXPIRES")
		for _, r := range rs {
			vlan := fmt.Sprint(r.VLAN)
			if r.Source == "static" {
				vlan = "all"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", vlan, r.Port, r.Source, dash(r.Address), formatTimer(r.Expires))
		}
	case "querier":
		var qs []control.QuerierState
		if err := json.Unmarshal(doc, &qs); err != nil {
			return err
		}
		fmt.Fprintln(tw, "VLAN\tPROTOCOL\tQUERIER\tSELF\tOTHER PRESENT\tNEXT QUERY\tLAST HEARD")
		for _, q := range qs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%v\t%s\t%s\t%s\n", q.VLAN, q.Family, dash(q.Querier), q.Self, formatTimer(q.OtherPresent), formatTimer(q.NextQuery), dash(q.LastHeard))
		}
	}
	return nil
}

func formatSources(ss []control.Source) string {
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

func formatTimer(s float64) string {
	if s <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fs", s)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
