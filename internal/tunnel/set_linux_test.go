package tunnel_test

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/snoopswitch/snoopswitch/internal/tunnel"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// machine is one end of an underlay: a namespace with the underlay
// interface ul0 and its addresses.
type machine struct {
	ns       *testenv.Namespace
	ipv4     netip.Addr
	ipv6     netip.Addr
	underlay netlink.Link
}

// underlay builds two machines (the switch namespaces of two labs) joined by
// a veth pair, ul0 in each, of MTU mtu, with 192.0.2.1 and 2001:db8:ff::1 on
// a, .2 and ::2 on b.
func underlay(t *testing.T, mtu int) (a, b *machine) {
	t.Helper()
	a = &machine{ns: testenv.New(t).SwitchNS(), ipv4: netip.MustParseAddr("192.0.2.1"), ipv6: netip.MustParseAddr("2001:db8:ff::1")}
	b = &machine{ns: testenv.New(t).SwitchNS(), ipv4: netip.MustParseAddr("192.0.2.2"), ipv6: netip.MustParseAddr("2001:db8:ff::2")}
	peer, err := os.Open(b.ns.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU = "ul0", mtu
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: "ul0", PeerNamespace: netlink.NsFd(peer.Fd())}
	if err := a.ns.Handle().LinkAdd(veth); err != nil {
		t.Fatalf("underlay veth: %v", err)
	}
	if err := b.ns.Handle().LinkSetMTU(mustLink(t, b.ns, "ul0"), mtu); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*machine{a, b} {
		// The switch namespace turns IPv6 off on new interfaces.
		if err := m.ns.SetSysctl("net.ipv6.conf.ul0.disable_ipv6", "0"); err != nil {
			t.Fatal(err)
		}
		nl, link := m.ns.Handle(), mustLink(t, m.ns, "ul0")
		for _, p := range []netip.Prefix{netip.PrefixFrom(m.ipv4, 24), netip.PrefixFrom(m.ipv6, 64)} {
			ipnet := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
			if err := nl.AddrAdd(link, &netlink.Addr{IPNet: ipnet, Flags: unix.IFA_F_NODAD}); err != nil {
				t.Fatal(err)
			}
		}
		if err := nl.LinkSetUp(link); err != nil {
			t.Fatal(err)
		}
		m.underlay = mustLink(t, m.ns, "ul0")
	}
	return a, b
}

func mustLink(t *testing.T, ns *testenv.Namespace, name string) netlink.Link {
	t.Helper()
	l, err := ns.Handle().LinkByName(name)
	if err != nil {
		t.Fatalf("%s in %s: %v", name, ns.Name, err)
	}
	return l
}

// spec is a tunnel from m to remote over ul0.
func spec(name string, vni int, local, remote netip.Addr) tunnel.Spec {
	return tunnel.Spec{Name: name, VNI: vni, Local: local, Remote: remote, Device: "ul0"}
}

func newSet(t *testing.T, m *machine) *tunnel.Set {
	s := tunnel.NewSet(tunnel.Options{Handle: m.ns.Handle()})
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestCreateLinux(t *testing.T) {
	a, b := underlay(t, 1500)
	for _, c := range []struct {
		family         string
		local, remote  netip.Addr
		dstport, wantP int
		overhead       int
	}{
		{"IPv4", a.ipv4, b.ipv4, 0, 4789, 50},
		{"IPv6", a.ipv6, b.ipv6, 4790, 4790, 70},
	} {
		t.Run(c.family, func(t *testing.T) {
			s := newSet(t, a)
			sp := spec("vx"+c.family, 42, c.local, c.remote)
			sp.DstPort = c.dstport
			d, err := s.Create(sp)
			if err != nil {
				t.Fatal(err)
			}
			link := mustLink(t, a.ns, sp.Name)
			vx, ok := link.(*netlink.Vxlan)
			if !ok {
				t.Fatalf("%s is a %s, want vxlan", sp.Name, link.Type())
			}
			if vx.VxlanId != 42 || vx.Port != c.wantP || vx.Learning || vx.VtepDevIndex != a.underlay.Attrs().Index {
				t.Errorf("vni %d port %d learning %v dev %d; want 42, %d, false, %d", vx.VxlanId, vx.Port, vx.Learning, vx.VtepDevIndex, c.wantP, a.underlay.Attrs().Index)
			}
			if got, _ := netip.AddrFromSlice(vx.Group); got.Unmap() != c.remote {
				t.Errorf("remote %v, want %v", vx.Group, c.remote)
			}
			if got, _ := netip.AddrFromSlice(vx.SrcAddr); got.Unmap() != c.local {
				t.Errorf("local %v, want %v", vx.SrcAddr, c.local)
			}
			if vx.Flags&net.FlagUp == 0 {
				t.Errorf("%s is down", sp.Name)
			}
			if want := 1500 - c.overhead; vx.MTU != want || d.MTU != want || d.UnderlayMTU != 1500 {
				t.Errorf("MTU %d (Device says %d over %d), want %d", vx.MTU, d.MTU, d.UnderlayMTU, want)
			}
			// GSO intact: super-frames as large as the underlay takes.
			ua := a.underlay.Attrs()
			if vx.GSOMaxSize != ua.GSOMaxSize || vx.GSOMaxSegs != ua.GSOMaxSegs || d.GSOMaxSize != ua.GSOMaxSize || vx.GSOMaxSize < 65536 {
				t.Errorf("gso_max_size %d segs %d, underlay %d %d", vx.GSOMaxSize, vx.GSOMaxSegs, ua.GSOMaxSize, ua.GSOMaxSegs)
			}
			// Point to point: the all-zeros FDB entry, and no other.
			fdb, err := a.ns.Handle().NeighList(vx.Index, unix.AF_BRIDGE)
			if err != nil {
				t.Fatal(err)
			}
			if len(fdb) != 1 || fdb[0].HardwareAddr.String() != "00:00:00:00:00:00" || !fdb[0].IP.Equal(net.IP(c.remote.AsSlice())) {
				t.Errorf("FDB %+v, want one all-zeros entry to %v", fdb, c.remote)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := a.ns.Handle().LinkByName(sp.Name); err == nil {
				t.Errorf("%s still exists after Close", sp.Name)
			}
		})
	}
}

// TestTunnelCarriesFramesLinux sends UDP across a tunnel pair, in
// datagrams as large as the tunnel's MTU allows unfragmented.
func TestTunnelCarriesFramesLinux(t *testing.T) {
	a, b := underlay(t, 1500)
	sa, sb := newSet(t, a), newSet(t, b)
	if _, err := sa.Create(spec("vx0", 7, a.ipv4, b.ipv4)); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Create(spec("vx0", 7, b.ipv4, a.ipv4)); err != nil {
		t.Fatal(err)
	}
	for i, m := range []*machine{a, b} {
		ipnet := &net.IPNet{IP: net.IPv4(10, 99, 0, byte(i+1)), Mask: net.CIDRMask(24, 32)}
		if err := m.ns.Handle().AddrAdd(mustLink(t, m.ns, "vx0"), &netlink.Addr{IPNet: ipnet}); err != nil {
			t.Fatal(err)
		}
	}
	var rx, tx *net.UDPConn
	if err := b.ns.Do(func() (err error) {
		rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: 5000})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	if err := a.ns.Do(func() (err error) {
		tx, err = net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 99, 0, 1)}, &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: 5000})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	raw, err := tx.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	raw.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO)
	})
	if err != nil {
		t.Fatal(err)
	}
	// 1450 - 20 - 8: the largest datagram the tunnel's MTU takes whole.
	const size = 1500 - tunnel.OverheadIPv4 - 28
	if _, err := tx.Write(make([]byte, size+1)); !errors.Is(err, unix.EMSGSIZE) {
		t.Errorf("a %d-byte datagram with DF: %v, want EMSGSIZE (the tunnel's MTU)", size+1, err)
	}
	buf := make([]byte, 2000)
	for i := range 3 {
		if _, err := tx.Write(make([]byte, size)); err != nil {
			t.Fatal(err)
		}
		rx.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := rx.Read(buf)
		if err != nil || n != size {
			t.Fatalf("datagram %d: read %d bytes, %v; want %d", i, n, err, size)
		}
	}
}

func TestCreateRefusesAHandMadeDeviceLinux(t *testing.T) {
	a, b := underlay(t, 1500)
	// As by ip link add vx-b type vxlan id 42 remote ... dev ul0.
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "vx-b"
	hand := &netlink.Vxlan{LinkAttrs: attrs, VxlanId: 42, VtepDevIndex: a.underlay.Attrs().Index, Group: b.ipv4.AsSlice(), Port: 4789}
	if err := a.ns.Handle().LinkAdd(hand); err != nil {
		t.Fatal(err)
	}
	s := newSet(t, a)
	_, err := s.Create(spec("vx-b", 42, a.ipv4, b.ipv4))
	if !errors.Is(err, tunnel.ErrExists) || !strings.Contains(err.Error(), "ip link del vx-b") {
		t.Fatalf("Create over a hand-made device: %v, want ErrExists naming the fix", err)
	}
	if l := mustLink(t, a.ns, "vx-b"); l.Attrs().Index != hand.Index || l.Attrs().Alias != "" {
		t.Errorf("the hand-made device was replaced or changed")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mustLink(t, a.ns, "vx-b") // Close leaves it alone too
}

func TestCreateReplacesALeftoverLinux(t *testing.T) {
	a, b := underlay(t, 1500)
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "vx-b"
	left := &netlink.Vxlan{LinkAttrs: attrs, VxlanId: 42, VtepDevIndex: a.underlay.Attrs().Index, Group: b.ipv4.AsSlice(), Port: 4789}
	if err := a.ns.Handle().LinkAdd(left); err != nil {
		t.Fatal(err)
	}
	if err := a.ns.Handle().LinkSetAlias(left, "snoopswitch tunnel, pid "+strconv.Itoa(gone.Process.Pid)); err != nil {
		t.Fatal(err)
	}
	old := mustLink(t, a.ns, "vx-b").Attrs().Index
	s := newSet(t, a)
	d, err := s.Create(spec("vx-b", 42, a.ipv4, b.ipv4))
	if err != nil {
		t.Fatal(err)
	}
	if d.Index == old {
		t.Errorf("the leftover (index %d) was kept", old)
	}

	// A device of a switch that still runs (this process) is refused.
	other := tunnel.NewSet(tunnel.Options{Handle: a.ns.Handle()})
	if _, err := other.Create(spec("vx-b", 43, a.ipv4, b.ipv4)); !errors.Is(err, tunnel.ErrExists) || !strings.Contains(err.Error(), "still runs") {
		t.Errorf("Create over a running switch's tunnel: %v", err)
	}
	if got := mustLink(t, a.ns, "vx-b").Attrs().Index; got != d.Index {
		t.Errorf("the running switch's tunnel was replaced")
	}
}

func TestCreateFailsCleanlyLinux(t *testing.T) {
	a, b := underlay(t, 1500)
	s := newSet(t, a)
	for _, c := range []struct {
		name string
		spec tunnel.Spec
		want string
	}{
		{"no underlay", tunnel.Spec{Name: "vx1", VNI: 1, Local: a.ipv4, Remote: b.ipv4, Device: "nope0"}, `underlay device "nope0"`},
		{"foreign local", spec("vx1", 1, netip.MustParseAddr("192.0.2.9"), b.ipv4), "local 192.0.2.9 is not an address of this machine"},
	} {
		if _, err := s.Create(c.spec); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
		if _, err := a.ns.Handle().LinkByName("vx1"); err == nil {
			t.Errorf("%s: vx1 was left behind", c.name)
		}
	}
	if _, err := s.Create(spec("vx1", 5, a.ipv4, b.ipv4)); err != nil {
		t.Fatal(err)
	}
	_, err := s.Create(spec("vx2", 5, a.ipv4, netip.MustParseAddr("192.0.2.3")))
	if err == nil || !strings.Contains(err.Error(), "has VNI 5 on UDP port 4789") {
		t.Errorf("a second tunnel of VNI 5: %v", err)
	}
	if _, err := a.ns.Handle().LinkByName("vx2"); err == nil {
		t.Errorf("vx2 was left behind")
	}
	if got := s.Names(); len(got) != 1 || got[0] != "vx1" {
		t.Errorf("Names() = %v, want [vx1]", got)
	}
}

func TestCheckMTULinux(t *testing.T) {
	a, b := underlay(t, 1500)
	s := newSet(t, a)
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU = "p0", 1500
	if err := a.ns.Handle().LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "p0peer"}); err != nil {
		t.Fatal(err)
	}
	sp := spec("vx-b", 42, a.ipv4, b.ipv4)
	if _, err := s.Create(sp); err != nil {
		t.Fatal(err)
	}
	ports := []string{"p0", "vx-b"}
	_, err := s.CheckMTU([]tunnel.Spec{sp}, ports)
	var mtu *tunnel.MTUError
	if !errors.As(err, &mtu) || mtu.Port != "p0" || mtu.PortMTU != 1500 || mtu.UnderlayMTU != 1500 ||
		!strings.Contains(err.Error(), "1500 + 50 bytes of VXLAN over IPv4 = 1550") {
		t.Fatalf("CheckMTU with a 1500-byte port over a 1500-byte underlay: %v", err)
	}
	sp.WarnMTU = true
	warn, err := s.CheckMTU([]tunnel.Spec{sp}, ports)
	if err != nil || len(warn) != 1 || warn[0].Port != "p0" {
		t.Errorf("mtu-check warn: warnings %v, err %v", warn, err)
	}
	sp.WarnMTU = false
	if err := a.ns.Handle().LinkSetMTU(a.underlay, 1550); err != nil {
		t.Fatal(err)
	}
	if warn, err := s.CheckMTU([]tunnel.Spec{sp}, ports); err != nil || len(warn) != 0 {
		t.Errorf("underlay MTU 1550: warnings %v, err %v", warn, err)
	}
}
