package main

import (
	endian "encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/testenv"
)

// tunnelEntry is one item of tunnels: from m to peer.
func tunnelEntry(name string, vni int, m, peer *testenv.Machine) string {
	return fmt.Sprintf("  - {name: %s, vni: %d, remote: %s, local: %s, device: %s}\n",
		name, vni, peer.Underlay.Addr(), m.Underlay.Addr(), m.UnderlayIface)
}

// writeConfig writes a configuration of tunnels alone (the hosts' ports
// come with --port) and returns its path.
func writeConfig(t *testing.T, path string, entries ...string) string {
	t.Helper()
	data := "tunnels:\n" + strings.Join(entries, "")
	if len(entries) == 0 {
		data = "tunnels: []\n"
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// linkExists reports whether the interface name exists on machine m.
func linkExists(m *testenv.Machine, name string) bool {
	_, err := m.SwitchNS().Handle().LinkByName(name)
	return err == nil
}

// udpStream sends n datagrams numbered 0..n-1 from one host to another's
// port, one every gap, and counts at the receiver which arrived.
type udpStream struct {
	conn *net.UDPConn
	mu   sync.Mutex
	got  map[uint32]bool
	done chan struct{}
}

func receiveUDP(t *testing.T, to *testenv.Host, port int) *udpStream {
	t.Helper()
	s := &udpStream{got: make(map[uint32]bool), done: make(chan struct{})}
	if err := to.NS.Do(func() (err error) {
		s.conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: to.IPv4.Addr().AsSlice(), Port: port})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.conn.Close() })
	go func() {
		defer close(s.done)
		buf := make([]byte, 2048)
		for {
			n, err := s.conn.Read(buf)
			if err != nil {
				return
			}
			if n >= 4 {
				s.mu.Lock()
				s.got[endian.BigEndian.Uint32(buf)] = true
				s.mu.Unlock()
			}
		}
	}()
	return s
}

func (s *udpStream) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// TestRunTunnelsLinux: `snoopswitch run --config` with tunnels: on three
// machines (a hub a, spokes b and c): the tunnels are made with the
// configuration's attributes, ping and TCP cross them, a reload on a adds
// the tunnel to c and removes it again, and refuses a bad one, while a
// stream from a to b over the other tunnel loses nothing; the tunnels are
// gone when the switches stop.
func TestRunTunnelsLinux(t *testing.T) {
	bin := binary(t)
	f := testenv.NewFabric(t, testenv.FabricOptions{Tunnels: testenv.ManualTunnels})
	var ms []*testenv.Machine
	var hosts []*testenv.Host
	for _, name := range []string{"a", "b", "c"} {
		m, err := f.AddMachine(name)
		if err != nil {
			t.Fatal(err)
		}
		h, err := m.AddHost("h", testenv.HostOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ms, hosts = append(ms, m), append(hosts, h)
	}
	a, b, c := ms[0], ms[1], ms[2]
	ab, ba := a.Prefix()+"-tb", b.Prefix()+"-ta"
	ac, ca := a.Prefix()+"-tc", c.Prefix()+"-ta"
	dir := t.TempDir()
	cfgA := writeConfig(t, filepath.Join(dir, "a.yaml"), tunnelEntry(ab, 100, a, b))
	cfgB := writeConfig(t, filepath.Join(dir, "b.yaml"), tunnelEntry(ba, 100, b, a))
	cfgC := writeConfig(t, filepath.Join(dir, "c.yaml"), tunnelEntry(ca, 101, c, a))
	var procs []*testenv.Process
	for i, cfg := range []string{cfgA, cfgB, cfgC} {
		p, err := ms[i].Run(testenv.ProcessOptions{Binary: bin, Args: []string{"--config", cfg}})
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, p)
	}
	if !linkExists(a, ab) || !linkExists(b, ba) || !linkExists(c, ca) || linkExists(a, ac) {
		t.Fatalf("tunnels after the start: %s %v, %s %v, %s %v, %s %v (want all but the last)",
			ab, linkExists(a, ab), ba, linkExists(b, ba), ca, linkExists(c, ca), ac, linkExists(a, ac))
	}

	ha, hb, hc := hosts[0], hosts[1], hosts[2]
	if r, err := ha.Ping(hb.IPv4.Addr(), 3, 50*time.Millisecond, 3*time.Second); err != nil || r.Received != 3 {
		t.Fatalf("ping a -> b across the tunnel: %+v, %v\n%s", r, err, procs[0].Output())
	}
	if r, err := ha.Ping(hb.IPv6.Addr(), 3, 50*time.Millisecond, 3*time.Second); err != nil || r.Received != 3 {
		t.Fatalf("ping6 a -> b across the tunnel: %+v, %v", r, err)
	}
	gbps, err := testenv.TCPThroughput(ha, hb, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("TCP a -> b across one tunnel: %.2f Gbit/s", gbps)
	if gbps <= 0 {
		t.Errorf("TCP across the tunnel: %.2f Gbit/s", gbps)
	}
	if r, _ := ha.Ping(hc.IPv4.Addr(), 1, 0, 500*time.Millisecond); r.Received != 0 {
		t.Fatalf("a reaches c before a has a tunnel to c")
	}

	// The stream: 1500 datagrams a -> b, one every 2 ms, while a reloads.
	const n, port = 1500, 7001
	rx := receiveUDP(t, hb, port)
	sent := make(chan error, 1)
	go func() {
		payload := make([]byte, 200)
		for i := range n {
			endian.BigEndian.PutUint32(payload, uint32(i))
			if err := ha.SendUDP(hb.IPv4.Addr(), port, payload); err != nil {
				sent <- err
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		sent <- nil
	}()
	reload := func(want int) string {
		t.Helper()
		code, out := exitCode(t, exec.Command(bin, "reload", "--control-socket", procs[0].Socket))
		if code != want {
			t.Fatalf("reload: exit %d, want %d: %s\n%s", code, want, out, procs[0].Output())
		}
		return out
	}
	time.Sleep(300 * time.Millisecond)

	writeConfig(t, cfgA, tunnelEntry(ab, 100, a, b), tunnelEntry(ac, 101, a, c))
	reload(0)
	if !linkExists(a, ac) {
		t.Fatalf("the reload did not make %s", ac)
	}
	if r, err := ha.Ping(hc.IPv4.Addr(), 3, 50*time.Millisecond, 3*time.Second); err != nil || r.Received != 3 {
		t.Errorf("ping a -> c across the new tunnel: %+v, %v", r, err)
	}
	// b and c reach each other through a's switch: two tunnels.
	if r, err := hb.Ping(hc.IPv4.Addr(), 3, 50*time.Millisecond, 3*time.Second); err != nil || r.Received != 3 {
		t.Errorf("ping b -> c across two tunnels: %+v, %v", r, err)
	}

	// A bad tunnel: its underlay does not exist. Refused; a keeps running
	// as it was.
	bad := strings.Replace(tunnelEntry(a.Prefix()+"-tx", 102, a, c), a.UnderlayIface, "nosuch0", 1)
	writeConfig(t, cfgA, tunnelEntry(ab, 100, a, b), bad)
	if out := reload(1); !strings.Contains(out, `underlay device "nosuch0"`) {
		t.Errorf("the refused reload says: %s", out)
	}
	if !linkExists(a, ac) || linkExists(a, a.Prefix()+"-tx") {
		t.Errorf("after a refused reload: %s %v (want kept), %s-tx %v (want none)", ac, linkExists(a, ac), a.Prefix(), linkExists(a, a.Prefix()+"-tx"))
	}

	writeConfig(t, cfgA, tunnelEntry(ab, 100, a, b))
	reload(0)
	if rx.count() >= n {
		t.Fatalf("the stream ended before the last reload; make it longer")
	}
	if linkExists(a, ac) {
		t.Errorf("the reload did not remove %s", ac)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for rx.count() < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := rx.count(); got != n {
		t.Errorf("b received %d of the %d datagrams a sent across the other tunnel while a reloaded", got, n)
	}
	t.Logf("stream across the reloads: %d of %d datagrams", rx.count(), n)

	for i, p := range procs {
		if err := p.Stop(); err != nil {
			t.Errorf("switch %d: %v\n%s", i, err, p.Output())
		}
	}
	for _, x := range []struct {
		m    *testenv.Machine
		name string
	}{{a, ab}, {b, ba}, {c, ca}, {a, ac}} {
		if linkExists(x.m, x.name) {
			t.Errorf("%s is still there after its switch stopped", x.name)
		}
	}
}

// TestRunRefusesASmallUnderlayLinux: a host port of MTU 1500 over an
// underlay of MTU 1500 would lose its large frames in the tunnel: run
// refuses to start, says the numbers, and leaves no tunnel behind.
func TestRunRefusesASmallUnderlayLinux(t *testing.T) {
	bin := binary(t)
	f := testenv.NewFabric(t, testenv.FabricOptions{Tunnels: testenv.ManualTunnels})
	a, err := f.AddMachine("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.AddMachine("b")
	if err != nil {
		t.Fatal(err)
	}
	h, err := a.AddHost("h", testenv.HostOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ul, err := a.SwitchNS().Handle().LinkByName(a.UnderlayIface)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SwitchNS().Handle().LinkSetMTU(ul, 1500); err != nil {
		t.Fatal(err)
	}
	name := a.Prefix() + "-tb"
	cfg := writeConfig(t, filepath.Join(t.TempDir(), "a.yaml"), tunnelEntry(name, 100, a, b))
	code, out := exitCode(t, a.SwitchNS().Command(bin, "run", "--config", cfg, "--port", h.SwitchPort, "--control-socket", ""))
	want := fmt.Sprintf(`port %q has MTU 1500, and 1500 + 50 bytes of VXLAN over IPv4 = 1550 is more than the MTU of the underlay %s, 1500`, h.SwitchPort, a.UnderlayIface)
	if code != 1 || !strings.Contains(out, want) || !strings.Contains(out, fmt.Sprintf("ip link set %s mtu 1550", a.UnderlayIface)) {
		t.Errorf("run: exit %d, want 1 with %q:\n%s", code, want, out)
	}
	if linkExists(a, name) {
		t.Errorf("the refused start left %s behind", name)
	}
}
