package testenv_test

import (
	"bytes"
	"fmt"
	"log"
	"net/netip"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// TestExample is the typical use in a test, and runs as one: build a lab,
// add hosts, join their switch ports (here with the Linux bridge twin; a
// switch test starts snoopswitch on lab.SwitchNS() and the ports instead),
// and check that traffic flows. New removes everything when the test ends,
// also when it fails or panics.
func TestExample(t *testing.T) {
	lab := testenv.New(t)                             // skips without root unless SNOOPSWITCH_REQUIRE_ROOT=1
	a, err := lab.AddHost("a", testenv.HostOptions{}) // 198.18.0.1/24, 2001:db8::1/64
	if err != nil {
		t.Fatal(err)
	}
	b, err := lab.AddHost("b", testenv.HostOptions{}) // 198.18.0.2/24, 2001:db8::2/64
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lab.AddLinuxBridge(); err != nil {
		t.Fatal(err)
	}

	r, err := a.Ping(b.IPv4.Addr(), 5, 10*time.Millisecond, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.Received != r.Sent || r.Sent != 5 {
		t.Fatalf("%d of %d replies, want all 5", r.Received, r.Sent)
	}
	t.Logf("a -> b: median RTT %v, max %v", r.Percentile(50), r.Percentile(100))
}

// TestExampleMulticast is a multicast test in a few lines: three hosts on a
// snooping snoopswitch, one joins a group with its kernel's IGMPv3, and a
// datagram to the group reaches it and not the host that did not join.
func TestExampleMulticast(t *testing.T) {
	lab := testenv.New(t)
	var hosts []*testenv.Host
	for _, name := range []string{"src", "member", "other"} {
		h, err := lab.AddHost(name, testenv.HostOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	src, member, other := hosts[0], hosts[1], hosts[2]
	// A 1 s query response interval ends the switch's start-up flooding of
	// unregistered groups 1.6 s after it starts instead of 10.6 s: its
	// first query's answers are in by then.
	timers := snoop.DefaultTimers()
	timers.QueryResponseInterval = time.Second
	sw := testenv.StartSwitch(t, lab, testenv.SwitchConfig{Engine: switching.Config{
		Snooping: &snoop.Config{Membership: snoop.MembershipConfig{Timers: timers}},
	}})

	group := netip.MustParseAddr("239.1.2.3")
	if _, err := member.Join(group); err != nil { // the kernel reports it; the test's end leaves
		t.Fatal(err)
	}
	atMember, err := member.Capture()
	if err != nil {
		t.Fatal(err)
	}
	atOther, err := other.Capture()
	if err != nil {
		t.Fatal(err)
	}
	for sw.Engine.Snooper().LearningAny() {
		time.Sleep(20 * time.Millisecond)
	}
	payload := []byte("hello, members of 239.1.2.3")
	if err := src.SendUDP(group, 5000, payload); err != nil {
		t.Fatal(err)
	}
	hello := func(frame []byte) bool { return bytes.Contains(frame, payload) }
	if !atMember.WaitFor(hello, 1, time.Second) {
		t.Error("the member did not receive the datagram")
	}
	if atOther.WaitFor(hello, 1, 200*time.Millisecond) {
		t.Error("the host that did not join received the datagram")
	}
}

// ExampleLab builds a lab outside tests, as `snoopswitch lab` and `snoopswitch
// bench` do; the caller must Close it. Tools run inside its namespaces with
// Command (TCPThroughput runs iperf3 so), and `ip netns exec <name> ...`
// reaches them from a shell.
func ExampleLab() {
	lab, err := testenv.NewLab(testenv.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close()
	for _, name := range []string{"a", "b"} {
		if _, err := lab.AddHost(name, testenv.HostOptions{}); err != nil {
			log.Print(err)
			return
		}
	}
	if _, err := lab.AddLinuxBridge(); err != nil {
		log.Print(err)
		return
	}
	a, b := lab.Hosts()[0], lab.Hosts()[1]
	gbps, err := testenv.TCPThroughput(a, b, 2*time.Second)
	fmt.Printf("TCP from a to b: %.2f Gbit/s (%v)\n", gbps, err)
}
