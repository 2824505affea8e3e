package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/internal/control"
)

func init() {
	commands["show"] = command{"show what a running switch knows: " + strings.Join(control.Topics, ", "), showCmd}
}

func showCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("show", "snoopswitch show "+strings.Join(control.Topics, "|")+" [--json] [--control-socket PATH]", stderr)
	asJSON := fs.Bool("json", false, "print the switch's JSON document instead of a table (its shape is in the README)")
	socket := fs.String("control-socket", config.DefaultControlSocket, "the running switch's control socket")
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
	switch topic {
	case "groups":
		var gs []control.Group
		if err := json.Unmarshal(doc, &gs); err != nil {
			return err
		}
		return control.WriteGroups(w, gs)
	case "ports", "counters":
		var ps []control.Port
		if err := json.Unmarshal(doc, &ps); err != nil {
			return err
		}
		return control.WritePorts(w, ps)
	case "datapath":
		var r control.DatapathReport
		if err := json.Unmarshal(doc, &r); err != nil {
			return err
		}
		return control.WriteDatapath(w, r)
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
		_, err = fmt.Fprintf(w, "# the running configuration (runtime rules included)\n%s", out)
		return err
	case "fdb":
		var es []control.MACEntry
		if err := json.Unmarshal(doc, &es); err != nil {
			return err
		}
		return control.WriteMACs(w, es)
	case "routers":
		var rs []control.Router
		if err := json.Unmarshal(doc, &rs); err != nil {
			return err
		}
		return control.WriteRouters(w, rs)
	case "querier":
		var qs []control.QuerierState
		if err := json.Unmarshal(doc, &qs); err != nil {
			return err
		}
		return control.WriteQuerier(w, qs)
	}
	return fmt.Errorf("cannot show %q", topic)
}
