package bench_test

import (
	"slices"
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/bench"
)

// showPorts is `snoopswitch show ports --json` of a fast-datapath switch
// (trimmed of fields the bench does not read; ParseShowPorts must ignore
// those it does not know).
const showPorts = `[
  {"name": "ssa", "up": true, "rx_frames": 1000021, "rx_bytes": 60001260, "tx_frames": 2, "tx_bytes": 120,
   "drops": {"same-port": 3}, "events": {}, "kernel": {"packets": 400000, "express_packets": 10, "drops": 38210, "queue_freezes": 2},
   "flow_cache": {"rx_frames": 600000, "rx_bytes": 36000000, "tx_frames": 0, "tx_bytes": 0, "tx_errors": 0},
   "control": {}, "parse_errors": {}},
  {"name": "ssb", "up": true, "rx_frames": 2, "rx_bytes": 120, "tx_frames": 961811, "tx_bytes": 57708660,
   "drops": {}, "events": {}, "kernel": {"packets": 2, "express_packets": 0, "drops": 0, "queue_freezes": 0},
   "control": {}, "parse_errors": {}}
]`

func TestParseShowPorts(t *testing.T) {
	rows, err := bench.ParseShowPorts([]byte(showPorts))
	if err != nil {
		t.Fatal(err)
	}
	want := []bench.PortCounters{
		{Name: "ssa", RxFrames: 1000021, TxFrames: 2, KernelDrops: 38210, FastRxFrames: 600000},
		{Name: "ssb", RxFrames: 2, TxFrames: 961811},
	}
	if !slices.Equal(rows, want) {
		t.Errorf("got %+v\nwant %+v", rows, want)
	}
}

func TestParseShowPortsRejects(t *testing.T) {
	for _, doc := range []string{
		``,
		`{"name": "ssa"}`,    // not a list
		`[{"rx_frames": 1}]`, // no name
		`[{"name": "ssa", "rx_frames": "many"}]`,
	} {
		if rows, err := bench.ParseShowPorts([]byte(doc)); err == nil {
			t.Errorf("ParseShowPorts(%q) = %+v, want an error", doc, rows)
		}
	}
}
