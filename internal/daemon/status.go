package daemon

import (
	"fmt"
	"io"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/control"
)

// WriteStatus writes the MAC table and the port counters, as `snoopswitch
// run` does on SIGUSR1, in the tables of `snoopswitch show fdb` and `show
// ports`.
func (sw *Switch) WriteStatus(w io.Writer) error {
	now := time.Now()
	if err := control.WriteMACs(w, control.FDBReport(sw.engine, now)); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return control.WritePorts(w, control.PortsReport(sw.engine))
}
