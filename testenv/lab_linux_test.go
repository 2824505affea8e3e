package testenv_test

import (
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/testenv"
	"github.com/vishvananda/netns"
)

// labNamespaces lists the entries under /run/netns that belong to prefix.
func labNamespaces(t *testing.T, prefix string) []string {
	t.Helper()
	entries, err := os.ReadDir("/run/netns")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix+"-") {
			names = append(names, e.Name())
		}
	}
	return names
}

// rootLinks lists the links of the test's own namespace whose names start
// with prefix.
func rootLinks(t *testing.T, prefix string) []string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ifi := range ifs {
		if strings.HasPrefix(ifi.Name, prefix) {
			names = append(names, ifi.Name)
		}
	}
	return names
}

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func TestLabCloseRemovesEverythingLinux(t *testing.T) {
	testenv.RequireRoot(t)
	// A namespace outlives its /run/netns entry while a descriptor refers to
	// it, so Close must leave none open.
	fdsBefore := openFDs(t)
	lab := testenv.New(t)
	p := lab.Prefix()
	for _, name := range []string{"a", "b"} {
		if _, err := lab.AddHost(name, testenv.HostOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	br, err := lab.AddLinuxBridge()
	if err != nil {
		t.Fatal(err)
	}
	a, b := lab.Hosts()[0], lab.Hosts()[1]
	c, err := b.Capture() // left open: Close must close it
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SendFrame(frame(b.MAC, a.MAC, "hello")); err != nil { // opens a's send socket
		t.Fatal(err)
	}
	if r, err := a.Ping(b.IPv4.Addr(), 1, 0, time.Second); err != nil || r.Received != 1 {
		t.Fatalf("ping: %+v, %v", r, err)
	}

	want := []string{p + "-a", p + "-b", p + "-sw"}
	if got := labNamespaces(t, p); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("/run/netns holds %v, want %v", got, want)
	}
	if got := rootLinks(t, p); len(got) != 0 {
		t.Errorf("links %v appeared in the test's own namespace", got)
	}
	for _, name := range []string{p + "a", p + "b", br} {
		if _, err := lab.SwitchNS().Handle().LinkByName(name); err != nil {
			t.Errorf("switch namespace: %s: %v", name, err)
		}
	}

	if err := lab.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := labNamespaces(t, p); len(got) != 0 {
		t.Errorf("after Close /run/netns still holds %v", got)
	}
	if got := openFDs(t); got != fdsBefore {
		t.Errorf("after Close %d file descriptors are open, %d before the lab", got, fdsBefore)
	}
	if err := lab.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Capture.Close after Lab.Close: %v", err)
	}
	if _, err := lab.AddHost("c", testenv.HostOptions{}); err == nil {
		t.Error("AddHost on a closed lab succeeded")
	}
	if err := lab.SwitchNS().Do(func() error { return nil }); err == nil {
		t.Error("Do on a closed lab's namespace succeeded")
	}
	if lab.SwitchNS().Handle() != nil {
		t.Error("Handle on a closed lab's namespace is not nil")
	}
	if _, err := lab.Hosts()[0].RxPackets(); err == nil {
		t.Error("RxPackets on a closed lab succeeded")
	}
}

// failingTB stands for a test that has failed: it records cleanups so the
// test can run them as the testing package would.
type failingTB struct {
	testing.TB
	cleanups []func()
}

func (f *failingTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *failingTB) Failed() bool      { return true }

func (f *failingTB) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func TestLabCleanupAfterPanicLinux(t *testing.T) {
	testenv.RequireRoot(t)
	tb := &failingTB{TB: t}
	var prefix string
	func() {
		defer tb.runCleanups()
		defer func() {
			if r := recover(); r != "simulated failure" {
				t.Errorf("recovered %v, want the simulated panic", r)
			}
		}()
		lab := testenv.New(tb)
		prefix = lab.Prefix()
		if _, err := lab.AddHost("a", testenv.HostOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := labNamespaces(t, prefix); len(got) != 2 {
			t.Fatalf("/run/netns holds %v, want the switch and one host", got)
		}
		panic("simulated failure")
	}()
	if got := labNamespaces(t, prefix); len(got) != 0 {
		t.Errorf("after the failed test's cleanup /run/netns still holds %v", got)
	}
}

func TestLabKeptOnFailureLinux(t *testing.T) {
	testenv.RequireRoot(t)
	t.Setenv(testenv.KeepLabEnv, "1")
	tb := &failingTB{TB: t}
	lab := testenv.New(tb)
	p := lab.Prefix()
	if _, err := lab.AddHost("a", testenv.HostOptions{}); err != nil {
		t.Fatal(err)
	}
	tb.runCleanups()
	kept := labNamespaces(t, p)
	for _, name := range kept {
		if err := netns.DeleteNamed(name); err != nil {
			t.Error(err)
		}
	}
	if len(kept) != 2 {
		t.Errorf("kept namespaces %v, want %s-a and %s-sw", kept, p, p)
	}
}

func TestAddHostLinux(t *testing.T) {
	lab := testenv.New(t)
	a, err := lab.AddHost("a", testenv.HostOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := lab.AddHost("b", testenv.HostOptions{
		IPv4: netip.MustParsePrefix("198.19.7.5/16"),
		IPv6: netip.MustParsePrefix("2001:db8:7::5/48"),
		MTU:  9000,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := lab.Prefix()

	check := func(h *testenv.Host, i int, v4, v6 string, mtu int) {
		t.Helper()
		if h.Index != i || h.Iface != "eth0" || h.SwitchPort != p+h.Name || h.NS.Name != p+"-"+h.Name {
			t.Errorf("host %s: Index %d Iface %s SwitchPort %s NS %s", h.Name, h.Index, h.Iface, h.SwitchPort, h.NS.Name)
		}
		if h.MAC.String() != testenv.HostMAC(i).String() || h.LinkLocal != testenv.HostLinkLocal(i) {
			t.Errorf("host %s: MAC %s link-local %s, want %s %s", h.Name, h.MAC, h.LinkLocal, testenv.HostMAC(i), testenv.HostLinkLocal(i))
		}
		if h.IPv4.String() != v4 || h.IPv6.String() != v6 {
			t.Errorf("host %s: addresses %s %s, want %s %s", h.Name, h.IPv4, h.IPv6, v4, v6)
		}
		eth, err := h.NS.Handle().LinkByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		if got := eth.Attrs().HardwareAddr.String(); got != h.MAC.String() {
			t.Errorf("host %s: eth0 has MAC %s, want %s", h.Name, got, h.MAC)
		}
		port, err := lab.SwitchNS().Handle().LinkByName(h.SwitchPort)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range []*net.Interface{{Name: "eth0", MTU: eth.Attrs().MTU, Flags: eth.Attrs().Flags}, {Name: h.SwitchPort, MTU: port.Attrs().MTU, Flags: port.Attrs().Flags}} {
			if l.MTU != mtu || l.Flags&net.FlagUp == 0 {
				t.Errorf("host %s: %s has MTU %d flags %v, want MTU %d and up", h.Name, l.Name, l.MTU, l.Flags, mtu)
			}
		}
		var addrs []string
		err = h.NS.Do(func() error {
			ifi, err := net.InterfaceByName("eth0")
			if err != nil {
				return err
			}
			as, err := ifi.Addrs()
			for _, a := range as {
				addrs = append(addrs, a.String())
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{v4, v6, h.LinkLocal.String() + "/64"}
		if strings.Join(addrs, " ") != strings.Join(want, " ") {
			t.Errorf("host %s: eth0 addresses %v, want %v", h.Name, addrs, want)
		}
		for _, key := range []string{"net.ipv6.conf.all.accept_dad", "net.ipv6.conf.default.accept_dad", "net.ipv6.conf.eth0.accept_dad"} {
			if v, err := h.NS.Sysctl(key); err != nil || v != "0" {
				t.Errorf("host %s: %s = %q (%v), want 0", h.Name, key, v, err)
			}
		}
	}
	check(a, 1, "198.18.0.1/24", "2001:db8::1/64", 1500)
	check(b, 2, "198.19.7.5/16", "2001:db8:7::5/48", 9000)

	// Switch ports carry no IPv6, so the kernel sends nothing of its own
	// out of them.
	if v, err := lab.SwitchNS().Sysctl("net.ipv6.conf." + a.SwitchPort + ".disable_ipv6"); err != nil || v != "1" {
		t.Errorf("switch port %s: disable_ipv6 = %q (%v), want 1", a.SwitchPort, v, err)
	}
	if got := len(lab.Hosts()); got != 2 {
		t.Errorf("Hosts() has %d hosts, want 2", got)
	}
}

func TestAddHostRejectsLinux(t *testing.T) {
	lab := testenv.New(t)
	if _, err := lab.AddHost("a", testenv.HostOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts testenv.HostOptions
		want string
	}{
		{"abcdefghij", testenv.HostOptions{}, "Linux allows 15"},
		{"a", testenv.HostOptions{}, "already exists"},
		{"sw", testenv.HostOptions{}, "reserved"},
		{"br", testenv.HostOptions{}, "reserved"},
		{"", testenv.HostOptions{}, "empty"},
		{"x/y", testenv.HostOptions{}, "use ASCII letters"},
		{"-x", testenv.HostOptions{}, "use ASCII letters"},
		{"c", testenv.HostOptions{IPv4: netip.MustParsePrefix("10.0.0.1/24")}, "198.18.0.0/15"},
		{"c", testenv.HostOptions{IPv6: netip.MustParsePrefix("fd00::1/64")}, "2001:db8::/32"},
		{"c", testenv.HostOptions{MTU: 1000}, "MTU 1000"},
	} {
		_, err := lab.AddHost(tc.name, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "testenv: ") {
			t.Errorf("AddHost(%q, %+v) = %v, want an error containing %q", tc.name, tc.opts, err, tc.want)
		}
	}
	if got := labNamespaces(t, lab.Prefix()); len(got) != 2 {
		t.Errorf("rejected hosts left namespaces: /run/netns holds %v", got)
	}
	if _, err := testenv.NewLab(testenv.Options{Prefix: "toolongprefix"}); err == nil {
		t.Error("NewLab accepted a 13-character prefix")
	}
}

func TestNamespaceDoLinux(t *testing.T) {
	lab := testenv.New(t)
	h, err := lab.AddHost("a", testenv.HostOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inSwitch := func() bool {
		_, err := net.InterfaceByName(h.SwitchPort)
		return err == nil
	}
	var seen bool
	if err := lab.SwitchNS().Do(func() error { seen = inSwitch(); return nil }); err != nil {
		t.Fatal(err)
	}
	if !seen {
		t.Errorf("inside Do, switch port %s is not visible", h.SwitchPort)
	}
	if inSwitch() {
		t.Errorf("outside Do, switch port %s is visible", h.SwitchPort)
	}

	want := errors.New("from fn")
	if err := lab.SwitchNS().Do(func() error { return want }); !errors.Is(err, want) {
		t.Errorf("Do returned %v, want fn's error", err)
	}

	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(r.(string), "boom") {
				t.Errorf("recovered %v, want the panic from fn", r)
			}
		}()
		_ = lab.SwitchNS().Do(func() error { panic("boom") })
	}()
	if inSwitch() {
		t.Error("after a panic in Do the test goroutine is in the switch namespace")
	}

	after := make(chan bool, 1)
	go func() {
		defer close(after)
		_ = lab.SwitchNS().Do(func() error { runtime.Goexit(); return nil })
		after <- true
	}()
	if <-after {
		t.Error("runtime.Goexit in fn did not end the goroutine that called Do")
	}

	out, err := lab.SwitchNS().Command("ip", "-o", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip link show in %s: %v\n%s", lab.SwitchNS().Name, err, out)
	}
	if !strings.Contains(string(out), h.SwitchPort+"@") {
		t.Errorf("ip link show in the switch namespace does not list %s:\n%s", h.SwitchPort, out)
	}
}

// TestAddHostsBehindPortLinux: two hosts behind one switch port reach each
// other through their hub and a host on another port through the switch
// (here the Linux bridge twin); the shared port is listed and bridged once;
// names are checked; Close removes the hub with the rest.
func TestAddHostsBehindPortLinux(t *testing.T) {
	testenv.RequireRoot(t)
	fdsBefore := openFDs(t)
	lab := testenv.New(t)
	p := lab.Prefix()
	src, err := lab.AddHost("src", testenv.HostOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lab.AddHostsBehindPort("vm", "a", "src"); err == nil {
		t.Error("AddHostsBehindPort took a host name already in use")
	}
	if _, err := lab.AddHostsBehindPort("vm2"); err == nil {
		t.Error("AddHostsBehindPort with no host succeeded")
	}
	behind, err := lab.AddHostsBehindPort("vm", "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	a, b := behind[0], behind[1]
	if a.SwitchPort != p+"vm" || b.SwitchPort != p+"vm" || a.Index != 2 || b.Index != 3 {
		t.Errorf("hosts behind the port: %s #%d, %s #%d; want both on %svm, numbered 2 and 3", a.SwitchPort, a.Index, b.SwitchPort, b.Index, p)
	}
	if got := lab.SwitchPorts(); strings.Join(got, " ") != p+"src "+p+"vm" {
		t.Errorf("SwitchPorts = %v, want [%ssrc %svm]", got, p, p)
	}
	if _, err := lab.AddHost("vm", testenv.HostOptions{}); err == nil {
		t.Error("AddHost took the shared port's name")
	}
	if err := lab.Replug(a); err == nil {
		t.Error("Replug of a host behind a shared port succeeded")
	}
	if _, err := lab.AddLinuxBridge(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		from *testenv.Host
		to   netip.Addr
	}{{a, b.IPv4.Addr()}, {a, src.IPv4.Addr()}, {b, src.IPv6.Addr()}} {
		if r, err := c.from.Ping(c.to, 1, 0, 2*time.Second); err != nil || r.Received != 1 {
			t.Errorf("%s pings %s: %+v, %v", c.from.Name, c.to, r, err)
		}
	}
	want := []string{p + "-a", p + "-b", p + "-src", p + "-sw", p + "-vm"}
	if got := labNamespaces(t, p); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("/run/netns holds %v, want %v", got, want)
	}
	if err := lab.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := labNamespaces(t, p); len(got) != 0 {
		t.Errorf("after Close /run/netns still holds %v", got)
	}
	if got := openFDs(t); got != fdsBefore {
		t.Errorf("after Close %d file descriptors are open, %d before the lab", got, fdsBefore)
	}
}
