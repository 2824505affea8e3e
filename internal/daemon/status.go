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
	macs, _ := control.Report("fdb", sw.engine, now).([]control.MACEntry)
	if err := control.WriteMACs(w, macs); err != nil {
		return err
	}
	fmt.Fprintln(w)
	ports, _ := control.Report("ports", sw.engine, now).([]control.Port)
	return control.WritePorts(w, ports)
}
