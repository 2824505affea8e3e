//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package fastpath_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/internal/bench"
	"github.com/snoopswitch/snoopswitch/switch/fastpath"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// BenchEnv turns TestPhysicalLimit on: it takes a minute of two busy
// cores, too much for every test run.
const BenchEnv = "SNOOPSWITCH_FASTPATH_BENCH"

// TestPhysicalLimit measures 64-byte frames/s from one trafgen sender
// (pinned to CPU 0) to one receiver through three devices in turn, A B C A
// B C (BENCHMARKING.md): a bare tc program that redirects every frame with
// no lookup (the physical limit), the fast path with a hit, and the Linux
// bridge. Each window counts the receiver's rx_packets for 2 s after 1 s
// of warm-up. The frames carry a local experimental EtherType, which the
// receiver's stack frees on arrival.
//
//	SNOOPSWITCH_FASTPATH_BENCH=1 go test -count=1 -v -run TestPhysicalLimit ./switch/fastpath/
func TestPhysicalLimit(t *testing.T) {
	if os.Getenv(BenchEnv) != "1" {
		t.Skipf("a measurement: set %s=1 to run it", BenchEnv)
	}
	trafgen, err := exec.LookPath("trafgen")
	if err != nil {
		t.Fatal("trafgen is not installed (apt-get install netsniff-ng)")
	}
	lab := testenv.New(t)
	var hosts []*testenv.Host
	for _, name := range []string{"a", "b"} {
		h, err := lab.AddHost(name, testenv.HostOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	a, b := hosts[0], hosts[1]
	conf, err := bench.TrafgenFrame{Dst: b.MAC, Src: a.MAC, EtherType: experimental, Len: 60}.Config()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "frame.cfg")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var ia, ib int
	err = lab.SwitchNS().Do(func() (err error) {
		if ia, err = ifindex(a.SwitchPort); err != nil {
			return err
		}
		ib, err = ifindex(b.SwitchPort)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := fastpath.Load(1024)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var toB fdb.PortSet
	toB.Add(1)
	if err := d.Install(fastpath.UnicastFlow(0, 0, mac(a), mac(b)), fastpath.FlowAction{Verdict: fastpath.Forward, Out: toB}); err != nil {
		t.Fatal(err)
	}
	devices := []struct {
		name  string
		setup func() (io.Closer, error)
	}{
		{"bare redirect", func() (c io.Closer, err error) {
			err = lab.SwitchNS().Do(func() error { c, err = fastpath.AttachBareRedirect(ia, ib); return err })
			return c, err
		}},
		{"fast path hit", func() (io.Closer, error) {
			var pa, pb *fastpath.Port
			err := lab.SwitchNS().Do(func() (err error) {
				if pa, err = d.AttachPort(ia, 0); err != nil {
					return err
				}
				pb, err = d.AttachPort(ib, 1)
				return err
			})
			return closers{pa, pb}, err
		}},
		{"Linux bridge", func() (io.Closer, error) {
			_, err := lab.AddLinuxBridge()
			return closerFunc(lab.RemoveLinuxBridge), err
		}},
	}
	rates := make(map[string][]float64)
	for round := range 3 {
		for _, dev := range devices {
			c, err := dev.setup()
			if err != nil {
				t.Fatalf("%s: %v", dev.name, err)
			}
			gen := a.NS.Command("taskset", "-c", "0", trafgen, "--dev", a.Iface, "--conf", path, "--no-sock-mem", "-Q", "-P", "1", "-C")
			if err := gen.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
			n0, t0 := rx(t, b), time.Now()
			time.Sleep(2 * time.Second)
			n1, t1 := rx(t, b), time.Now()
			gen.Process.Kill()
			gen.Wait()
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			r := float64(n1-n0) / t1.Sub(t0).Seconds()
			t.Logf("round %d: %-14s %6.3f Mframes/s", round, dev.name, r/1e6)
			if r == 0 {
				t.Errorf("%s: no frame reached b", dev.name)
			}
			rates[dev.name] = append(rates[dev.name], r)
		}
	}
	for _, dev := range devices {
		t.Logf("%-14s median %6.3f Mframes/s, %.2f x the Linux bridge (paired median)", dev.name, median(rates[dev.name])/1e6, pairedRatio(rates[dev.name], rates["Linux bridge"]))
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func pairedRatio(a, b []float64) float64 {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = a[i] / b[i]
	}
	return median(r)
}

type closers []*fastpath.Port

func (c closers) Close() error {
	var err error
	for _, p := range c {
		if p != nil {
			if e := p.Close(); e != nil {
				err = fmt.Errorf("%w; %w", err, e)
			}
		}
	}
	return err
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }
