package switching_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/internal/testutil"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

// The multicast data path with snooping on: classify -> IP multicast ->
// snoop.DataPorts -> emit. BENCHMARKS.md ("Multicast snooping") has the
// figures.

// mcBenchCases are the group tables the data path is measured with: groups
// joined, and how many of them the data frames go to (0: all of them).
// 100000 groups of which 64 get traffic separates the table's size from
// the working set the frames touch.
var mcBenchCases = []struct{ groups, active int }{{1, 0}, {1000, 0}, {100000, 0}, {100000, 64}}

func mcBenchName(groups, active int) string {
	if active == 0 {
		return fmt.Sprintf("groups=%d", groups)
	}
	return fmt.Sprintf("groups=%d,active=%d", groups, active)
}

// mcBenchBatch is the number of frames per Worker.Handle call, as in
// BenchmarkWorkerHandle.
const mcBenchBatch = 64

// mcBenchGroup returns the i-th group of the benchmarks: 239.x.y.z, outside
// 224.0.0.0/24 (flooded, not snooped) and 232/8 (SSM, where (*,G) joins are
// ignored).
func mcBenchGroup(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{239, byte(i >> 16), byte(i >> 8), byte(i)})
}

// mcBenchHostIP returns the IPv4 address of the host behind port p.
func mcBenchHostIP(p int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 0, byte(p + 1)}) }

// mcBenchIPv4Frame builds an untagged Ethernet frame holding an IPv4 packet
// from src to dst (a group: the destination MAC is the one it maps to),
// with options opts and payload upper, the header checksum set. The frame is
// padded to the 60-byte minimum.
func mcBenchIPv4Frame(srcMAC fdb.MAC, src, dst netip.Addr, ttl, proto, tos uint8, opts, upper []byte) []byte {
	hl := 20 + len(opts)
	n := max(14+hl+len(upper), 60)
	b := make([]byte, n)
	dmac := snoop.MulticastMAC(dst)
	copy(b[0:6], dmac[:])
	copy(b[6:12], srcMAC[:])
	binary.BigEndian.PutUint16(b[12:14], 0x0800)
	ip := b[14:]
	ip[0] = 0x40 | byte(hl/4)
	ip[1] = tos
	binary.BigEndian.PutUint16(ip[2:], uint16(hl+len(upper)))
	ip[8], ip[9] = ttl, proto
	s, d := src.As4(), dst.As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	copy(ip[20:], opts)
	binary.BigEndian.PutUint16(ip[10:], testutil.Checksum(ip[:hl]))
	copy(ip[hl:], upper)
	return b
}

// mcBenchUDPFrame is a 60-byte UDP datagram from the host behind port 0 to
// group, port 5000, with an 18-byte payload (UDP checksum 0: none, which
// IPv4 allows).
func mcBenchUDPFrame(group netip.Addr) []byte {
	udp := make([]byte, 8+18)
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], 5000)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], "snoopswitch bench ")
	return mcBenchIPv4Frame(mac(1), mcBenchHostIP(0), group, 8, 17, 0, nil, udp)
}

// mcBenchIGMPv3Report is the frame of an IGMPv3 report from the host behind
// port p (RFC 3376 s4.2: to 224.0.0.22, TTL 1, Router Alert, DSCP CS6) with
// one MODE_IS_EXCLUDE {} record, a (*,G) join, per group: what a Linux host
// sends for an application's IP_ADD_MEMBERSHIP when a general query asks.
func mcBenchIGMPv3Report(p int, groups []netip.Addr) []byte {
	igmp := make([]byte, 8, 8+8*len(groups))
	igmp[0] = 0x22
	binary.BigEndian.PutUint16(igmp[6:], uint16(len(groups)))
	for _, g := range groups {
		a := g.As4()
		igmp = append(igmp, byte(snoop.ModeIsExclude), 0, 0, 0, a[0], a[1], a[2], a[3])
	}
	binary.BigEndian.PutUint16(igmp[2:], testutil.Checksum(igmp))
	routerAlert := []byte{0x94, 4, 0, 0}
	return mcBenchIPv4Frame(mac(byte(p+1)), mcBenchHostIP(p), netip.MustParseAddr("224.0.0.22"), 1, 2, 0xc0, routerAlert, igmp)
}

// mcBenchRecordsPerReport is how many group records each IGMPv3 report of the
// set-up carries: a 544-octet packet, well within a 1500-octet MTU.
const mcBenchRecordsPerReport = 64

// snoopedState returns a worker for port 0 (the sender) of a 4-port switch
// with snooping on, in which n groups have been joined by IGMPv3 reports
// received through the engine on ports 1..3 (group i by the host behind port
// 1+i%3), and batches of UDP datagrams from port 0 to those groups: one
// frame per group, cycled through, at least one batch, so that the frames
// touch every group's state as a busy mixed stream would. With active > 0
// the frames go to only that many of the groups, spread over the table.
// Each frame goes to exactly one port. The returned engine has forwarded
// every batch once, and its counters have been checked.
func snoopedState(tb testing.TB, n, active int) (*switching.Engine, *switching.Worker, [][]switching.Packet) {
	tb.Helper()
	// Room for n groups past the default switch-wide limit.
	e, err := switching.New(switching.Config{Snooping: &snoop.Config{}, GroupEntryLimit: max(n, switching.DefaultGroupEntryLimit)})
	if err != nil {
		tb.Fatal(err)
	}
	for _, name := range []string{"sender", "rx1", "rx2", "rx3"} {
		if _, err := e.AddPort(&nullPort{name: name}); err != nil {
			tb.Fatal(err)
		}
	}
	ws := make([]*switching.Worker, 4)
	for i := range ws {
		ws[i] = e.NewWorker(fdb.PortID(i))
	}

	// The joins: each receiver's groups, mcBenchRecordsPerReport to a report.
	for p := 1; p <= 3; p++ {
		var reports []switching.Packet
		var groups []netip.Addr
		for i := p - 1; i < n; i += 3 {
			groups = append(groups, mcBenchGroup(i))
			if len(groups) == mcBenchRecordsPerReport {
				f := mcBenchIGMPv3Report(p, groups)
				reports = append(reports, switching.Packet{Data: f, Len: len(f)})
				groups = groups[:0]
			}
		}
		if len(groups) > 0 {
			f := mcBenchIGMPv3Report(p, groups)
			reports = append(reports, switching.Packet{Data: f, Len: len(f)})
		}
		for len(reports) > 0 {
			k := min(len(reports), mcBenchBatch)
			ws[p].Handle(reports[:k])
			e.ApplyControl() // what the control plane does while the engine runs
			reports = reports[k:]
		}
	}
	if got := e.Snooper().Groups().Len(); got != n {
		tb.Fatalf("%d groups installed by the reports, want %d", got, n)
	}
	for p := 1; p <= 3; p++ {
		st := e.Stats()[p]
		if len(st.Drops) != 0 {
			tb.Fatalf("port %d dropped reports: %v", p, st.Drops)
		}
	}

	if active == 0 || active > n {
		active = n
	}
	frames := max(active, mcBenchBatch)
	frames = (frames + mcBenchBatch - 1) / mcBenchBatch * mcBenchBatch
	batches := make([][]switching.Packet, frames/mcBenchBatch)
	want := make([]uint64, 4) // frames each port should send
	for j := range frames {
		b := &batches[j/mcBenchBatch]
		if *b == nil {
			*b = make([]switching.Packet, 0, mcBenchBatch)
		}
		g := j % active * (n / active)
		f := mcBenchUDPFrame(mcBenchGroup(g))
		*b = append(*b, switching.Packet{Data: f, Len: len(f)})
		want[1+g%3]++
	}

	before := e.Stats()
	for _, b := range batches {
		ws[0].Handle(b)
	}
	after := e.Stats()
	if d := after[0].Drops; len(d) != 0 {
		tb.Fatalf("data frames dropped: %v", d)
	}
	if got := after[0].Events["snooped"] - before[0].Events["snooped"]; got != uint64(frames) {
		tb.Fatalf("%d of %d data frames forwarded by group (events %v)", got, frames, after[0].Events)
	}
	for p := range 4 {
		if got := after[p].TxFrames - before[p].TxFrames; got != want[p] {
			tb.Errorf("port %d sent %d data frames, want %d", p, got, want[p])
		}
	}
	return e, ws[0], batches
}

// TestSnoopedDataPathAllocatesNothing: forwarding multicast data by group,
// through the snooper's lookup, allocates nothing, at every table size
// the benchmark measures.
func TestSnoopedDataPathAllocatesNothing(t *testing.T) {
	for _, c := range mcBenchCases {
		t.Run(mcBenchName(c.groups, c.active), func(t *testing.T) {
			_, w, batches := snoopedState(t, c.groups, c.active)
			k := 0
			allocs := testing.AllocsPerRun(100, func() {
				w.Handle(batches[k])
				k = (k + 1) % len(batches)
			})
			if allocs != 0 {
				t.Errorf("Worker.Handle allocated %.1f times per batch of %d multicast data frames; want 0", allocs, mcBenchBatch)
			}
		})
	}
}

// BenchmarkWorkerHandleSnooped reports the engine's cost per multicast data
// frame with snooping on (classify, learn the source, IsControl, check the
// group MAC, look up the group's ports, queue on the member's port), without
// the system calls of a real port, for 1, 1000 and 100000 groups joined.
// Successive batches cycle through every group, or through 64 of the
// 100000 (active=64).
func BenchmarkWorkerHandleSnooped(b *testing.B) {
	for _, c := range mcBenchCases {
		b.Run(mcBenchName(c.groups, c.active), func(b *testing.B) {
			_, w, batches := snoopedState(b, c.groups, c.active)
			b.ReportAllocs()
			b.ResetTimer()
			k := 0
			for b.Loop() {
				w.Handle(batches[k])
				if k++; k == len(batches) {
					k = 0
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*mcBenchBatch), "ns/frame")
			b.ReportMetric(0, "ns/op")
		})
	}
}
