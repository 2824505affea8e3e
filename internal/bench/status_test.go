package bench_test

import (
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/bench"
)

// statusOutput is what `snoopswitch run` writes on SIGUSR1, between two log
// lines.
const statusOutput = `time=2026-11-21T21:03:55.540Z level=INFO msg="switch running" ports=ssa,ssb,ssc pid=22732
VLAN  MAC                PORT  TYPE     AGE
0     02:53:53:00:00:01  ssa   learned  0s
0     02:53:53:00:00:02  ssb   learned  0s

PORT  LINK  RX FRAMES  RX BYTES   TX FRAMES  TX BYTES  KERNEL DROPS  DROPS              EVENTS
ssa   up    1000021    60001260   2          120       38210         same-port=3        unknown-unicast=1
ssb   up    2          120        961811     57708660  0             -                  flood=1 unknown-unicast=1
ssc   down  0          0          1          60        0             -                  -
time=2026-11-21T21:03:56.219Z level=INFO msg="switch stopped"
`

func TestParsePortTable(t *testing.T) {
	rows, ok, err := bench.ParsePortTable(statusOutput, 3)
	if err != nil || !ok {
		t.Fatalf("ParsePortTable: ok %v, err %v", ok, err)
	}
	want := []bench.PortCounters{
		{Name: "ssa", RxFrames: 1000021, TxFrames: 2, KernelDrops: 38210},
		{Name: "ssb", RxFrames: 2, TxFrames: 961811},
		{Name: "ssc", TxFrames: 1},
	}
	if len(rows) != len(want) {
		t.Fatalf("ParsePortTable = %+v, want %+v", rows, want)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d = %+v, want %+v", i, rows[i], want[i])
		}
	}
}

func TestParsePortTableUnfinished(t *testing.T) {
	header := "PORT  LINK  RX FRAMES  RX BYTES   TX FRAMES  TX BYTES  KERNEL DROPS  DROPS  EVENTS\n"
	row := "ssa   up    1          60         2          120       0             -      -\n"
	for name, text := range map[string]string{
		"nothing yet":      "",
		"only the header":  header,
		"a row missing":    header + row + row,
		"last row cut off": header + row + row + row[:20],
	} {
		rows, ok, err := bench.ParsePortTable(text, 3)
		if err != nil || ok {
			t.Errorf("%s: ParsePortTable = %+v, ok %v, err %v; want not ok, no error", name, rows, ok, err)
		}
	}
	if _, ok, err := bench.ParsePortTable(header+row+row+row, 3); err != nil || !ok {
		t.Errorf("whole table: ok %v, err %v", ok, err)
	}
	// The latest table counts: a second SIGUSR1 supersedes the first.
	later := "ssa   up    9          60         2          120       5             -      -\n"
	rows, ok, err := bench.ParsePortTable(header+row+row+row+header+later+later+later, 3)
	if err != nil || !ok || rows[0].RxFrames != 9 || rows[0].KernelDrops != 5 {
		t.Errorf("two tables: got %+v, ok %v, err %v; want the second", rows, ok, err)
	}
	if _, _, err := bench.ParsePortTable(header+"ssa up x 1 2 3 4\n", 1); err == nil {
		t.Error("a row with a bad number: no error")
	}
}
