package switching_test

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// seqOf returns the sequence number of a "datagram N" frame of the
// stream, -1 for any other frame.
func seqOf(f []byte) int {
	i := strings.LastIndex(string(f), "datagram ")
	if i < 0 {
		return -1
	}
	n, err := strconv.Atoi(string(f[i+len("datagram "):]))
	if err != nil {
		return -1
	}
	return n
}

// TestStartupWindowWithARealQuerier: a Linux bridge querier (query
// response interval 1 s, query interval 2 s) runs before the switch
// starts, on what becomes a router port. The switch, whose own querier
// loses the election and whose own first query gives the hosts 10 s, stops
// flooding unregistered data as soon as the hosts have answered the
// querier's first general query it hears: from that query + 1 s +
// LearningMargin on, IGMP and MLD each, no unregistered stream reaches a
// host port. A member that joined before the switch started gets every
// datagram of its streams sent once the switch forwards, across the end of
// the window.
func TestStartupWindowWithARealQuerier(t *testing.T) {
	lab := testenv.New(t)
	if _, err := lab.AddQuerier("querier", testenv.HostOptions{}, testenv.QuerierOptions{QueryInterval: 2 * time.Second, QueryResponseInterval: time.Second}); err != nil {
		t.Fatal(err)
	}
	hosts := map[string]*testenv.Host{}
	for _, n := range []string{"src", "member", "other"} {
		h, err := lab.AddHost(n, testenv.HostOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hosts[n] = h
	}
	joined := []netip.Addr{netip.MustParseAddr("239.1.1.1"), netip.MustParseAddr("ff05::1:1")}
	unregistered := []netip.Addr{netip.MustParseAddr("239.2.2.2"), netip.MustParseAddr("ff05::2:2")}
	for _, g := range joined {
		if _, err := hosts["member"].Join(g); err != nil {
			t.Fatal(err)
		}
	}
	caps := map[string]*testenv.Capture{}
	for _, n := range []string{"member", "other"} {
		c, err := hosts[n].Capture()
		if err != nil {
			t.Fatal(err)
		}
		caps[n] = c
	}

	// The stream: one datagram to each group every 10 ms, numbered,
	// from before the switch starts until the test has seen enough.
	var sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			for _, g := range append(joined[:len(joined):len(joined)], unregistered...) {
				if err := hosts["src"].SendUDP(g, 9000, []byte(fmt.Sprintf("datagram %d", i))); err != nil {
					t.Errorf("send to %s: %v", g, err)
					return
				}
			}
			sent.Store(int64(i))
			time.Sleep(10 * time.Millisecond)
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(200 * time.Millisecond)

	// The switch's querier loses the election: a higher IPv4 address, and
	// the highest link-local address.
	cfg := snoop.Config{Querier: snoop.QuerierConfig{IPv4Source: netip.MustParseAddr("198.18.0.250"), IPv6Source: netip.MustParseAddr("fe80::ffff:ffff:ffff:ffff")}}
	sw := testenv.StartSwitch(t, lab, testenv.SwitchConfig{Engine: switching.Config{Snooping: &cfg}})
	started := time.Now()
	first := sent.Load() + 1 // the first datagram sent once the switch forwards
	sn := sw.Engine.Snooper()

	// When the switch first hears the querier, per family.
	heard := map[int]time.Time{}
	for deadline := time.Now().Add(5 * time.Second); len(heard) < 2; time.Sleep(10 * time.Millisecond) {
		now := time.Now()
		if now.After(deadline) {
			t.Fatalf("the switch heard the querier's general queries of %d families in 5 s: %+v", len(heard), sn.Querier().Status(now))
		}
		for _, st := range sn.Querier().Status(now) {
			if _, ok := heard[st.Family]; !ok && st.VLAN == 0 && !st.SelfQuerier && st.LastHeard.IsValid() {
				heard[st.Family] = now.Add(-st.LastHeardAgo)
			}
		}
	}
	// The window ends at the query + 1 s + the margin; the control plane
	// acts on it at its next tick (100 ms), and frames in flight land.
	ends := map[int]time.Time{}
	var last time.Time
	for f, at := range heard {
		ends[f] = at.Add(time.Second + snoop.LearningMargin + 200*time.Millisecond)
		if ends[f].After(last) {
			last = ends[f]
		}
	}
	for f, end := range ends {
		time.Sleep(time.Until(end))
		if sn.Learning(0, f) {
			t.Errorf("family %d: still learning %v after the querier's first query", f, time.Since(heard[f]))
		}
	}
	time.Sleep(time.Until(last))
	type key struct {
		host string
		g    netip.Addr
	}
	before := map[key]int{}
	for n, c := range caps {
		for _, g := range append(joined[:len(joined):len(joined)], unregistered...) {
			before[key{n, g}] = c.Count(udpTo(g, 9000))
		}
	}
	time.Sleep(time.Second)
	upTo := sent.Load()
	time.Sleep(200 * time.Millisecond)

	for _, g := range unregistered {
		if n := before[key{"other", g}]; n == 0 {
			t.Errorf("the unregistered stream to %s never reached another host: was there a window at all?", g)
		}
		for _, n := range []string{"member", "other"} {
			if got := caps[n].Count(udpTo(g, 9000)) - before[key{n, g}]; got != 0 {
				t.Errorf("host %s got %d datagrams to unregistered %s after the window had ended", n, got, g)
			}
		}
	}
	for _, g := range joined {
		if got := caps["other"].Count(udpTo(g, 9000)) - before[key{"other", g}]; got != 0 {
			t.Errorf("host other got %d datagrams to %s, joined by member only, after the window", got, g)
		}
		seen := map[int]bool{}
		for _, f := range caps["member"].Frames() {
			if udpTo(g, 9000)(f) {
				seen[seqOf(f)] = true
			}
		}
		var missing []int64
		for i := first; i <= upTo; i++ {
			if !seen[int(i)] {
				missing = append(missing, i)
			}
		}
		if len(missing) > 0 {
			t.Errorf("member missed %d of datagrams %d..%d to %s across the switch's start: %v", len(missing), first, upTo, g, missing)
		}
	}
	t.Logf("querier first heard %v (IGMP) and %v (MLD) after the switch started forwarding; datagrams %d..%d checked",
		heard[4].Sub(started).Round(time.Millisecond), heard[6].Sub(started).Round(time.Millisecond), first, upTo)
}
