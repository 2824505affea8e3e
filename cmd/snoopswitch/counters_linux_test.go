package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/snoopswitch/snoopswitch/internal/control"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// TestCountersCountEveryFrame: on each datapath, after a unicast and a
// multicast stream, the switch's counters agree frame for frame with its
// links' own: every frame a host sent is in its port's RX (or RING DROPS),
// every frame a host got in its port's TX, whether the engine or the
// kernel fast path forwarded it. On fast, the kernel's share is in show
// counters, show datapath, the metrics and the SIGUSR1 status, and covers
// the streams but their first frames (which the engine decides).
func TestCountersCountEveryFrame(t *testing.T) {
	for _, dp := range []string{"ring", "fast"} {
		t.Run(dp, func(t *testing.T) { testCountersCountEveryFrame(t, dp) })
	}
}

func testCountersCountEveryFrame(t *testing.T, dp string) {
	lab := testenv.New(t)
	var args []string
	hosts := map[string]*testenv.Host{}
	for _, n := range []string{"a", "b", "c"} {
		h, err := lab.AddHost(n, testenv.HostOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hosts[n] = h
		args = append(args, "--port", h.SwitchPort)
	}
	a, b := hosts["a"], hosts["b"]
	metrics := freeLocalPort(t, lab)
	// No querier: the switch's own queries are in no port's TX counter,
	// and nothing but the hosts' frames crosses.
	d := startDaemon(t, lab, append(args, "--datapath", dp, "--no-querier", "--metrics-address", metrics)...)
	d.waitForPing(t, a, b)

	// settled reads the switch's counters and its links' when they hold
	// still: the hosts' own frames (neighbour discovery, reports) may still
	// cross.
	settled := func() (map[string]control.Port, map[string]netlink.LinkStatistics) {
		t.Helper()
		for try := 0; ; try++ {
			before := d.ports()
			links := map[string]netlink.LinkStatistics{}
			for _, h := range hosts {
				l, err := lab.SwitchNS().Handle().LinkByName(h.SwitchPort)
				if err != nil {
					t.Fatal(err)
				}
				links[h.SwitchPort] = *l.Attrs().Statistics
			}
			if after := d.ports(); reflect.DeepEqual(before, after) {
				return after, links
			}
			if try == 50 {
				t.Fatal("the counters never held still")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// The links were up, and the hosts talking, before the switch was.
	ports0, links0 := settled()

	const n = 400
	// Unicast: UDP from a to b, whose MACs the pings taught the switch.
	err := a.NS.Do(func() error {
		// Not connected: b's port unreachable answers must not stop it.
		c, err := net.ListenUDP("udp4", nil)
		if err != nil {
			return err
		}
		defer c.Close()
		to := netip.AddrPortFrom(b.IPv4.Addr(), 9)
		for i := range n {
			if _, err := c.WriteToUDPAddrPort([]byte("counted"), to); err != nil {
				return fmt.Errorf("datagram %d: %w", i, err)
			}
			if i%50 == 49 {
				time.Sleep(time.Millisecond) // well inside every queue on the way
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Multicast: to a group b joined and c did not.
	group := netip.MustParseAddr("239.7.7.7")
	if _, err := b.Join(group); err != nil {
		t.Fatal(err)
	}
	d.waitMember(group, b.SwitchPort)
	for i := range n {
		if err := a.SendUDP(group, 5000, []byte("counted")); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			time.Sleep(time.Millisecond)
		}
	}

	ports1, links1 := settled()
	for name, p := range ports1 {
		p0, l0, l1 := ports0[name], links0[name], links1[name]
		rxd, dropd, txd := p.RxFrames-p0.RxFrames, p.Kernel.Drops-p0.Kernel.Drops, p.TxFrames-p0.TxFrames
		if got, want := rxd+dropd, l1.RxPackets-l0.RxPackets; got != want {
			t.Errorf("%s: rx %d + ring drops %d = %d, the link received %d", name, rxd, dropd, got, want)
		}
		if got, want := txd, l1.TxPackets-l0.TxPackets; got != want {
			t.Errorf("%s: tx %d, the link sent %d", name, got, want)
		}
		switch {
		case dp == "ring" && p.FlowCache != nil:
			t.Errorf("%s: fast path counters on the ring datapath: %+v", name, *p.FlowCache)
		case dp == "fast" && p.FlowCache == nil:
			t.Fatalf("%s: no fast path counters on the fast datapath", name)
		}
	}
	if dp == "fast" {
		// Of the 2n datagrams a sent, the engine saw the first of each
		// stream, and a few more until the installer had written the
		// decisions; the kernel forwarded the rest.
		if got := ports1[a.SwitchPort].FlowCache.RxFrames; got < 2*n-50 {
			t.Errorf("the kernel forwarded %d of a's frames, want most of the %d datagrams", got, 2*n)
		}
		if got := ports1[b.SwitchPort].FlowCache.TxFrames; got < 2*n-50 {
			t.Errorf("the kernel sent %d frames to b, want most of the %d datagrams", got, 2*n)
		}
		if got := ports1[hosts["c"].SwitchPort].FlowCache.TxFrames; got != 0 {
			t.Errorf("the kernel sent %d frames to c, which neither stream was for", got)
		}
	}

	// The other views of the counters, each read between two ports reports
	// that agree (a host's own frame may cross in between), must give the
	// same numbers.
	view := func(name string, read func() string, check func(ports map[string]control.Port, out string) []string) {
		t.Helper()
		var problems []string
		for try := 0; try < 20; try++ {
			before := d.ports()
			out := read()
			after := d.ports()
			if problems = check(after, out); reflect.DeepEqual(before, after) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		for _, p := range problems {
			t.Errorf("%s: %s", name, p)
		}
	}
	sums := func(ports map[string]control.Port) (r control.DatapathReport) {
		for _, p := range ports {
			r.RxFrames, r.TxFrames = r.RxFrames+p.RxFrames, r.TxFrames+p.TxFrames
			if p.FlowCache != nil {
				r.FastRxFrames, r.FastTxFrames = r.FastRxFrames+p.FlowCache.RxFrames, r.FastTxFrames+p.FlowCache.TxFrames
			}
		}
		return r
	}
	ctl := func(args ...string) func() string {
		return func() string {
			code, out := d.ctl(args...)
			if code != 0 {
				t.Fatalf("%s: exit %d\n%s", strings.Join(args, " "), code, out)
			}
			return out
		}
	}

	// show datapath: which datapath, why, and the same sums.
	var r control.DatapathReport
	view("show datapath --json", ctl("show", "datapath", "--json"), func(ports map[string]control.Port, out string) (problems []string) {
		r = control.DatapathReport{}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			return []string{fmt.Sprintf("%v\n%s", err, out)}
		}
		if r.Mode != dp || r.Configured != dp || r.Reason != "configured" {
			problems = append(problems, fmt.Sprintf("mode %q configured %q reason %q, want %s as configured", r.Mode, r.Configured, r.Reason, dp))
		}
		if w := sums(ports); r.RxFrames != w.RxFrames || r.TxFrames != w.TxFrames || r.FastRxFrames != w.FastRxFrames || r.FastTxFrames != w.FastTxFrames {
			problems = append(problems, fmt.Sprintf("frames rx %d (fast %d) tx %d (fast %d), the ports' sum rx %d (fast %d) tx %d (fast %d)",
				r.RxFrames, r.FastRxFrames, r.TxFrames, r.FastTxFrames, w.RxFrames, w.FastRxFrames, w.TxFrames, w.FastTxFrames))
		}
		if (r.Flows != nil) != (dp == "fast") || (r.Flows != nil && (r.Flows.Installed == 0 || r.Flows.MaxFlows == 0)) {
			problems = append(problems, fmt.Sprintf("flow table %+v on %s", r.Flows, dp))
		}
		return problems
	})
	out := ctl("show", "datapath")()
	t.Logf("show datapath:\n%s", out)
	if !strings.HasPrefix(out, "datapath: "+dp+" (datapath.mode "+dp+": configured)\n") {
		t.Errorf("show datapath says:\n%s", out)
	}

	// show counters: the FAST RX and FAST TX columns.
	cell := func(p control.Port, f func(switching.FlowCounters) uint64) string {
		if p.FlowCache == nil {
			return "-"
		}
		return strconv.FormatUint(f(*p.FlowCache), 10)
	}
	view("show counters", ctl("show", "counters"), func(ports map[string]control.Port, out string) (problems []string) {
		for name, p := range ports {
			row := regexp.MustCompile(`(?m)^` + name + `\s+up\s+(\d+)\s+\d+\s+(\d+)\s+\d+\s+(\S+)\s+(\S+)\s`).FindStringSubmatch(out)
			if row == nil {
				problems = append(problems, fmt.Sprintf("no row for %s:\n%s", name, out))
				continue
			}
			fr := cell(p, func(c switching.FlowCounters) uint64 { return c.RxFrames })
			ft := cell(p, func(c switching.FlowCounters) uint64 { return c.TxFrames })
			if row[1] != fmt.Sprint(p.RxFrames) || row[2] != fmt.Sprint(p.TxFrames) || row[3] != fr || row[4] != ft {
				problems = append(problems, fmt.Sprintf("row %q, want rx %d tx %d fast rx %s fast tx %s", row[0], p.RxFrames, p.TxFrames, fr, ft))
			}
		}
		return problems
	})

	// The metrics: the same numbers, and which datapath runs.
	view("metrics", func() string { return fetchMetrics(t, lab, metrics) }, func(ports map[string]control.Port, body string) (problems []string) {
		want := func(line string) {
			if !strings.Contains(body, "\n"+line+"\n") {
				problems = append(problems, fmt.Sprintf("no %q", line))
			}
		}
		want(fmt.Sprintf(`snoopswitch_datapath{configured=%q,mode=%q} 1`, dp, dp))
		for name, p := range ports {
			want(fmt.Sprintf(`snoopswitch_port_rx_frames_total{port=%q} %d`, name, p.RxFrames))
			want(fmt.Sprintf(`snoopswitch_port_tx_frames_total{port=%q} %d`, name, p.TxFrames))
			if p.FlowCache != nil {
				want(fmt.Sprintf(`snoopswitch_port_fastpath_rx_frames_total{port=%q} %d`, name, p.FlowCache.RxFrames))
				want(fmt.Sprintf(`snoopswitch_port_fastpath_tx_frames_total{port=%q} %d`, name, p.FlowCache.TxFrames))
			}
		}
		if got := strings.Contains(body, "snoopswitch_port_fastpath_rx_frames_total"); got != (dp == "fast") {
			problems = append(problems, fmt.Sprintf("fast path metrics present: %v on %s", got, dp))
		}
		if dp == "fast" {
			want(fmt.Sprintf(`snoopswitch_fastpath_flow_decisions_total{result="installed"} %d`, r.Flows.Installed))
		}
		return problems
	})

	// SIGUSR1: the datapath's lines first, then the tables.
	statuses := 0
	view("SIGUSR1", func() string {
		statuses++
		if err := d.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			log := d.log.String()
			if parts := strings.Split(log, "datapath: "+dp+" (datapath.mode "); len(parts) > statuses {
				return parts[statuses]
			}
			if time.Now().After(deadline) {
				t.Fatalf("SIGUSR1 wrote no status:\n%s", log)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}, func(ports map[string]control.Port, out string) []string {
		w := sums(ports)
		want := fmt.Sprintf("%s: configured)\nframes received: %d, sent: %d, all through the rings\n", dp, w.RxFrames, w.TxFrames)
		if dp == "fast" {
			want = fmt.Sprintf("%s: configured)\nframes received: %d, forwarded in the kernel: %d (", dp, w.RxFrames, w.FastRxFrames)
		}
		if !strings.HasPrefix(out, want) {
			return []string{fmt.Sprintf("wrote %q, want it to start %q", out, want)}
		}
		return nil
	})
}
