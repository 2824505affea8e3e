package control

import (
	"fmt"
	"io"

	switching "github.com/snoopswitch/snoopswitch/switch"
)

// DatapathReport says which datapath the switch runs, why, and how much of
// its traffic the kernel fast path carried: `show datapath`, the first
// lines of the SIGUSR1 status and the snoopswitch_datapath metrics.
type DatapathReport struct {
	// Mode is the datapath that runs: ring or fast.
	Mode string `json:"mode"`
	// Configured is datapath.mode (--datapath): auto, ring or fast.
	Configured string `json:"configured"`
	// Reason says why Mode runs: the configuration, or what auto found.
	Reason string `json:"reason"`
	// RxFrames and TxFrames are every port's, summed; FastRxFrames and
	// FastTxFrames the part of them the fast path forwarded in the kernel
	// without the engine (0 on ring).
	RxFrames     uint64 `json:"rx_frames"`
	FastRxFrames uint64 `json:"fast_rx_frames"`
	TxFrames     uint64 `json:"tx_frames"`
	FastTxFrames uint64 `json:"fast_tx_frames"`
	// Flows is the fast path's flow table; nil on ring.
	Flows *FlowTableReport `json:"flow_table,omitempty"`
}

// FlowTableReport is what became of the decisions the engine offered the
// fast path's flow table.
type FlowTableReport struct {
	// MaxFlows is the table's room.
	MaxFlows int `json:"max_flows"`
	// Installed decisions were written to the kernel (or found stale
	// before they were).
	Installed uint64 `json:"installed"`
	// QueueFull and TableFull were refused because the installer's queue,
	// or the table, was full; Failed for another error, the last of which
	// is LastError. A refused flow stays on the rings.
	QueueFull uint64 `json:"queue_full"`
	TableFull uint64 `json:"table_full"`
	Failed    uint64 `json:"failed"`
	LastError string `json:"last_error,omitempty"`
}

// AddFrames sums the ports' frames into r: all of them, and the fast
// path's share.
func (r *DatapathReport) AddFrames(ports []switching.PortStats) {
	for _, p := range ports {
		r.RxFrames += p.RxFrames
		r.TxFrames += p.TxFrames
		if p.FlowCache != nil {
			r.FastRxFrames += p.FlowCache.RxFrames
			r.FastTxFrames += p.FlowCache.TxFrames
		}
	}
}

// WriteDatapath writes the datapath report (show datapath, SIGUSR1).
func WriteDatapath(w io.Writer, r DatapathReport) error {
	if _, err := fmt.Fprintf(w, "datapath: %s (datapath.mode %s: %s)\n", r.Mode, r.Configured, r.Reason); err != nil {
		return err
	}
	if r.Flows == nil {
		_, err := fmt.Fprintf(w, "frames received: %d, sent: %d, all through the rings\n", r.RxFrames, r.TxFrames)
		return err
	}
	if _, err := fmt.Fprintf(w, "frames received: %d, forwarded in the kernel: %d (%s); sent: %d, by the kernel: %d (%s)\n",
		r.RxFrames, r.FastRxFrames, share(r.FastRxFrames, r.RxFrames), r.TxFrames, r.FastTxFrames, share(r.FastTxFrames, r.TxFrames)); err != nil {
		return err
	}
	f := r.Flows
	_, err := fmt.Fprintf(w, "flow table: room for %d; decisions installed %d, refused: queue full %d, table full %d, failed %d%s\n",
		f.MaxFlows, f.Installed, f.QueueFull, f.TableFull, f.Failed, lastError(f.LastError))
	return err
}

// share writes part/whole as a percentage, "-" for nothing at all.
func share(part, whole uint64) string {
	if whole == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
}

func lastError(s string) string {
	if s == "" {
		return ""
	}
	return " (last: " + s + ")"
}
