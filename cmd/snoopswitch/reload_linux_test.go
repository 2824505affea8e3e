package main

import (
	endian "encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/internal/control"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// runningSwitch is `snoopswitch run` started by a test in a lab's switch
// namespace, with its control socket.
type runningSwitch struct {
	*switchProcess
	t      *testing.T
	bin    string
	socket string
}

// startDaemon runs the binary with args in lab's switch namespace and waits
// until its control socket answers.
func startDaemon(t *testing.T, lab *testenv.Lab, args ...string) *runningSwitch {
	t.Helper()
	d := &runningSwitch{t: t, bin: binary(t), socket: filepath.Join(t.TempDir(), "ctl.sock")}
	d.switchProcess = startSwitchProcess(t, lab.SwitchNS().Command(d.bin, append([]string{"run", "--control-socket", d.socket}, args...)...))
	deadline := time.Now().Add(5 * time.Second)
	for code, out := d.ctl("show", "ports"); code != 0; code, out = d.ctl("show", "ports") {
		if time.Now().After(deadline) {
			t.Fatalf("the switch's control socket did not answer within 5s: %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d
}

// ctl runs a client subcommand (show, reload, rule) against the daemon.
func (d *runningSwitch) ctl(args ...string) (int, string) {
	return exitCode(d.t, exec.Command(d.bin, append(args, "--control-socket", d.socket)...))
}

// ports returns the daemon's ports report by name.
func (d *runningSwitch) ports() map[string]control.Port {
	d.t.Helper()
	code, out := d.ctl("show", "ports", "--json")
	var ps []control.Port
	if err := json.Unmarshal([]byte(out), &ps); code != 0 || err != nil {
		d.t.Fatalf("show ports --json: exit %d, %v\n%s", code, err, out)
	}
	byName := make(map[string]control.Port)
	for _, p := range ps {
		byName[p.Name] = p
	}
	return byName
}

// waitMember waits until the daemon lists port as a member of group.
func (d *runningSwitch) waitMember(group netip.Addr, port string) {
	d.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, out := d.ctl("show", "groups", "--json")
		var gs []control.Group
		if err := json.Unmarshal([]byte(out), &gs); code != 0 || err != nil {
			d.t.Fatalf("show groups --json: exit %d, %v\n%s", code, err, out)
		}
		for _, g := range gs {
			if g.Group == group.String() && g.Port == port {
				return
			}
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("%s never joined %s: %s", port, group, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// udpPort matches IPv4 UDP frames to group:port.
func udpPort(group netip.Addr, port int) func([]byte) bool {
	return func(f []byte) bool {
		if len(f) < 42 || endian.BigEndian.Uint16(f[12:14]) != 0x0800 {
			return false
		}
		ip := f[14:]
		ihl := int(ip[0]&0x0f) * 4
		return ip[9] == 17 && netip.AddrFrom4([4]byte(ip[16:20])) == group && len(ip) >= ihl+4 &&
			int(endian.BigEndian.Uint16(ip[ihl+2:])) == port
	}
}

// TestReloadWhileTrafficFlows: a reload adds a port and a deny rule while
// two groups stream to a member. The denied group stops at once, the other
// loses nothing, the new port forwards; an invalid file and a change only a
// restart applies are refused and the running configuration stays; SIGHUP
// reloads too; show config prints the running configuration; the metrics
// endpoint serves.
func TestReloadWhileTrafficFlows(t *testing.T) {
	lab := testenv.New(t)
	hosts := map[string]*testenv.Host{}
	for _, n := range []string{"src", "m1", "late"} {
		h, err := lab.AddHost(n, testenv.HostOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hosts[n] = h
	}
	src, m1, late := hosts["src"], hosts["m1"], hosts["late"]
	file := filepath.Join(t.TempDir(), "snoopswitch.yaml")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	v1 := fmt.Sprintf("ports:\n  - name: %s\n  - name: %s\n", src.SwitchPort, m1.SwitchPort)
	v2 := v1 + fmt.Sprintf("  - name: %s\n", late.SwitchPort)
	v2 = strings.Replace(v2, "  - name: "+m1.SwitchPort+"\n",
		"  - name: "+m1.SwitchPort+"\n    guard:\n      acl:\n        - {action: deny, group: 239.1.1.1}\n", 1)
	write(v1)
	metrics := freeLocalPort(t, lab)
	d := startDaemon(t, lab, "--config", file, "--metrics-address", metrics)

	denied, kept := netip.MustParseAddr("239.1.1.1"), netip.MustParseAddr("239.2.2.2")
	for _, g := range []netip.Addr{denied, kept} {
		if _, err := m1.Join(g); err != nil {
			t.Fatal(err)
		}
		d.waitMember(g, m1.SwitchPort)
	}
	capture, err := m1.Capture()
	if err != nil {
		t.Fatal(err)
	}

	// Both groups stream while the reload adds the port and the rule.
	const streamed = 600
	reloaded := make(chan string, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		write(v2)
		code, out := d.ctl("reload")
		if code != 0 {
			out = fmt.Sprintf("exit %d: %s", code, out)
		}
		reloaded <- out
	}()
	for i := range streamed {
		for _, g := range []netip.Addr{denied, kept} {
			if err := src.SendUDP(g, 5000, []byte("during the reload")); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Millisecond + time.Duration(i%2)*time.Millisecond)
	}
	out := <-reloaded
	if !strings.Contains(out, "ports added:   "+late.SwitchPort) || !strings.Contains(out, "ports changed: "+m1.SwitchPort) ||
		!strings.Contains(out, "memberships revoked: 1") {
		t.Fatalf("snoopswitch reload:\n%s", out)
	}
	// The denied group stops: after the reload, none of it arrives.
	for range 100 {
		src.SendUDP(denied, 5001, []byte("after the reload"))
	}
	time.Sleep(200 * time.Millisecond)
	if got := capture.Count(udpPort(kept, 5000)); got != streamed {
		t.Errorf("m1 received %d of the %d datagrams to %s, which the reload does not touch", got, streamed, kept)
	}
	if got := capture.Count(udpPort(denied, 5000)); got == 0 || got == streamed {
		t.Errorf("m1 received %d of %d datagrams to %s while the rule came: want some (before it), not all", got, streamed, denied)
	}
	if got := capture.Count(udpPort(denied, 5001)); got != 0 {
		t.Errorf("m1 received %d datagrams to %s after the reload denied it", got, denied)
	}
	if ev := d.ports()[m1.SwitchPort].Events["membership-revoked"]; ev != 1 {
		t.Errorf("membership-revoked on %s = %d, want 1", m1.SwitchPort, ev)
	}

	// The added port forwards.
	if _, err := late.Join(kept); err != nil {
		t.Fatal(err)
	}
	d.waitMember(kept, late.SwitchPort)
	lateCapture, err := late.Capture()
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		src.SendUDP(kept, 5002, []byte("to the new port"))
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if got := lateCapture.Count(udpPort(kept, 5002)); got != 50 {
		t.Errorf("the port the reload added received %d of 50 datagrams", got)
	}

	// An invalid file is refused with its error; the running configuration
	// stays.
	write(v2 + "bogus: 1\n")
	code, out := d.ctl("reload")
	if code != 1 || !strings.Contains(out, file+":") || !strings.Contains(out, "bogus") || !strings.Contains(out, "running configuration stays") {
		t.Errorf("reload of an invalid file: exit %d\n%s", code, out)
	}
	write(v2 + "snooping:\n  query-interval: 60s\n")
	code, out = d.ctl("reload")
	if code != 1 || !strings.Contains(out, "snooping.query-interval changed") {
		t.Errorf("reload of a change only a restart applies: exit %d\n%s", code, out)
	}
	code, out = d.ctl("show", "config")
	if code != 0 || !strings.Contains(out, late.SwitchPort) || !strings.Contains(out, "239.1.1.1/32") || !strings.Contains(out, "query-interval: 2m5s") {
		t.Errorf("show config after the refused reloads:\n%s", out)
	}
	if _, err := config.Parse("show-config", []byte(out)); err != nil {
		t.Errorf("show config does not load as a configuration file: %v", err)
	}
	code, out = d.ctl("show", "config", "--json")
	var doc config.Document
	if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil || len(doc.Ports) != 3 {
		t.Errorf("show config --json: exit %d, %v, %d ports\n%s", code, err, len(doc.Ports), out)
	}

	// SIGHUP reloads: the port leaves again.
	write(v1)
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !d.ports()[late.SwitchPort].Removed {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP: %s not removed after 5s", late.SwitchPort)
		}
		time.Sleep(20 * time.Millisecond)
	}

	body := fetchMetrics(t, lab, metrics)
	want := fmt.Sprintf(`snoopswitch_port_rx_frames_total{port=%q}`, src.SwitchPort)
	if !strings.Contains(body, want) {
		t.Errorf("metrics lack %s:\n%.2000s", want, body)
	}
}

// freeLocalPort returns 127.0.0.1:PORT with a port free in lab's switch
// namespace.
func freeLocalPort(t *testing.T, lab *testenv.Lab) string {
	t.Helper()
	var addr string
	err := lab.SwitchNS().Do(func() error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		addr = ln.Addr().String()
		return ln.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// fetchMetrics GETs /metrics from addr in lab's switch namespace.
func fetchMetrics(t *testing.T, lab *testenv.Lab, addr string) string {
	t.Helper()
	var body []byte
	err := lab.SwitchNS().Do(func() error {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET /metrics HTTP/1.0\r\nHost: snoopswitch\r\n\r\n"); err != nil {
			return err
		}
		body, err = io.ReadAll(c)
		return err
	})
	if err != nil {
		t.Fatalf("metrics at %s: %v", addr, err)
	}
	return string(body)
}
