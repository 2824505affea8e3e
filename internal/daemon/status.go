package daemon

import (
	"fmt"
	"io"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/control"
	"github.com/snoopswitch/snoopswitch/switch/fastpath"
)

// WriteStatus writes the datapath, the MAC table and the port counters, as
// `snoopswitch run` does on SIGUSR1, in the forms of `snoopswitch show
// datapath`, `show fdb` and `show ports`.
func (sw *Switch) WriteStatus(w io.Writer) error {
	now := time.Now()
	if err := control.WriteDatapath(w, sw.Datapath()); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if err := control.WriteMACs(w, control.FDBReport(sw.engine, now)); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return control.WritePorts(w, control.PortsReport(sw.engine))
}

// flowTable is a FastPath that reports on its flow table (datapath.Fast).
type flowTable interface {
	MaxFlows() int
	Installer() fastpath.InstallerStats
}

// Datapath reports which datapath the switch runs, why, and the share of
// its frames the fast path forwarded (show datapath, SIGUSR1, metrics).
func (sw *Switch) Datapath() control.DatapathReport {
	c := sw.opts.Datapath
	r := control.DatapathReport{Mode: c.Mode.String(), Configured: c.Configured.String(), Reason: c.Reason}
	if r.Reason == "" {
		r.Reason = "configured"
	}
	r.AddFrames(sw.engine.Stats())
	if ft, ok := sw.opts.FastPath.(flowTable); ok {
		in := ft.Installer()
		r.Flows = &control.FlowTableReport{MaxFlows: ft.MaxFlows(), Installed: in.Applied, QueueFull: in.Dropped, TableFull: in.Full, Failed: in.Failed}
		if in.LastErr != nil {
			r.Flows.LastError = in.LastErr.Error()
		}
	}
	return r
}
