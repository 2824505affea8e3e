package bench_test

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/bench"
)

// procStat0 and procStat1 are /proc/stat of a 2-CPU VM 100 ticks (one
// second) apart: CPU 0 fully busy, CPU 1 half busy, with some steal.
const (
	procStat0 = `cpu  47888 525 21589 159860 450 0 11734 43 0 0
cpu0 23522 263 10157 80212 49 0 6832 18 0 0
cpu1 24365 262 11432 79647 400 0 4902 24 0 0
intr 4151253 0 0 0
ctxt 123
`
	procStat1 = `cpu  48000 525 21700 159910 450 0 11784 48 0 0
cpu0 23562 263 10187 80212 49 0 6862 18 0 0
cpu1 24437 262 11513 79697 400 0 4922 29 0 0
intr 4151299 0 0 0
ctxt 456
`
)

func TestProcStatLoad(t *testing.T) {
	before, err := bench.ParseProcStat(strings.NewReader(procStat0))
	if err != nil {
		t.Fatal(err)
	}
	after, err := bench.ParseProcStat(strings.NewReader(procStat1))
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 2 || before[1].CPU != 1 || before[1].User != 24365 || before[1].Steal != 24 || before[1].IOWait != 400 {
		t.Fatalf("ParseProcStat = %+v, want cpu0 and cpu1 (the all-CPU line skipped)", before)
	}
	loads, busy, err := bench.LoadBetween(before, after)
	if err != nil {
		t.Fatal(err)
	}
	// cpu0: 40+30+30 busy of 100. cpu1: 72+81+20 = 173 busy, 50 idle, 5 steal
	// of 228.
	want := []bench.CPULoad{
		{CPU: 0, BusyPct: 100, StealPct: 0},
		{CPU: 1, BusyPct: 100 * 173.0 / 228, StealPct: 100 * 5.0 / 228},
	}
	for i, w := range want {
		g := loads[i]
		if g.CPU != w.CPU || math.Abs(g.BusyPct-w.BusyPct) > 1e-9 || math.Abs(g.StealPct-w.StealPct) > 1e-9 {
			t.Errorf("CPU %d: got %+v, want %+v", w.CPU, g, w)
		}
	}
	if busy != 100+173 {
		t.Errorf("busy ticks %d, want %d", busy, 100+173)
	}
	if _, _, err := bench.LoadBetween(before, after[:1]); err == nil {
		t.Error("LoadBetween with a CPU gone: no error")
	}
}

func TestParseProcStatErrors(t *testing.T) {
	for name, in := range map[string]string{
		"no CPU lines":  "cpu  1 2 3 4 5 6 7 8 0 0\nintr 1\n",
		"before steal":  "cpu0 1 2 3 4 5 6 7\n",
		"bad number":    "cpu0 1 2 x 4 5 6 7 8 0 0\n",
		"bad CPU index": "cpuX 1 2 3 4 5 6 7 8 0 0\n",
	} {
		if got, err := bench.ParseProcStat(strings.NewReader(in)); err == nil {
			t.Errorf("%s: ParseProcStat = %+v, want an error", name, got)
		}
	}
}

func TestParseProcPIDStat(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bench.ProcStat
	}{
		{
			"process",
			"28274 (cat) R 28270 28270 20143 0 -1 4194304 100 0 0 0 7 3 0 0 20 0 1 0 122360 3133440 394 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0",
			bench.ProcStat{PID: 28274, Comm: "cat", PGID: 28270, Ticks: 10},
		},
		{
			"kernel thread",
			"14 (ksoftirqd/0) S 2 0 0 0 -1 69238848 0 0 0 0 0 144 0 0 20 0 1 0 22 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 17 0 0 0 0 0",
			bench.ProcStat{PID: 14, Comm: "ksoftirqd/0", Kernel: true, Ticks: 144},
		},
		{
			// A process may name itself anything, parentheses and spaces
			// included: only the last ')' ends the name.
			"hostile command name",
			"77 (a) R 1 2 (b) S 5 77 0 0 -1 0 0 0 0 0 11 22 0 0 20 0 1 0 1 0 0 0",
			bench.ProcStat{PID: 77, Comm: "a) R 1 2 (b", PGID: 77, Ticks: 33},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := bench.ParseProcPIDStat([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ParseProcPIDStat = %+v, want %+v", got, tt.want)
			}
		})
	}
	for name, in := range map[string]string{
		"empty":      "",
		"no name":    "1 cat R 1 1",
		"cut short":  "28274 (cat) R 28270 28270 20143 0 -1 4194304 100 0 0 0 7",
		"bad number": "28274 (cat) R 28270 28270 20143 0 -1 4194304 100 0 0 0 x 3 0",
	} {
		if got, err := bench.ParseProcPIDStat([]byte(in)); err == nil {
			t.Errorf("%s: ParseProcPIDStat = %+v, want an error", name, got)
		}
	}
}

func TestOtherLoad(t *testing.T) {
	const bench_, switch_, trafgen = 100, 200, 300
	before := map[int]bench.ProcStat{
		bench_:  {PID: bench_, Comm: "snoopswitch", PGID: 50, Ticks: 10},
		switch_: {PID: switch_, Comm: "snoopswitch", PGID: switch_, Ticks: 10},
		301:     {PID: 301, Comm: "trafgen", PGID: trafgen, Ticks: 0},
		14:      {PID: 14, Comm: "ksoftirqd/0", Kernel: true, Ticks: 5},
		400:     {PID: 400, Comm: "iperf3", PGID: 400, Ticks: 1000},
		500:     {PID: 500, Comm: "sshd", PGID: 500, Ticks: 7},
		600:     {PID: 600, Comm: "old", PGID: 600, Ticks: 900},
	}
	after := map[int]bench.ProcStat{
		bench_:  {PID: bench_, Comm: "snoopswitch", PGID: 50, Ticks: 12},
		switch_: {PID: switch_, Comm: "snoopswitch", PGID: switch_, Ticks: 200},
		301:     {PID: 301, Comm: "trafgen", PGID: trafgen, Ticks: 200},
		14:      {PID: 14, Comm: "ksoftirqd/0", Kernel: true, Ticks: 50},
		400:     {PID: 400, Comm: "iperf3", PGID: 400, Ticks: 1040},
		500:     {PID: 500, Comm: "sshd", PGID: 500, Ticks: 7},
		// A new process counts with all its time.
		700: {PID: 700, Comm: "go", PGID: 700, Ticks: 20},
		// A reused pid is a new process too.
		600: {PID: 600, Comm: "new", PGID: 600, Ticks: 1},
	}
	ours := func(p bench.ProcStat) bool { return p.PID == bench_ || p.PGID == switch_ || p.PGID == trafgen }
	loads, total := bench.OtherLoad(before, after, ours, 200, 1)
	want := []bench.ProcessLoad{{PID: 400, Comm: "iperf3", CPUPct: 20}, {PID: 700, Comm: "go", CPUPct: 10}}
	if len(loads) != len(want) {
		t.Fatalf("OtherLoad = %+v, want %+v", loads, want)
	}
	for i := range want {
		if loads[i] != want[i] {
			t.Errorf("OtherLoad[%d] = %+v, want %+v", i, loads[i], want[i])
		}
	}
	// The reused pid's 1 tick (0.5%) is under the 1% listing threshold but in
	// the total.
	if total != 30.5 {
		t.Errorf("total %v%%, want 30.5%%", total)
	}
}

func TestParseSoftnetDrops(t *testing.T) {
	const in = `09be74b2 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
04b94a87 0000001a 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000000 00000000
`
	got, err := bench.ParseSoftnetDrops(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if got != 0x1a {
		t.Errorf("ParseSoftnetDrops = %d, want %d (the second column is hexadecimal)", got, 0x1a)
	}
	if _, err := bench.ParseSoftnetDrops(strings.NewReader("0000 zz\n")); err == nil {
		t.Error("ParseSoftnetDrops of a bad number: no error")
	}
}

func TestParseAuxvClockTicks(t *testing.T) {
	auxv := func(pairs ...uint64) []byte {
		b := make([]byte, 8*len(pairs))
		for i, v := range pairs {
			binary.NativeEndian.PutUint64(b[8*i:], v)
		}
		return b
	}
	const atPagesz, atClkTck, atNull = 6, 17, 0
	if got := bench.ParseAuxvClockTicks(auxv(atPagesz, 4096, atClkTck, 100, atNull, 0)); got != 100 {
		t.Errorf("ParseAuxvClockTicks = %d, want 100", got)
	}
	// Entries after AT_NULL are not part of the vector.
	if got := bench.ParseAuxvClockTicks(auxv(atPagesz, 4096, atNull, 0, atClkTck, 250)); got != 0 {
		t.Errorf("ParseAuxvClockTicks past AT_NULL = %d, want 0", got)
	}
	if got := bench.ParseAuxvClockTicks(nil); got != 0 {
		t.Errorf("ParseAuxvClockTicks(nil) = %d, want 0", got)
	}
}

func TestParseIPInReceives(t *testing.T) {
	const snmp = "Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams\n" +
		"Ip: 2 64 1055313 0 0 0\n" +
		"Icmp: InMsgs InErrors\n" +
		"Icmp: 3 0\n"
	n, err := bench.ParseIPInReceives(strings.NewReader(snmp))
	if err != nil || n != 1055313 {
		t.Errorf("ParseIPInReceives = %d, %v; want 1055313", n, err)
	}
	if _, err := bench.ParseIPInReceives(strings.NewReader("Icmp: InMsgs\nIcmp: 3\n")); err == nil {
		t.Error("no Ip lines: no error")
	}
}
