//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package fastpath_test

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/switch/fastpath"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// group4b is a group of its own for the fan-out flow.
var group4b = netip.MustParseAddr("239.2.2.2")

// TestProgramCost measures what the programs cost per frame, independent
// of the machine's load: BPF_PROG_TEST_RUN runs each program on a crafted
// frame many times in the kernel and times only the runs (it stops the
// clock while it yields the CPU), so other work on the machine shows up
// only as steal. Each figure is the fastest of several batches. The
// instruction counts are the kernel's: the program as translated (what
// bpftool prog shows as xlated), as JIT-compiled, and as the verifier
// walked it.
//
//	SNOOPSWITCH_FASTPATH_BENCH=1 go test -count=1 -v -run TestProgramCost ./switch/fastpath/
func TestProgramCost(t *testing.T) {
	if os.Getenv(BenchEnv) != "1" {
		t.Skipf("a measurement: set %s=1 to run it", BenchEnv)
	}
	unicast := eth(macB, macA, experimental, make([]byte, 46))
	mcast4 := eth(groupMAC(group4), macA, 0x0800, ipv4(src4, group4, 17, 64, nil, udp))
	mcast6 := eth(groupMAC(group6), macA, 0x86dd, ipv6(src6, group6, 17, 64, udp))
	fanout := eth(groupMAC(group4b), macA, 0x0800, ipv4(src4, group4b, 17, 64, nil, udp))
	miss := eth(fdb.MAC{2, 0, 0, 0, 0, 9}, macA, experimental, make([]byte, 46))
	loadOnLo(t, 1024, 4, func(d *fastpath.Datapath, hosts []*testenv.Host) {
		out, err := ifindex(hosts[0].SwitchPort)
		if err != nil {
			t.Fatal(err)
		}
		var toA, toAll fdb.PortSet
		toA.Add(1)
		for p := range 4 {
			toAll.Add(fdb.PortID(p + 1))
		}
		for _, f := range [][]byte{unicast, mcast4, mcast6} {
			if err := d.Install(engineKey(t, f), fastpath.FlowAction{Verdict: fastpath.Forward, Out: toA}); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Install(engineKey(t, fanout), fastpath.FlowAction{Verdict: fastpath.Forward, Out: toAll}); err != nil {
			t.Fatal(err)
		}
		bare, err := fastpath.LoadBareRedirect(out)
		if err != nil {
			t.Fatal(err)
		}
		defer bare.Close()
		ingress, filter := d.Programs()
		cases := []struct {
			name  string
			prog  *ebpf.Program
			frame []byte
			want  uint32
		}{
			{"bare redirect (no lookup)", bare, unicast, fastpath.TCXRedirect},
			{"tc alone: unicast hit", ingress, unicast, fastpath.TCXRedirect},
			{"tc alone: IPv4 multicast hit", ingress, mcast4, fastpath.TCXRedirect},
			{"tc alone: IPv6 multicast hit", ingress, mcast6, fastpath.TCXRedirect},
			{"tc alone: fan-out to 4 ports", ingress, fanout, fastpath.TCXRedirect},
			{"tc alone: unicast miss", ingress, miss, fastpath.TCXNext},
			{"filter: unicast hit", filter, asTapSees(unicast), 0},
			{"filter: IPv4 multicast hit", filter, asTapSees(mcast4), 0},
			{"filter: IPv6 multicast hit", filter, asTapSees(mcast6), 0},
			{"filter: unicast miss", filter, asTapSees(miss), uint32(len(miss))},
		}
		pin(t, func() {
			for _, c := range cases {
				ns, err := nsPerRun(c.prog, c.frame, c.want)
				if err != nil {
					t.Errorf("%s: %v", c.name, err)
					continue
				}
				t.Logf("%-34s %6.1f ns/run", c.name, ns)
			}
			// tc ingress after the ring's filter decided (the path of a hit
			// with the ring attached): one run of each, in turn, on one CPU;
			// a single timed run includes the clock reads, so the bare
			// program's single run is the reference.
			ref, err := singleRuns(nil, nil, bare, unicast, fastpath.TCXRedirect)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%-34s %6.1f ns/run (single runs)", "bare redirect", ref)
			for _, c := range []struct {
				name  string
				frame []byte
			}{{"unicast", unicast}, {"IPv4 multicast", mcast4}, {"IPv6 multicast", mcast6}, {"fan-out to 4 ports", fanout}} {
				ns, err := singleRuns(filter, asTapSees(c.frame), ingress, c.frame, fastpath.TCXRedirect)
				if err != nil {
					t.Errorf("%s: %v", c.name, err)
					continue
				}
				t.Logf("tc after the filter: %-13s %6.1f ns/run (single runs), %+.1f over bare", c.name, ns, ns-ref)
			}
		})
		for _, p := range []struct {
			name string
			prog *ebpf.Program
		}{{"bare redirect", bare}, {"tc ingress", ingress}, {"ring filter", filter}} {
			t.Logf("%-14s %s", p.name, insns(t, p.prog))
		}
	})
}

// singleRuns is the fastest of many single timed runs of prog on frame,
// each after one run of first on firstFrame if first is not nil.
func singleRuns(first *ebpf.Program, firstFrame []byte, prog *ebpf.Program, frame []byte, want uint32) (float64, error) {
	best := time.Hour
	for range 3000 {
		if first != nil {
			if _, err := first.Run(&ebpf.RunOptions{Data: firstFrame}); err != nil {
				return 0, err
			}
		}
		got, d, err := prog.Benchmark(frame, 1, nil)
		if err != nil {
			return 0, err
		}
		if got != want {
			return 0, fmt.Errorf("verdict %d, want %d", int32(got), int32(want))
		}
		best = min(best, d)
	}
	return float64(best.Nanoseconds()), nil
}

// asTapSees makes BPF_PROG_TEST_RUN show frame to a socket filter as a
// packet tap bound to a device sees it, from its Ethernet header on: a test
// run of a socket filter starts the data after the Ethernet header
// (eth_type_trans pulls it), so a header is put in front for it to pull.
func asTapSees(frame []byte) []byte {
	return append(eth(macA, macB, experimental, nil), frame...)
}

// nsPerRun is the fastest of several batches of BPF_PROG_TEST_RUN runs of
// prog on frame, each of which must return want.
func nsPerRun(prog *ebpf.Program, frame []byte, want uint32) (float64, error) {
	const batches, repeat = 7, 200000
	var per []time.Duration
	for range batches {
		got, d, err := prog.Benchmark(frame, repeat, nil)
		if err != nil {
			return 0, err
		}
		if got != want {
			return 0, fmt.Errorf("verdict %d, want %d", int32(got), int32(want))
		}
		per = append(per, d)
	}
	return float64(slices.Min(per).Nanoseconds()), nil
}

// pin runs fn on one CPU (the last), so that per-CPU state written by one
// run is what the next reads, as it is for a frame in the kernel.
func pin(t *testing.T, fn func()) {
	t.Helper()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		t.Fatal(err)
	}
	cpu := 0
	for i := range 1024 {
		if old.IsSet(i) {
			cpu = i
		}
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	defer unix.SchedSetaffinity(0, &old)
	fn()
}

func insns(t *testing.T, prog *ebpf.Program) string {
	t.Helper()
	info, err := prog.Info()
	if err != nil {
		t.Fatal(err)
	}
	xlated, err := info.Instructions()
	if err != nil {
		t.Fatal(err)
	}
	jited, err := info.JitedSize()
	if err != nil {
		t.Fatal(err)
	}
	verified, _ := info.VerifiedInstructions()
	return fmt.Sprintf("%4d insns xlated, %5d bytes JIT, %5d insns verified", len(xlated), jited, verified)
}
