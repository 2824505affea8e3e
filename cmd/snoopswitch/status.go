package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	switching "github.com/snoopswitch/snoopswitch/switch"
)

// writeStatus prints the MAC table and the port counters.
func writeStatus(w io.Writer, e *switching.Engine) {
	writeMACTable(w, e)
	fmt.Fprintln(w)
	writePortStats(w, e)
}

func writeMACTable(w io.Writer, e *switching.Engine) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VLAN\tMAC\tPORT\tTYPE\tAGE")
	for _, en := range e.MACTable().Entries(time.Now()) {
		kind, age := "learned", en.Age.Truncate(time.Second).String()
		if en.Static {
			kind, age = "static", "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", en.VLAN, en.MAC, e.PortName(en.Port), kind, age)
	}
	tw.Flush()
}

func writePortStats(w io.Writer, e *switching.Engine) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PORT\tLINK\tRX FRAMES\tRX BYTES\tTX FRAMES\tTX BYTES\tKERNEL DROPS\tDROPS\tEVENTS")
	for _, s := range e.Stats() {
		link := "up"
		if !s.Up {
			link = "down"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", s.Name, link, s.RxFrames, s.RxBytes,
			s.TxFrames, s.TxBytes, s.Kernel.Drops, formatCounts(s.Drops), formatCounts(s.Events))
	}
	tw.Flush()
}

// formatCounts prints reason=count pairs in name order, or "-".
func formatCounts(m map[string]uint64) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
