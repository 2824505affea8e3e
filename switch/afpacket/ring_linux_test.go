package afpacket_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/switch/afpacket"
	"github.com/snoopswitch/snoopswitch/testenv"
	"github.com/vishvananda/netlink"
)

func newLab(t *testing.T, hosts int) *testenv.Lab {
	t.Helper()
	lab := testenv.New(t)
	for i := range hosts {
		if _, err := lab.AddHost(string(rune('a'+i)), testenv.HostOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return lab
}

func pingOK(t *testing.T, from *testenv.Host, to netip.Addr) testenv.PingResult {
	t.Helper()
	r, err := from.Ping(to, 5, 20*time.Millisecond, time.Second)
	if err != nil {
		t.Fatalf("%s ping %s: %v", from.Name, to, err)
	}
	if r.Received != r.Sent {
		t.Fatalf("%s ping %s: %d of %d replies", from.Name, to, r.Received, r.Sent)
	}
	return r
}

func TestRingHostsPingEachOther(t *testing.T) {
	lab := newLab(t, 3)
	testenv.StartSwitch(t, lab, testenv.SwitchConfig{Datapath: "ring"})
	for _, from := range lab.Hosts() {
		for _, to := range lab.Hosts() {
			if from == to {
				continue
			}
			pingOK(t, from, to.IPv4.Addr())
			pingOK(t, from, to.IPv6.Addr())
		}
	}
}

// rawFrame builds a frame of EtherType 0x88b5 (IEEE local experimental),
// which the hosts' stacks ignore, with a marker in its payload.
func rawFrame(dst, src net.HardwareAddr, marker byte) []byte {
	b := make([]byte, 60)
	copy(b[0:6], dst)
	copy(b[6:12], src)
	binary.BigEndian.PutUint16(b[12:14], 0x88b5)
	b[14] = marker
	return b
}

func withMarker(m byte) func([]byte) bool {
	return func(f []byte) bool { return len(f) >= 15 && binary.BigEndian.Uint16(f[12:14]) == 0x88b5 && f[14] == m }
}

func TestRingUnknownUnicastFloodsUntilLearned(t *testing.T) {
	lab := newLab(t, 3)
	testenv.StartSwitch(t, lab, testenv.SwitchConfig{Datapath: "ring"})
	a, b, c := lab.Hosts()[0], lab.Hosts()[1], lab.Hosts()[2]
	capB, err := b.Capture()
	if err != nil {
		t.Fatal(err)
	}
	capC, err := c.Capture()
	if err != nil {
		t.Fatal(err)
	}
	// x is an address no host has used: the hosts' own stacks may already
	// have taught the switch theirs.
	x := net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x99, 0x99}
	if err := a.SendFrame(rawFrame(x, a.MAC, 1)); err != nil {
		t.Fatal(err)
	}
	if !capB.WaitFor(withMarker(1), 1, 2*time.Second) || !capC.WaitFor(withMarker(1), 1, 2*time.Second) {
		t.Fatal("a frame to an unknown address was not flooded to both other hosts")
	}
	// Once x has spoken from b's port, frames to it go there only.
	capA, err := a.Capture()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SendFrame(rawFrame(a.MAC, x, 2)); err != nil {
		t.Fatal(err)
	}
	if !capA.WaitFor(withMarker(2), 1, 2*time.Second) {
		t.Fatal("the frame from x did not reach a")
	}
	for range 10 {
		if err := a.SendFrame(rawFrame(x, a.MAC, 3)); err != nil {
			t.Fatal(err)
		}
	}
	if !capB.WaitFor(withMarker(3), 10, 2*time.Second) {
		t.Fatalf("b's port received %d of 10 frames sent to x", capB.Count(withMarker(3)))
	}
	time.Sleep(50 * time.Millisecond) // let a frame wrongly flooded to c arrive
	if n := capC.Count(withMarker(3)); n != 0 {
		t.Errorf("c received %d frames addressed to x, learned on b's port", n)
	}
}

// senders are the two transmit paths; frames must leave either the same.
var senders = []struct {
	name string
	cfg  afpacket.Config
}{
	{"tx-ring", afpacket.Config{}},
	{"sendmmsg", afpacket.Config{Sendmmsg: true}},
}

func TestRingVLANTagsArriveIntact(t *testing.T) {
	for _, s := range senders {
		t.Run(s.name, func(t *testing.T) { testVLANTags(t, s.cfg) })
	}
}

func testVLANTags(t *testing.T, cfg afpacket.Config) {
	lab := newLab(t, 2)
	testenv.StartSwitch(t, lab, testenv.SwitchConfig{Ring: cfg, Datapath: "ring"})
	a, b := lab.Hosts()[0], lab.Hosts()[1]
	capB, err := b.Capture()
	if err != nil {
		t.Fatal(err)
	}
	tags := []struct {
		name string
		tpid uint16
		tci  uint16
	}{
		{"802.1Q VLAN 100 priority 5", 0x8100, 0xa064},
		{"priority tag (VID 0, priority 3)", 0x8100, 0x6000},
		{"priority tag, TCI 0", 0x8100, 0x0000},
		{"802.1ad S-tag VLAN 300", 0x88a8, 300},
	}
	for i, tg := range tags {
		f := make([]byte, 64)
		copy(f[0:6], b.MAC)
		copy(f[6:12], a.MAC)
		binary.BigEndian.PutUint16(f[12:], tg.tpid)
		binary.BigEndian.PutUint16(f[14:], tg.tci)
		binary.BigEndian.PutUint16(f[16:], 0x88b5)
		f[18] = byte(0x40 + i)
		if err := a.SendFrame(f); err != nil {
			t.Fatal(err)
		}
		match := func(g []byte) bool { return len(g) > 18 && g[18] == byte(0x40+i) }
		if !capB.WaitFor(match, 1, 2*time.Second) {
			t.Errorf("%s: frame did not arrive", tg.name)
			continue
		}
		for _, g := range capB.Frames() {
			if match(g) && !bytes.Equal(g[:len(f)], f) {
				t.Errorf("%s: arrived as\n %x\nsent\n %x", tg.name, g[:len(f)], f)
			}
		}
	}
}

// TestRingTCPWithDefaultOffloads runs iperf3 between two hosts whose veths
// keep their default offloads (TSO/GSO, checksum offload): super-frames and
// partial checksums cross the switch.
func TestRingTCPWithDefaultOffloads(t *testing.T) {
	for _, s := range senders {
		t.Run(s.name, func(t *testing.T) { testTCP(t, s.cfg) })
	}
}

func testTCP(t *testing.T, cfg afpacket.Config) {
	lab := newLab(t, 2)
	testenv.StartSwitch(t, lab, testenv.SwitchConfig{Ring: cfg, Datapath: "ring"})
	a, b := lab.Hosts()[0], lab.Hosts()[1]
	gbps, err := testenv.TCPThroughput(a, b, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("TCP through the switch: %.2f Gbit/s", gbps)
	if gbps < 1 {
		t.Errorf("TCP through the switch moved %.2f Gbit/s, want at least 1", gbps)
	}
}

func waitPort(t *testing.T, e *switching.Engine, port int, up bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if e.Stats()[port].Up == up {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("port %d never became up=%v", port, up)
}

func TestRingPortLinkDownAndUp(t *testing.T) {
	lab := newLab(t, 3)
	sw := testenv.StartSwitch(t, lab, testenv.SwitchConfig{Datapath: "ring"})
	a, b, c := lab.Hosts()[0], lab.Hosts()[1], lab.Hosts()[2]
	pingOK(t, a, b.IPv4.Addr())

	if err := lab.SwitchNS().SetLinkUp(b.SwitchPort, false); err != nil {
		t.Fatal(err)
	}
	waitPort(t, sw.Engine, 1, false)
	for _, en := range sw.Engine.MACTable().Entries(time.Now()) {
		if en.Port == 1 {
			t.Errorf("MAC %s still learned on the down port", en.MAC)
		}
	}
	pingOK(t, a, c.IPv4.Addr()) // the others keep forwarding
	if r, _ := a.Ping(b.IPv4.Addr(), 1, 0, 200*time.Millisecond); r.Received != 0 {
		t.Error("a ping crossed a port whose link is down")
	}

	if err := lab.SwitchNS().SetLinkUp(b.SwitchPort, true); err != nil {
		t.Fatal(err)
	}
	waitPort(t, sw.Engine, 1, true)
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := a.Ping(b.IPv4.Addr(), 1, 0, 200*time.Millisecond)
		if err == nil && r.Received == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no ping through the port after its link came back up")
		}
	}
	// The kernel relinks the port's sockets into their fanout group when
	// the link comes back; the replies must still take the express socket,
	// not wait for the ring's retire timer.
	before := sw.Ports[1].KernelStats().ExpressPackets
	pingOK(t, a, b.IPv4.Addr())
	if got := sw.Ports[1].KernelStats().ExpressPackets - before; got < 5 {
		t.Errorf("after link down and up, %d of 5 echo replies came through the express socket", got)
	}
}

func TestRingCleanShutdown(t *testing.T) {
	lab := newLab(t, 2)
	sw := testenv.StartSwitch(t, lab, testenv.SwitchConfig{Datapath: "ring"})
	pingOK(t, lab.Hosts()[0], lab.Hosts()[1].IPv4.Addr())
	if err := sw.Close(); err != nil { // fails if the engine takes more than a second
		t.Fatal(err)
	}
	for _, h := range lab.Hosts() {
		l, err := lab.SwitchNS().Handle().LinkByName(h.SwitchPort)
		if err != nil {
			t.Fatal(err)
		}
		if l.Attrs().Promisc != 0 {
			t.Errorf("%s still promiscuous after the switch closed it", h.SwitchPort)
		}
		if _, ok := l.(*netlink.Veth); !ok {
			t.Errorf("%s is a %T", h.SwitchPort, l)
		}
	}
}

// TestRingExpressPathFollowsTheRate checks the latency mechanism: an idle
// port receives on its express socket, a stream moves it to the ring, and it
// comes back when the stream stops; no frame is lost or duplicated in the
// moves. The stream is paced (about 100k frames/s, well above the express
// socket's limit) so that the switch is not overrun on a busy machine.
func TestRingExpressPathFollowsTheRate(t *testing.T) {
	lab := newLab(t, 2)
	sw := testenv.StartSwitch(t, lab, testenv.SwitchConfig{Datapath: "ring"})
	a, b := lab.Hosts()[0], lab.Hosts()[1]
	pingOK(t, a, b.IPv4.Addr())
	if !sw.Ports[0].Express() {
		t.Fatal("an idle port is not on its express socket")
	}
	r := pingOK(t, a, b.IPv4.Addr())
	t.Logf("idle RTT through the switch: p50 %v", r.Percentile(50))

	capB, err := b.Capture()
	if err != nil {
		t.Fatal(err)
	}
	f := rawFrame(b.MAC, a.MAC, 7)
	sawRing := false
	const flood = 20000
	for i := range flood {
		if err := a.SendFrame(f); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			time.Sleep(time.Millisecond)
			if !sw.Ports[0].Express() {
				sawRing = true
			}
		}
	}
	if !sawRing {
		t.Error("a flood of frames did not move the port to its ring")
	}
	if !capB.WaitFor(withMarker(7), flood, 5*time.Second) {
		t.Errorf("%d of %d frames arrived; switch counters %+v", capB.Count(withMarker(7)), flood, sw.Engine.Stats()[0])
	}
	time.Sleep(50 * time.Millisecond)
	if n := capB.Count(withMarker(7)); n > flood {
		t.Errorf("%d frames arrived of %d sent: duplicated", n, flood)
	}
	deadline := time.Now().Add(3 * time.Second)
	for !sw.Ports[0].Express() {
		if time.Now().After(deadline) {
			t.Fatal("the port did not return to its express socket after the flood")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRingPortVLANs: on real interfaces, a port limited to VLAN 100 passes
// VLAN 100 and keeps VLAN 200 and untagged frames out, in both directions.
func TestRingPortVLANs(t *testing.T) {
	lab := newLab(t, 2)
	sw := testenv.StartSwitch(t, lab, testenv.SwitchConfig{Datapath: "ring"})
	if err := sw.Engine.SetPortVLANs(1, []uint16{100}); err != nil {
		t.Fatal(err)
	}
	a, b := lab.Hosts()[0], lab.Hosts()[1]
	capA, err := a.Capture()
	if err != nil {
		t.Fatal(err)
	}
	capB, err := b.Capture()
	if err != nil {
		t.Fatal(err)
	}
	frame := func(from, to *testenv.Host, vid uint16, mark byte) []byte {
		f := make([]byte, 64)
		copy(f[0:6], to.MAC)
		copy(f[6:12], from.MAC)
		off := 12
		if vid != 0 {
			binary.BigEndian.PutUint16(f[12:], 0x8100)
			binary.BigEndian.PutUint16(f[14:], vid)
			off = 16
		}
		binary.BigEndian.PutUint16(f[off:], 0x88b5)
		f[off+2], f[off+3] = 0x5a, mark
		return f
	}
	marked := func(mark byte) func([]byte) bool {
		return func(g []byte) bool { return bytes.Contains(g, []byte{0x88, 0xb5, 0x5a, mark}) }
	}
	for _, tt := range []struct {
		from, to *testenv.Host
		capture  *testenv.Capture
		vid      uint16
		mark     byte
		want     bool
	}{
		{a, b, capB, 100, 1, true},
		{a, b, capB, 200, 2, false},
		{a, b, capB, 0, 3, false},
		{b, a, capA, 100, 4, true},
		{b, a, capA, 200, 5, false},
	} {
		if err := tt.from.SendFrame(frame(tt.from, tt.to, tt.vid, tt.mark)); err != nil {
			t.Fatal(err)
		}
		if got := tt.capture.WaitFor(marked(tt.mark), 1, 300*time.Millisecond); got != tt.want {
			t.Errorf("VLAN %d from %s to %s: arrived %v, want %v", tt.vid, tt.from.Name, tt.to.Name, got, tt.want)
		}
	}
	// The VLAN 200 frame, and whatever untagged frames b's kernel sent.
	if got := sw.Engine.Stats()[1].Drops["vlan-not-allowed"]; got < 1 {
		t.Errorf("vlan-not-allowed on the VLAN 100 port = %d, want at least 1", got)
	}
}
