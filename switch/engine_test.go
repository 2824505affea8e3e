package switching_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

// memPort is an in-memory Backend: Receive idles until ctx is done, and its
// senders record copies of what the engine sent.
type memPort struct {
	name string
	sent []switching.Packet // copies, in send order
	fail error              // returned by Flush for every frame when set
}

func (m *memPort) Name() string { return m.name }
func (m *memPort) Receive(ctx context.Context, handle func([]switching.Packet)) error {
	<-ctx.Done()
	return nil
}
func (m *memPort) NewSender() switching.Sender        { return &memSender{port: m} }
func (m *memPort) KernelStats() switching.KernelStats { return switching.KernelStats{} }
func (m *memPort) Close() error                       { return nil }

type memSender struct {
	port  *memPort
	batch []switching.Packet
}

func (s *memSender) Queue(p *switching.Packet) bool {
	if len(s.batch) == 4 { // small, so the engine's full-batch path runs too
		return false
	}
	q := *p
	q.Data = bytes.Clone(p.Data)
	s.batch = append(s.batch, q)
	return true
}

func (s *memSender) Flush() (frames, n int, err error) {
	defer func() { s.batch = s.batch[:0] }()
	if s.port.fail != nil {
		return 0, 0, s.port.fail
	}
	for _, p := range s.batch {
		n += len(p.Data)
	}
	s.port.sent = append(s.port.sent, s.batch...)
	return len(s.batch), n, nil
}

// testSwitch is an engine with n memory ports and a clock the test moves.
type testSwitch struct {
	t     *testing.T
	e     *switching.Engine
	ports []*memPort
	ws    []*switching.Worker
	now   time.Time
}

func newTestSwitch(t *testing.T, n int, cfg fdb.Config) *testSwitch {
	t.Helper()
	return newTestSwitchWith(t, n, switching.Config{MACTable: cfg})
}

// newTestSwitchWith is newTestSwitch with the engine configured by cfg,
// whose Clock it sets.
func newTestSwitchWith(t *testing.T, n int, cfg switching.Config) *testSwitch {
	t.Helper()
	ts := &testSwitch{t: t, now: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}
	cfg.Clock = func() time.Time { return ts.now }
	e, err := switching.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.e = e
	for i := range n {
		p := &memPort{name: string(rune('a' + i))}
		if _, err := e.AddPort(p); err != nil {
			t.Fatal(err)
		}
		ts.ports = append(ts.ports, p)
	}
	for i := range n {
		ts.ws = append(ts.ws, e.NewWorker(fdb.PortID(i)))
	}
	return ts
}

// send hands frames to port in's worker as one batch and returns, per
// port, how many frames each port sent in response.
func (ts *testSwitch) send(in int, pkts ...switching.Packet) []int {
	before := make([]int, len(ts.ports))
	for i, p := range ts.ports {
		before[i] = len(p.sent)
	}
	for i := range pkts {
		if pkts[i].Len == 0 {
			pkts[i].Len = len(pkts[i].Data)
		}
	}
	ts.ws[in].Handle(pkts)
	got := make([]int, len(ts.ports))
	for i, p := range ts.ports {
		got[i] = len(p.sent) - before[i]
	}
	return got
}

func mac(i byte) fdb.MAC { return fdb.MAC{0x02, 0, 0, 0, 0, i} }

// frame builds an untagged Ethernet frame with a 46-byte payload.
func frame(dst, src fdb.MAC, etherType uint16) []byte {
	b := make([]byte, 60)
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:14], etherType)
	return b
}

// tagged builds a frame with an 802.1Q tag in its bytes.
func tagged(dst, src fdb.MAC, vid uint16) []byte {
	b := make([]byte, 64)
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:14], 0x8100)
	binary.BigEndian.PutUint16(b[14:16], vid)
	binary.BigEndian.PutUint16(b[16:18], 0x0800)
	return b
}

func pkt(b []byte) switching.Packet { return switching.Packet{Data: b} }

var bcast = fdb.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func equalCounts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (ts *testSwitch) expect(name string, got, want []int) {
	ts.t.Helper()
	if !equalCounts(got, want) {
		ts.t.Errorf("%s: frames sent per port = %v, want %v", name, got, want)
	}
}

func (ts *testSwitch) stats(port int) switching.PortStats {
	return ts.e.Stats()[port]
}

func TestUnknownUnicastFloodsUntilLearned(t *testing.T) {
	ts := newTestSwitch(t, 3, fdb.Config{})
	ts.expect("unknown unicast", ts.send(0, pkt(frame(mac(2), mac(1), 0x0800))), []int{0, 1, 1})
	ts.expect("reply to a learned host", ts.send(1, pkt(frame(mac(1), mac(2), 0x0800))), []int{1, 0, 0})
	ts.expect("now both are learned", ts.send(0, pkt(frame(mac(2), mac(1), 0x0800))), []int{0, 1, 0})
	if got := ts.stats(0).Events["unknown-unicast"]; got != 1 {
		t.Errorf("unknown-unicast on port a = %d, want 1", got)
	}
}

func TestBroadcastAndMulticastFloodExceptIngress(t *testing.T) {
	ts := newTestSwitch(t, 4, fdb.Config{})
	ts.expect("broadcast", ts.send(2, pkt(frame(bcast, mac(1), 0x0806))), []int{1, 1, 0, 1})
	ts.expect("IPv6 multicast", ts.send(0, pkt(frame(fdb.MAC{0x33, 0x33, 0, 0, 0, 1}, mac(2), 0x86dd))), []int{0, 1, 1, 1})
	ts.expect("STP BPDU (no spanning tree here: flooded)", ts.send(0, pkt(frame(fdb.MAC{0x01, 0x80, 0xc2, 0, 0, 0}, mac(2), 0x0026))), []int{0, 1, 1, 1})
}

func TestDrops(t *testing.T) {
	ts := newTestSwitch(t, 3, fdb.Config{})
	cases := []struct {
		name   string
		pkt    switching.Packet
		reason string
	}{
		{"runt", switching.Packet{Data: make([]byte, 13)}, "malformed"},
		{"tag cut off", switching.Packet{Data: tagged(mac(2), mac(1), 5)[:16]}, "malformed"},
		{"truncated on receive", switching.Packet{Data: frame(mac(2), mac(1), 0x0800), Len: 9000}, "truncated"},
		{"multicast source", pkt(frame(mac(2), fdb.MAC{0x01, 0, 0x5e, 0, 0, 1}, 0x0800)), "invalid-src-mac"},
		{"zero source", pkt(frame(mac(2), fdb.MAC{}, 0x0800)), "invalid-src-mac"},
		{"LLDP", pkt(frame(fdb.MAC{0x01, 0x80, 0xc2, 0, 0, 0x0e}, mac(1), 0x88cc)), "reserved-group"},
		{"LACP", pkt(frame(fdb.MAC{0x01, 0x80, 0xc2, 0, 0, 0x02}, mac(1), 0x8809)), "reserved-group"},
	}
	for _, c := range cases {
		before := ts.stats(0).Drops[c.reason]
		ts.expect(c.name, ts.send(0, c.pkt), []int{0, 0, 0})
		if got := ts.stats(0).Drops[c.reason]; got != before+1 {
			t.Errorf("%s: drops[%s] = %d, want %d", c.name, c.reason, got, before+1)
		}
	}
}

func TestNothingGoesBackOutOfItsIngressPort(t *testing.T) {
	ts := newTestSwitch(t, 3, fdb.Config{})
	ts.send(0, pkt(frame(bcast, mac(1), 0x0806)))
	ts.send(0, pkt(frame(bcast, mac(2), 0x0806))) // host 2 sits behind port a too
	ts.expect("destination on the ingress port", ts.send(0, pkt(frame(mac(2), mac(1), 0x0800))), []int{0, 0, 0})
	if got := ts.stats(0).Drops["same-port"]; got != 1 {
		t.Errorf("same-port drops = %d, want 1", got)
	}
}

func TestLearningIsPerVLAN(t *testing.T) {
	ts := newTestSwitch(t, 3, fdb.Config{})
	// mac(1) is learned in VLAN 10 on port a, from a tag the kernel stripped.
	ts.send(0, switching.Packet{Data: frame(bcast, mac(1), 0x0800), Tag: switching.VLANTag{Present: true, TPID: 0x8100, TCI: 10}})
	ts.expect("same VLAN, stripped tag", ts.send(1, switching.Packet{Data: frame(mac(1), mac(2), 0x0800), Tag: switching.VLANTag{Present: true, TCI: 0x2000 | 10}}), []int{1, 0, 0})
	ts.expect("same VLAN, tag in the bytes", ts.send(1, pkt(tagged(mac(1), mac(2), 10))), []int{1, 0, 0})
	ts.expect("other VLAN floods", ts.send(1, pkt(tagged(mac(1), mac(2), 20))), []int{1, 0, 1})
	ts.expect("untagged floods", ts.send(1, pkt(frame(mac(1), mac(2), 0x0800))), []int{1, 0, 1})
}

func TestTagAndOffloadReachTheSender(t *testing.T) {
	ts := newTestSwitch(t, 2, fdb.Config{})
	in := switching.Packet{
		Data:    frame(bcast, mac(1), 0x0800),
		Tag:     switching.VLANTag{Present: true, TPID: 0x88a8, TCI: 0},
		Offload: switching.VNetHdr{Flags: 1, GSOType: 1, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16},
	}
	ts.send(0, in)
	got := ts.ports[1].sent[0]
	if got.Tag != in.Tag || got.Offload != in.Offload || !bytes.Equal(got.Data, in.Data) {
		t.Errorf("sent %+v, want the received packet unchanged %+v", got, in)
	}
}

func TestPortLimitFloodsAndCounts(t *testing.T) {
	ts := newTestSwitch(t, 3, fdb.Config{PortLimit: 2})
	for i := byte(1); i <= 3; i++ {
		ts.send(0, pkt(frame(bcast, mac(i), 0x0806)))
	}
	if got := ts.stats(0).Events["fdb-port-limit"]; got != 1 {
		t.Errorf("fdb-port-limit = %d, want 1", got)
	}
	ts.expect("to a learned host", ts.send(1, pkt(frame(mac(2), mac(9), 0x0800))), []int{1, 0, 0})
	ts.expect("to the host past the limit: flooded", ts.send(1, pkt(frame(mac(3), mac(9), 0x0800))), []int{1, 0, 1})
}

func TestMoveFollowsTheHost(t *testing.T) {
	ts := newTestSwitch(t, 3, fdb.Config{})
	ts.send(0, pkt(frame(bcast, mac(1), 0x0806)))
	ts.send(2, pkt(frame(bcast, mac(1), 0x0806))) // the host moved to port c
	ts.expect("after the move", ts.send(1, pkt(frame(mac(1), mac(2), 0x0800))), []int{0, 0, 1})
	if got := ts.stats(2).Events["fdb-move"]; got != 1 {
		t.Errorf("fdb-move on port c = %d, want 1", got)
	}
}

func TestAgedEntryFloods(t *testing.T) {
	ts := newTestSwitch(t, 3, fdb.Config{AgingTime: 10 * time.Second})
	ts.send(0, pkt(frame(bcast, mac(1), 0x0806)))
	ts.now = ts.now.Add(9 * time.Second)
	ts.expect("before aging", ts.send(1, pkt(frame(mac(1), mac(2), 0x0800))), []int{1, 0, 0})
	ts.now = ts.now.Add(11 * time.Second)
	ts.expect("after aging", ts.send(1, pkt(frame(mac(1), mac(2), 0x0800))), []int{1, 0, 1})
}

func TestPortDown(t *testing.T) {
	ts := newTestSwitch(t, 3, fdb.Config{})
	ts.send(2, pkt(frame(bcast, mac(3), 0x0806)))
	ts.e.SetPortUp(2, false)
	ts.expect("flood skips the down port", ts.send(0, pkt(frame(bcast, mac(1), 0x0806))), []int{0, 1, 0})
	if n := len(ts.e.MACTable().Entries(ts.now)); n != 1 {
		t.Errorf("MAC entries after port c went down = %d, want 1 (its addresses flushed)", n)
	}
	if got := ts.stats(0).Drops["port-down"]; got != 1 {
		t.Errorf("port-down drops = %d, want 1", got)
	}
	ts.e.SetPortUp(2, true)
	ts.expect("back up", ts.send(0, pkt(frame(bcast, mac(1), 0x0806))), []int{0, 1, 1})
}

func TestSendErrorsAreCounted(t *testing.T) {
	ts := newTestSwitch(t, 3, fdb.Config{})
	ts.ports[2].fail = switching.ErrPortDown
	ts.ports[1].fail = context.DeadlineExceeded
	ts.send(0, pkt(frame(bcast, mac(1), 0x0806)), pkt(frame(bcast, mac(1), 0x0806)))
	s := ts.stats(0)
	if s.Drops["port-down"] != 2 || s.Drops["tx-error"] != 2 {
		t.Errorf("drops = %v, want port-down=2 tx-error=2", s.Drops)
	}
	if got := ts.stats(1).TxErrors; got != 2 {
		t.Errorf("tx errors on port b = %d, want 2", got)
	}
}

func TestRunNeedsTwoPortsAndStops(t *testing.T) {
	e, err := switching.New(switching.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddPort(&memPort{name: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddPort(&memPort{name: "a"}); err == nil {
		t.Error("adding a port twice succeeded")
	}
	if err := e.Run(context.Background()); err == nil {
		t.Error("Run with one port succeeded")
	}
	e.AddPort(&memPort{name: "b"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Run did not stop within a second of its context")
	}
}

// udpMulticast builds an IPv4 UDP datagram to group, in a frame to dst.
func udpMulticast(dst, src fdb.MAC, group [4]byte) []byte {
	b := make([]byte, 14+28)
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	b[12], b[13] = 0x08, 0x00
	ip := b[14:]
	ip[0], ip[8], ip[9] = 0x45, 8, 17
	binary.BigEndian.PutUint16(ip[2:], 28)
	copy(ip[12:16], []byte{198, 18, 0, 1})
	copy(ip[16:20], group[:])
	return b
}

func TestSnoopingDropsMACIPMismatch(t *testing.T) {
	e, err := switching.New(switching.Config{Snooping: &snoop.Config{}})
	if err != nil {
		t.Fatal(err)
	}
	ports := []*memPort{{name: "a"}, {name: "b"}, {name: "c"}}
	for _, p := range ports {
		e.AddPort(p)
	}
	w := e.NewWorker(0)
	group := [4]byte{239, 1, 1, 1}
	// 01:00:5e:01:01:01 is 239.1.1.1's MAC; 01:00:5e:02:02:02 is not.
	good := udpMulticast(fdb.MAC{1, 0, 0x5e, 1, 1, 1}, mac(1), group)
	bad := udpMulticast(fdb.MAC{1, 0, 0x5e, 2, 2, 2}, mac(1), group)
	w.Handle([]switching.Packet{{Data: bad, Len: len(bad)}, {Data: good, Len: len(good)}})
	if got := e.Stats()[0].Drops["mac-ip-mismatch"]; got != 1 {
		t.Errorf("mac-ip-mismatch drops = %d, want 1", got)
	}
	// The good frame went somewhere (flooded: the switch is still learning).
	if len(ports[1].sent) != 1 || len(ports[2].sent) != 1 {
		t.Errorf("the well-formed frame reached %d and %d ports, want 1 and 1", len(ports[1].sent), len(ports[2].sent))
	}
}

// TestPortVLANs: a port limited to some VLANs drops frames of others that
// arrive on it (vlan-not-allowed, not learned) and gets no frame of others;
// VLAN 0 is untagged frames; an empty list carries all again.
func TestPortVLANs(t *testing.T) {
	ts := newTestSwitch(t, 3, fdb.Config{})
	if err := ts.e.SetPortVLANs(1, []uint16{10}); err != nil {
		t.Fatal(err)
	}
	if err := ts.e.SetPortVLANs(2, []uint16{0, 20}); err != nil {
		t.Fatal(err)
	}
	ts.expect("VLAN 10 from a", ts.send(0, pkt(tagged(bcast, mac(1), 10))), []int{0, 1, 0})
	ts.expect("VLAN 20 from a", ts.send(0, pkt(tagged(bcast, mac(1), 20))), []int{0, 0, 1})
	ts.expect("untagged from a", ts.send(0, pkt(frame(bcast, mac(1), 0x0806))), []int{0, 0, 1})
	ts.expect("VLAN 30 from a", ts.send(0, pkt(tagged(bcast, mac(1), 30))), []int{0, 0, 0})
	ts.expect("VLAN 20 from b, which carries only 10", ts.send(1, pkt(tagged(bcast, mac(2), 20))), []int{0, 0, 0})
	if got := ts.stats(1).Drops["vlan-not-allowed"]; got != 1 {
		t.Errorf("vlan-not-allowed on b = %d, want 1", got)
	}
	ts.expect("to mac(2) in VLAN 20: never learned on b", ts.send(0, pkt(tagged(mac(2), mac(1), 20))), []int{0, 0, 1})
	if got := ts.e.PortVLANs(2); !slices.Equal(got, []uint16{0, 20}) {
		t.Errorf("PortVLANs(c) = %v", got)
	}
	if err := ts.e.SetPortVLANs(1, []uint16{4095}); err == nil {
		t.Error("VLAN 4095 accepted")
	}
	if err := ts.e.SetPortVLANs(1, nil); err != nil || ts.e.PortVLANs(1) != nil {
		t.Fatalf("SetPortVLANs(nil): %v, %v", err, ts.e.PortVLANs(1))
	}
	ts.expect("VLAN 20 from a, b carries every VLAN again", ts.send(0, pkt(tagged(bcast, mac(1), 20))), []int{0, 1, 1})
}
