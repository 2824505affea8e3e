package main

import (
	"encoding/json"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/control"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// TestShowAgainstARunningSwitch runs the binary in a lab, has a host join a
// group with its kernel, and reads the switch's tables back with `show`,
// as tables and as JSON.
func TestShowAgainstARunningSwitch(t *testing.T) {
	lab := testenv.New(t)
	var args []string
	hosts := map[string]*testenv.Host{}
	for _, n := range []string{"src", "member", "router"} {
		h, err := lab.AddHost(n, testenv.HostOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hosts[n] = h
		if n == "router" {
			args = append(args, "--router-port", h.SwitchPort)
		} else {
			args = append(args, "--port", h.SwitchPort)
		}
	}
	socket := filepath.Join(t.TempDir(), "ctl.sock")
	bin := binary(t)
	cmd := lab.SwitchNS().Command(bin, append([]string{"run", "--control-socket", socket}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	show := func(topic string, extra ...string) (int, string) {
		return exitCode(t, exec.Command(bin, append([]string{"show", topic, "--control-socket", socket}, extra...)...))
	}
	// Join once the switch answers, so that the host's unsolicited reports
	// reach it.
	deadline := time.Now().Add(5 * time.Second)
	for code, out := show("ports"); code != 0; code, out = show("ports") {
		if time.Now().After(deadline) {
			t.Fatalf("the switch's control socket did not answer within 5s: %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	group := netip.MustParseAddr("239.1.2.3")
	if _, err := hosts["member"].Join(group); err != nil {
		t.Fatal(err)
	}
	var member *control.Group
	for member == nil {
		code, out := show("groups", "--json")
		var groups []control.Group
		if err := json.Unmarshal([]byte(out), &groups); code != 0 || err != nil {
			t.Fatalf("show groups --json: exit %d, %v\n%s", code, err, out)
		}
		for i, g := range groups {
			if g.Group == group.String() && g.Port == hosts["member"].SwitchPort {
				member = &groups[i]
			}
		}
		if member == nil && time.Now().After(deadline) {
			t.Fatalf("show groups --json lacks %s on %s after 5s: %+v", group, hosts["member"].SwitchPort, groups)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if member.Mode != "EXCLUDE" || member.GroupTimer <= 0 || len(member.Sources) != 0 {
		t.Errorf("membership %+v: want EXCLUDE {} with a running group timer", member)
	}
	// The member's kernel reports IGMPv3 from its address: a tracked host.
	memberAddr := hosts["member"].IPv4.Addr().String()
	if len(member.Hosts) != 1 || member.Hosts[0].Address != memberAddr || member.Hosts[0].Mode != "EXCLUDE" ||
		member.Hosts[0].Expires <= 0 || member.Untracked {
		t.Errorf("hosts %+v (untracked %v): want %s in EXCLUDE {} with a running expiry", member.Hosts, member.Untracked, memberAddr)
	}

	code, out := show("groups")
	if code != 0 || !strings.Contains(out, "HOSTS") || !strings.Contains(out, group.String()) || !strings.Contains(out, memberAddr+"=EXCLUDE{}") {
		t.Errorf("show groups: exit %d\n%s", code, out)
	}
	code, out = show("counters", "--json")
	var ports []control.Port
	if err := json.Unmarshal([]byte(out), &ports); code != 0 || err != nil {
		t.Fatalf("show counters --json: exit %d, %v\n%s", code, err, out)
	}
	for _, p := range ports {
		if p.Name == hosts["member"].SwitchPort && p.Control["igmpv3-report"] == 0 {
			t.Errorf("member port counted no IGMPv3 report: %+v", p.Control)
		}
	}
	code, out = show("routers")
	if code != 0 || !strings.Contains(out, hosts["router"].SwitchPort) || !strings.Contains(out, "static") {
		t.Errorf("show routers: exit %d\n%s", code, out)
	}
	for _, topic := range []string{"ports", "fdb", "querier"} {
		if code, out := show(topic); code != 0 {
			t.Errorf("show %s: exit %d\n%s", topic, code, out)
		}
	}

	code, out = exitCode(t, exec.Command(bin, "show", "groups", "--control-socket", filepath.Join(t.TempDir(), "none.sock")))
	if code != 1 || !strings.Contains(out, "not running") {
		t.Errorf("show without a switch: exit %d, %q", code, out)
	}
	code, out = show("nonsense")
	if code != 2 {
		t.Errorf("show nonsense: exit %d, %q", code, out)
	}
}
