package replay_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/internal/replay"
)

// The golden scenario: a router r, hosts h1, h2, h3 and a source src.
//
//	0 s     r queries (IGMPv3 general query, QRV 2, QQI 125 s, max resp 10 s)
//	1 s     h1 joins 239.1.1.1 (IGMPv2)
//	1.5 s   h2 joins 239.2.2.2 from source 10.0.0.9 only (IGMPv3 IS_IN)
//	2 s     h3 joins 225.1.1.1 (IGMPv2), whose MAC 239.1.1.1 and 224.1.1.1 share
//	12 s    src sends to 239.1.1.1, 225.1.1.1, 224.1.1.1, 239.2.2.2, 239.3.3.3
//	        from 10.0.0.9, and to 239.2.2.2 from 10.0.0.8
//	13 s    h3 sends a forged general query: the guard drops it
//	14 s    h1 leaves 239.1.1.1; 14.1 s r asks (group-specific query, 1 s)
//	17 s    src sends to 239.1.1.1: nobody is left but the router
//	290 s   h1 joins 239.1.1.1 again (IGMPv3 IS_EX {})
//	300 s   src sends to 239.1.1.1, 225.1.1.1 and 239.2.2.2: h3's and h2's
//	        memberships timed out at 262 s and 261.5 s (GMI 260 s)
//
// The switch's own querier (source 0.0.0.0) queries MLD from its first
// tick, 0.1 s after the first frame (there is no MLD querier), and IGMP
// once the router has been silent for the other-querier-present interval,
// 255 s.
var goldenPorts = []string{"r", "h1", "h2", "h3", "src"}

func goldenFrames(t testing.TB) []frame {
	r, h1, h2, h3, src := hostMAC(1), hostMAC(0x11), hostMAC(0x12), hostMAC(0x13), hostMAC(9)
	rIP, h1IP, h2IP, h3IP := addr("10.0.0.1"), addr("10.0.0.11"), addr("10.0.0.12"), addr("10.0.0.13")
	s9, s8 := addr("10.0.0.9"), addr("10.0.0.8")
	g1, g2, g3, g225, g224 := addr("239.1.1.1"), addr("239.2.2.2"), addr("239.3.3.3"), addr("225.1.1.1"), addr("224.1.1.1")
	ms := time.Millisecond
	return []frame{
		{"r", 0, igmpV3Query(t, r, rIP, addr("0.0.0.0"), 100)},
		{"h1", 1000 * ms, igmpV2(t, h1, h1IP, 0x16, g1)},
		{"h2", 1500 * ms, igmpV3Report(t, h2, h2IP, 1, g2, s9)},
		{"h3", 2000 * ms, igmpV2(t, h3, h3IP, 0x16, g225)},
		{"src", 12000 * ms, udpData(t, src, s9, g1, "to 239.1.1.1")},
		{"src", 12001 * ms, udpData(t, src, s9, g225, "to 225.1.1.1")},
		{"src", 12002 * ms, udpData(t, src, s9, g224, "to 224.1.1.1")},
		{"src", 12003 * ms, udpData(t, src, s9, g2, "to 239.2.2.2")},
		{"src", 12004 * ms, udpData(t, src, s9, g3, "to 239.3.3.3")},
		{"src", 12005 * ms, udpData(t, src, s8, g2, "to 239.2.2.2 from .8")},
		{"h3", 13000 * ms, igmpV2GeneralQuery(t, h3, h3IP)},
		{"h1", 14000 * ms, igmpV2(t, h1, h1IP, 0x17, g1)},
		{"r", 14100 * ms, igmpV3Query(t, r, rIP, g1, 10)},
		{"src", 17000 * ms, udpData(t, src, s9, g1, "to 239.1.1.1 after the leave")},
		{"h1", 290000 * ms, igmpV3Report(t, h1, h1IP, 2, g1)},
		{"src", 300000 * ms, udpData(t, src, s9, g1, "to 239.1.1.1 again")},
		{"src", 300001 * ms, udpData(t, src, s9, g225, "to 225.1.1.1 after the timeout")},
		{"src", 300002 * ms, udpData(t, src, s9, g2, "to 239.2.2.2 after the timeout")},
	}
}

// portWant is what the golden scenario does on one port.
type portWant struct {
	rx, tx, queries uint64
	drops, events   map[string]uint64
}

// goldenWant is the expected outcome, port by port.
//
// Queries: MLD at 0.1 s, 31.4 s (the tick after 31.35 s: startup queries
// are a quarter interval apart), 156.4 s and 281.4 s; IGMP at 255 s and
// 286.3 s. Six out of every port.
//
// r gets the 4 reports and the leave, and all multicast data as a router
// port: 6 frames at 12 s, 1 at 17 s, 3 at 300 s. Each host gets r's two
// queries; h1 the data to 239.1.1.1 at 12 s and 300 s; h2 the data to
// 239.2.2.2 from 10.0.0.9 at 12 s, not that from 10.0.0.8; h3 the data to
// 225.1.1.1 at 12 s, not that to 239.1.1.1 or 224.1.1.1 on the same MAC.
var goldenWant = map[string]portWant{
	"r":   {rx: 2, tx: 5 + 10 + 6, queries: 6, events: map[string]uint64{"control": 2}},
	"h1":  {rx: 3, tx: 2 + 2 + 6, queries: 6, events: map[string]uint64{"control": 3}},
	"h2":  {rx: 1, tx: 2 + 1 + 6, queries: 6, events: map[string]uint64{"control": 1}},
	"h3":  {rx: 2, tx: 2 + 1 + 6, queries: 6, events: map[string]uint64{"control": 2}, drops: map[string]uint64{"router-guard": 1}},
	"src": {rx: 10, tx: 2 + 6, queries: 6, events: map[string]uint64{"snooped": 10}},
}

// checkGolden compares the report's ports with goldenWant (ports the
// scenario does not name are not compared), and its group table.
func checkGolden(t *testing.T, rep *replay.Report) {
	t.Helper()
	if !rep.Complete || rep.Frames != 18 {
		t.Errorf("replayed %d frames (complete %v, error %q), want all 18", rep.Frames, rep.Complete, rep.Error)
	}
	seen := 0
	for _, p := range rep.Ports {
		w, ok := goldenWant[p.Name]
		if !ok {
			continue
		}
		seen++
		if p.RxFrames != w.rx || p.TxFrames != w.tx || p.Queries != w.queries {
			t.Errorf("port %s: rx %d, tx %d, queries sent %d; want %d, %d, %d", p.Name, p.RxFrames, p.TxFrames, p.Queries, w.rx, w.tx, w.queries)
		}
		if !maps.Equal(nonZero(p.Drops), nonZero(w.drops)) {
			t.Errorf("port %s: drops %v, want %v", p.Name, nonZero(p.Drops), w.drops)
		}
		if !maps.Equal(nonZero(p.Events), nonZero(w.events)) {
			t.Errorf("port %s: events %v, want %v", p.Name, nonZero(p.Events), w.events)
		}
	}
	if seen != len(goldenWant) {
		t.Errorf("the report has %d of the scenario's %d ports", seen, len(goldenWant))
	}
	if len(rep.Groups) != 1 {
		t.Fatalf("groups at the end: %+v, want h1's 239.1.1.1 only", rep.Groups)
	}
	// h1's IS_EX {} at 290 s: GMI 260 s, 250 s left at 300.002 s.
	g := rep.Groups[0]
	if g.Group != "239.1.1.1" || g.Port != "h1" || g.Mode != "EXCLUDE" || g.GroupTimer != 249.998 || g.Reporter != "10.0.0.11" {
		t.Errorf("group at the end: %+v, want 239.1.1.1 on h1, EXCLUDE, 249.998 s left, reported by 10.0.0.11", g)
	}
}

func nonZero(m map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64)
	for k, n := range m {
		if n > 0 {
			out[k] = n
		}
	}
	return out
}

func TestGoldenPcapngInterfacesArePorts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "golden.pcapng")
	writePcapng(t, path, goldenPorts, goldenFrames(t))
	rep, err := replay.Run(context.Background(), replay.Options{Capture: path, RouterPorts: []string{"r"}})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, rep)
}

// The same scenario from one pcap file per port, merged by timestamp.
func TestGoldenFilePerPort(t *testing.T) {
	dir := t.TempDir()
	var ports []replay.Mapping
	for _, name := range goldenPorts {
		var mine []frame
		for _, f := range goldenFrames(t) {
			if f.port == name {
				mine = append(mine, f)
			}
		}
		path := filepath.Join(dir, name+".pcap")
		writePcap(t, path, mine)
		ports = append(ports, replay.Mapping{Port: name, File: path})
	}
	checkGolden(t, mustReplay(t, replay.Options{Ports: ports, RouterPorts: []string{"r"}}))
}

// The same scenario from one pcap file, ports told apart by source MAC.
func TestGoldenPortPerSourceMAC(t *testing.T) {
	path := filepath.Join(t.TempDir(), "golden.pcap")
	writePcap(t, path, goldenFrames(t))
	var ports []replay.Mapping
	for i, name := range goldenPorts {
		ports = append(ports, replay.Mapping{Port: name, MAC: fdb.MAC(hostMAC([]byte{1, 0x11, 0x12, 0x13, 9}[i]))})
	}
	rep := mustReplay(t, replay.Options{Capture: path, Ports: ports, RouterPorts: []string{"r"}})
	checkGolden(t, rep)
	// Frames from no mapped MAC would arrive on if0, the pcap's interface.
	if p := portReport(t, rep, "if0"); p.RxFrames != 0 {
		t.Errorf("if0 received %d frames; every source is mapped", p.RxFrames)
	}
}

// A pcapng interface declared after the first frame becomes a host port
// when its first frame comes.
func TestPcapngInterfaceDeclaredLate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "late.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapgo.NewNgWriterInterface(f, pcapgo.NgInterface{Name: "a", LinkType: layers.LinkTypeEthernet}, pcapgo.NgWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	arp := func(src byte) []byte {
		b := make([]byte, 60)
		copy(b, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, src, 0x08, 0x06})
		return b
	}
	write := func(id int, at time.Duration, b []byte) {
		ci := gopacket.CaptureInfo{Timestamp: captureStart.Add(at), CaptureLength: len(b), Length: len(b), InterfaceIndex: id}
		if err := w.WritePacket(ci, b); err != nil {
			t.Fatal(err)
		}
	}
	write(0, 0, arp(1))
	if _, err := w.AddInterface(pcapgo.NgInterface{Name: "b", LinkType: layers.LinkTypeEthernet}); err != nil {
		t.Fatal(err)
	}
	write(1, time.Millisecond, arp(2))
	write(0, 2*time.Millisecond, arp(1))
	w.Flush()
	f.Close()

	rep := mustReplay(t, replay.Options{Capture: path})
	if len(rep.Ports) != 2 || rep.Ports[0].Name != "a" || rep.Ports[1].Name != "b" {
		t.Fatalf("ports %+v, want a, then b", rep.Ports)
	}
	if a, b := rep.Ports[0], rep.Ports[1]; a.RxFrames != 2 || b.RxFrames != 1 || a.TxFrames != 1 || b.TxFrames < 1 {
		t.Errorf("a: rx %d tx %d, b: rx %d tx %d; want a's 2 broadcasts to reach b, b's 1 to reach a", a.RxFrames, a.TxFrames, b.RxFrames, b.TxFrames)
	}
}
