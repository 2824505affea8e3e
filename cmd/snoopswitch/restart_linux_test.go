package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/testenv"
)

// TestRestartRebuildsMembership: after the switch restarts, its startup
// query has the hosts report again within the query response interval, and
// in the gap a member still gets its group's data (flooded while the switch
// learns who listens).
func TestRestartRebuildsMembership(t *testing.T) {
	lab := testenv.New(t)
	var src, member *testenv.Host
	for _, n := range []string{"src", "member"} {
		h, err := lab.AddHost(n, testenv.HostOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n == "src" {
			src = h
		} else {
			member = h
		}
	}
	const qri = 2 * time.Second
	file := filepath.Join(t.TempDir(), "snoopswitch.yaml")
	body := fmt.Sprintf("ports:\n  - name: %s\n  - name: %s\nsnooping:\n  query-response-interval: %v\n", src.SwitchPort, member.SwitchPort, qri)
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	group := netip.MustParseAddr("239.4.4.4")
	first := startDaemon(t, lab, "--config", file)
	if _, err := member.Join(group); err != nil {
		t.Fatal(err)
	}
	first.waitMember(group, member.SwitchPort)
	// Let the join's unsolicited reports go out, so that only the new
	// switch's query can make the host report again.
	time.Sleep(1100 * time.Millisecond)
	first.cmd.Process.Kill()
	<-first.done

	second := startDaemon(t, lab, "--config", file)
	start := time.Now()
	capture, err := member.Capture()
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		src.SendUDP(group, 5100, []byte("in the gap"))
	}
	second.waitMember(group, member.SwitchPort)
	rebuilt := time.Since(start)
	t.Logf("membership rebuilt %v after the restart", rebuilt.Round(time.Millisecond))
	if rebuilt > qri+time.Second {
		t.Errorf("membership rebuilt after %v, want within the query response interval %v", rebuilt, qri)
	}
	time.Sleep(100 * time.Millisecond)
	if got := capture.Count(udpPort(group, 5100)); got != 20 {
		t.Errorf("the member received %d of 20 datagrams sent before it had reported again", got)
	}
}
