package testenv_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/testenv"
)

// bridgeSysfs reads the Linux bridge's option file name from sysfs, as a
// second opinion on what SetLinuxBridge read back over rtnetlink: `ip
// netns exec` mounts the switch namespace's own /sys.
func bridgeSysfs(t *testing.T, lab *testenv.Lab, br, name string) string {
	t.Helper()
	out, err := lab.SwitchNS().Command("cat", "/sys/class/net/"+br+"/bridge/"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("read %s of %s: %v: %s", name, br, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestLinuxBridgeOptionsLinux(t *testing.T) {
	lab, _, _ := twoHosts(t)
	if err := lab.SetLinuxBridge(testenv.BridgeMulticastQuerier(true)); err == nil || !strings.Contains(err.Error(), "AddLinuxBridge") {
		t.Errorf("SetLinuxBridge without a bridge: %v, want an error that says to call AddLinuxBridge", err)
	}
	br, err := lab.AddLinuxBridge()
	if err != nil {
		t.Fatal(err)
	}
	if got := bridgeSysfs(t, lab, br, "multicast_snooping"); got != "1" {
		t.Errorf("AddLinuxBridge: multicast_snooping %s, want 1", got)
	}
	opts := []testenv.BridgeOption{
		testenv.BridgeIGMPVersion(3),
		testenv.BridgeMLDVersion(2),
		testenv.BridgeHashMax(1024),
		testenv.BridgeQueryResponseInterval(1500 * time.Millisecond),
		testenv.BridgeMulticastQuerier(true),
	}
	if err := lab.SetLinuxBridge(opts...); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"multicast_igmp_version":            "3",
		"multicast_mld_version":             "2",
		"hash_max":                          "1024",
		"multicast_query_response_interval": "150",
		"multicast_querier":                 "1",
	}
	for name, v := range want {
		if got := bridgeSysfs(t, lab, br, name); got != v {
			t.Errorf("%s is %s, want %s", name, got, v)
		}
	}

	// An invalid option, even after valid ones, changes nothing.
	err = lab.SetLinuxBridge(testenv.BridgeMulticastQuerier(false), testenv.BridgeIGMPVersion(4))
	if err == nil || !strings.Contains(err.Error(), "mcast_igmp_version 4") {
		t.Errorf("SetLinuxBridge with IGMP version 4: %v, want an error naming it", err)
	}
	if err := lab.SetLinuxBridge(testenv.BridgeOption{}); err == nil {
		t.Error("SetLinuxBridge accepted a zero BridgeOption")
	}
	if got := bridgeSysfs(t, lab, br, "multicast_querier"); got != "1" {
		t.Errorf("after the rejected options multicast_querier is %s, want 1", got)
	}

	if err := lab.SetLinuxBridge(testenv.BridgeMulticastSnooping(false)); err != nil {
		t.Fatal(err)
	}
	if got := bridgeSysfs(t, lab, br, "multicast_snooping"); got != "0" {
		t.Errorf("multicast_snooping is %s, want 0", got)
	}
}

func TestLinuxBridgeMDBLinux(t *testing.T) {
	lab, a, b := twoHosts(t)
	c, err := lab.AddHost("c", testenv.HostOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lab.LinuxBridgeMDB(); err == nil || !strings.Contains(err.Error(), "AddLinuxBridge") {
		t.Errorf("LinuxBridgeMDB without a bridge: %v, want an error that says to call AddLinuxBridge", err)
	}
	if _, err := lab.AddLinuxBridge(); err != nil {
		t.Fatal(err)
	}
	// IGMPv3 on the bridge, or it keeps (*,G) entries only.
	if err := lab.SetLinuxBridge(testenv.BridgeIGMPVersion(3), testenv.BridgeMLDVersion(2)); err != nil {
		t.Fatal(err)
	}

	g4 := netip.MustParseAddr("239.1.2.3")
	ssm := netip.MustParseAddr("232.1.2.4")
	g6 := netip.MustParseAddr("ff0e::db8:1")
	if _, err := a.Join(g4); err != nil {
		t.Fatal(err)
	}
	if _, err := b.JoinSource(ssm, a.IPv4.Addr()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Join(g6); err != nil {
		t.Fatal(err)
	}
	want := []testenv.MDBEntry{
		{Port: a.SwitchPort, Group: g4},
		{Port: b.SwitchPort, Group: ssm, Source: a.IPv4.Addr()},
		{Port: c.SwitchPort, Group: g6},
	}
	// The hosts' kernels report their joins at once; the bridge learns
	// them from those reports.
	var entries []testenv.MDBEntry
	deadline := time.Now().Add(5 * time.Second)
	for {
		entries, err = lab.LinuxBridgeMDB()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(want, func(e testenv.MDBEntry) bool { return !slices.Contains(entries, e) }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5s the MDB is %s, want it to hold %s", mdbString(entries), mdbString(want))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, e := range entries {
		if e.Group == g4 && e.Port != a.SwitchPort || e.Group == ssm && e.Port != b.SwitchPort || e.Group == g6 && e.Port != c.SwitchPort {
			t.Errorf("MDB entry %+v: only one host joined that group", e)
		}
		if e.Source.IsValid() && (e.Group != ssm || e.Source != a.IPv4.Addr()) {
			t.Errorf("MDB entry %+v: no host joined that source", e)
		}
	}
}

func mdbString(entries []testenv.MDBEntry) string {
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "[%s %v", e.Port, e.Group)
		if e.Source.IsValid() {
			fmt.Fprintf(&b, " src %v", e.Source)
		}
		b.WriteString("] ")
	}
	return b.String()
}
