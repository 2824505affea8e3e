//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package fastpath_test

import (
	"encoding/binary"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/snoopswitch/snoopswitch/fdb"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/switch/fastpath"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// switchLab is a lab of n hosts whose switch ports are fast path ports
// 0..n-1 of one datapath, with no engine: only installed flows cross.
type switchLab struct {
	lab   *testenv.Lab
	hosts []*testenv.Host
	d     *fastpath.Datapath
}

func newSwitchLab(t *testing.T, n int) *switchLab {
	t.Helper()
	l := &switchLab{lab: testenv.New(t)}
	for i := range n {
		h, err := l.lab.AddHost(string(rune('a'+i)), testenv.HostOptions{})
		if err != nil {
			t.Fatal(err)
		}
		l.hosts = append(l.hosts, h)
	}
	err := l.lab.SwitchNS().Do(func() error {
		var err error
		if l.d, err = fastpath.Load(1024); err != nil {
			return err
		}
		for i, h := range l.hosts {
			idx, err := ifindex(h.SwitchPort)
			if err != nil {
				return err
			}
			if _, err := l.d.AttachPort(idx, fdb.PortID(i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.d.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

func mac(h *testenv.Host) fdb.MAC { return fdb.MAC(h.MAC) }

// experimental is an IEEE 802 local experimental EtherType: frames no host
// stack answers or sends on its own.
const experimental = 0x88b5

func sendFrames(t *testing.T, h *testenv.Host, dst fdb.MAC, n int) {
	t.Helper()
	for i := range n {
		payload := binary.BigEndian.AppendUint32(make([]byte, 0, 46), uint32(i))
		if err := h.SendFrame(eth(dst, mac(h), experimental, append(payload, make([]byte, 42)...))); err != nil {
			t.Fatal(err)
		}
	}
}

// ringSocket is a packet socket bound to a switch port as the ring's is:
// all protocols, outgoing frames ignored.
type ringSocket struct{ fd int }

func openRingSocket(t *testing.T, l *switchLab, port string) *ringSocket {
	t.Helper()
	s := &ringSocket{fd: -1}
	err := l.lab.SwitchNS().Do(func() error {
		idx, err := ifindex(port)
		if err != nil {
			return err
		}
		proto := int(htons(unix.ETH_P_ALL))
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return err
		}
		s.fd = fd
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: idx})
	})
	if s.fd >= 0 {
		t.Cleanup(func() { unix.Close(s.fd) })
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// count reads what the socket has queued and counts the experimental
// frames by destination MAC.
func (s *ringSocket) count(t *testing.T) map[fdb.MAC]int {
	t.Helper()
	buf := make([]byte, 2048)
	n := make(map[fdb.MAC]int)
	for {
		m, _, err := unix.Recvfrom(s.fd, buf, unix.MSG_DONTWAIT)
		if err == unix.EAGAIN {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		if m >= 14 && binary.BigEndian.Uint16(buf[12:]) == experimental {
			n[fdb.MAC(buf[0:6])]++
		}
	}
}

func rx(t *testing.T, h *testenv.Host) uint64 {
	t.Helper()
	n, err := h.RxPackets()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSocketFilterKeepsKernelFramesFromTheRing: a packet socket on a switch
// port copies every received frame, those tc ingress forwards included
// (the taps run first); with the fast path's filter it gets only the
// frames tc leaves to the ring.
func TestSocketFilterKeepsKernelFramesFromTheRing(t *testing.T) {
	l := newSwitchLab(t, 3)
	a, b, c := l.hosts[0], l.hosts[1], l.hosts[2]
	var toB fdb.PortSet
	toB.Add(1)
	if err := l.d.Install(switching.UnicastFlow(0, 0, mac(a), mac(b)), fastpath.FlowAction{Verdict: fastpath.Forward, Out: toB}); err != nil {
		t.Fatal(err)
	}
	sock := openRingSocket(t, l, a.SwitchPort)
	const n = 50
	rxB := rx(t, b)

	sendFrames(t, a, mac(b), n)
	if err := waitRx(b, rxB+n); err != nil {
		t.Fatal(err)
	}
	if got := sock.count(t)[mac(b)]; got != n {
		t.Fatalf("without the filter the ring socket got %d of the %d frames the kernel forwarded, want all (taps run before tc ingress)", got, n)
	}

	if err := l.d.AttachSocketFilter(sock.fd); err != nil {
		t.Fatal(err)
	}
	sendFrames(t, a, mac(b), n)
	sendFrames(t, a, mac(c), n) // no flow: the ring's
	if err := waitRx(b, rxB+2*n); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	got := sock.count(t)
	if got[mac(b)] != 0 {
		t.Errorf("with the filter the ring socket got %d frames the kernel forwarded, want 0", got[mac(b)])
	}
	if got := got[mac(c)]; got != n {
		t.Errorf("with the filter the ring socket got %d of %d frames of a flow with no entry, want all", got, n)
	}
	if got := rx(t, c); got != 0 {
		t.Errorf("host c received %d frames, want 0 (nothing forwards misses here)", got)
	}
	s := counters(t, l.d)
	if s.Ports[0].Frames != 2*n || s.Ports[1].TxFrames != 2*n || s.Ports[0].Misses < n {
		t.Errorf("counters: in %+v, out %+v; want %d frames in the kernel and out of port 1, %d misses at least", s.Ports[0], s.Ports[1], 2*n, n)
	}
	if st, ok, err := l.d.FlowStats(switching.UnicastFlow(0, 0, mac(a), mac(b))); err != nil || !ok || st.Hits != 2*n || st.Idle > time.Minute {
		t.Errorf("flow stats %+v %v %v, want %d hits, last a moment ago", st, ok, err, 2*n)
	}
}

// TestMulticastFanOut: an IP multicast flow sent by a host's kernel
// reaches the three ports of its entry, one clone each, and no other.
func TestMulticastFanOut(t *testing.T) {
	l := newSwitchLab(t, 5)
	src := l.hosts[0]
	group := netip.MustParseAddr("239.7.7.7")
	var out fdb.PortSet
	for _, p := range []fdb.PortID{1, 2, 3} {
		out.Add(p)
	}
	k := switching.MulticastFlow(0, 0, mac(src), group, src.IPv4.Addr())
	if err := l.d.Install(k, fastpath.FlowAction{Verdict: fastpath.Forward, Out: out}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	before := make([]uint64, len(l.hosts))
	for i, h := range l.hosts {
		before[i] = rx(t, h)
	}
	for range n {
		if err := src.SendUDP(group, 5000, []byte("fan-out")); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range l.hosts[1:4] {
		if err := waitRx(h, n); err != nil {
			t.Error(err)
		}
	}
	if got := rx(t, l.hosts[4]) - before[4]; got != 0 {
		t.Errorf("host e, not in the entry, received %d frames", got)
	}
	s := counters(t, l.d)
	for p := 1; p <= 3; p++ {
		if s.Ports[p].TxFrames != n {
			t.Errorf("port %d: %d frames sent, want %d", p, s.Ports[p].TxFrames, n)
		}
	}
	if st, _, _ := l.d.FlowStats(k); st.Hits != n {
		t.Errorf("%d hits, want %d", st.Hits, n)
	}
}

// TestTCPThroughRedirectFlows runs one iperf3 TCP stream (default
// offloads: TSO/GSO on) between two hosts through flows installed by
// hand: the kernel carries GSO super-frames through bpf_redirect whole,
// as the Linux bridge does; and with the forward direction fanned out to
// two more ports, through bpf_clone_redirect.
func TestTCPThroughRedirectFlows(t *testing.T) {
	t.Run("redirect", func(t *testing.T) { testTCP(t, 1) })
	t.Run("fan-out", func(t *testing.T) { testTCP(t, 3) })
	// The reference: the same stream through the Linux bridge.
	t.Run("linux-bridge", func(t *testing.T) {
		lab := testenv.New(t)
		var hosts []*testenv.Host
		for _, name := range []string{"a", "b"} {
			h, err := lab.AddHost(name, testenv.HostOptions{})
			if err != nil {
				t.Fatal(err)
			}
			hosts = append(hosts, h)
		}
		if _, err := lab.AddLinuxBridge(); err != nil {
			t.Fatal(err)
		}
		t.Logf("TCP through the Linux bridge: %.2f Gbit/s", tcpGbps(t, hosts[0], hosts[1]))
	})
}

func testTCP(t *testing.T, outputs int) {
	l := newSwitchLab(t, 4)
	a, b := l.hosts[0], l.hosts[1]
	// No engine answers ARP broadcasts here: static neighbours.
	for _, p := range [][2]*testenv.Host{{a, b}, {b, a}} {
		if out, err := p[0].NS.Command("ip", "neigh", "replace", p[1].IPv4.Addr().String(), "lladdr", p[1].MAC.String(), "dev", p[0].Iface).CombinedOutput(); err != nil {
			t.Fatalf("ip neigh: %v: %s", err, out)
		}
	}
	var fwd, back fdb.PortSet
	for p := 1; p <= outputs; p++ {
		fwd.Add(fdb.PortID(p))
	}
	back.Add(0)
	for _, f := range []struct {
		k   fastpath.FlowKey
		out fdb.PortSet
	}{{switching.UnicastFlow(0, 0, mac(a), mac(b)), fwd}, {switching.UnicastFlow(1, 0, mac(b), mac(a)), back}} {
		if err := l.d.Install(f.k, fastpath.FlowAction{Verdict: fastpath.Forward, Out: f.out}); err != nil {
			t.Fatal(err)
		}
	}
	gbps := tcpGbps(t, a, b)
	s := counters(t, l.d)
	in := s.Ports[0]
	t.Logf("TCP through flows to %d port(s): %.2f Gbit/s; %d frames of %d bytes on average forwarded in the kernel", outputs, gbps, in.Frames, in.Bytes/max(in.Frames, 1))
	if gbps < 1 {
		t.Errorf("%.2f Gbit/s, want at least 1", gbps)
	}
	// GSO intact: the kernel forwarded super-frames, not MTU-sized ones.
	if in.Frames == 0 || in.Bytes/in.Frames <= 1514 {
		t.Errorf("%d frames, %d bytes: the average frame is no GSO super-frame", in.Frames, in.Bytes)
	}
	for p := 1; p <= outputs; p++ {
		if s.Ports[p].TxFrames != in.Frames || s.Ports[p].TxErrors != 0 {
			t.Errorf("port %d: %d frames sent, %d errors; want the %d a sent", p, s.Ports[p].TxFrames, s.Ports[p].TxErrors, in.Frames)
		}
	}
}

// tcpGbps runs a 3-second TCP stream from a to b (testenv.TCPThroughput)
// and returns its rate in Gbit/s.
func tcpGbps(t *testing.T, a, b *testenv.Host) float64 {
	t.Helper()
	gbps, err := testenv.TCPThroughput(a, b, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return gbps
}

// TestPortWithHighIfindex: an interface index past the array of ports
// (4096 and up) finds its port in the hash; detached, it is no port.
func TestPortWithHighIfindex(t *testing.T) {
	l := newSwitchLab(t, 1)
	a := l.hosts[0]
	ns := l.lab.SwitchNS()
	if out, err := ns.Command("ip", "link", "add", "hi0", "index", "5000", "type", "veth", "peer", "name", "hi1").CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v: %s", err, out)
	}
	for _, dev := range []string{"hi0", "hi1"} {
		if out, err := ns.Command("ip", "link", "set", dev, "up").CombinedOutput(); err != nil {
			t.Fatalf("ip link set up: %v: %s", err, out)
		}
	}
	src := fdb.MAC{2, 0, 0, 0, 0x50, 0}
	var toA fdb.PortSet
	toA.Add(0)
	if err := l.d.Install(switching.UnicastFlow(7, 0, src, mac(a)), fastpath.FlowAction{Verdict: fastpath.Forward, Out: toA}); err != nil {
		t.Fatal(err)
	}
	var p *fastpath.Port
	send := func(n int) {
		t.Helper()
		err := ns.Do(func() error {
			idx, err := ifindex("hi1")
			if err != nil {
				return err
			}
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			frame := eth(mac(a), src, experimental, make([]byte, 46))
			for range n {
				if err := unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: idx, Halen: 6}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := ns.Do(func() error {
		idx, err := ifindex("hi0")
		if err != nil {
			return err
		}
		if idx != 5000 {
			t.Fatalf("hi0 has index %d, want 5000", idx)
		}
		p, err = l.d.AttachPort(idx, 7)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	rxA := rx(t, a)
	send(n)
	if err := waitRx(a, rxA+n); err != nil {
		t.Fatal(err)
	}
	if s := counters(t, l.d).Ports[7]; s.Frames != n {
		t.Errorf("port 7: %d frames in the kernel, want %d", s.Frames, n)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	send(n)
	time.Sleep(50 * time.Millisecond)
	if got := rx(t, a) - rxA; got != n {
		t.Errorf("host a received %d frames, want the %d sent while the port was attached", got, n)
	}
}

// TestLoadWithTheDocumentedCapabilities: Load works for a process with
// CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN but not CAP_SYS_ADMIN, as
// ErrUnavailable's doc says (a daemon need not run with all of root's).
func TestLoadWithTheDocumentedCapabilities(t *testing.T) {
	testenv.RequireRoot(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatal("setpriv is not installed (apt-get install util-linux)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	keep := "-all,+bpf,+perfmon,+net_admin"
	cmd := exec.Command(setpriv, "--inh-caps="+keep, "--ambient-caps="+keep, "--bounding-set="+keep, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), loadHelperEnv+"=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("Load with CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN alone: %v: %s", err, out)
	}
}
