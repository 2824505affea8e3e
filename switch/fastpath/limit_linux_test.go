//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package fastpath_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/snoopswitch/snoopswitch/fdb"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/switch/fastpath"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// BenchEnv turns TestPhysicalLimit on: it takes a minute of two busy
// cores, too much for every test run.
const BenchEnv = "SNOOPSWITCH_FASTPATH_BENCH"

// TestPhysicalLimit measures 64-byte frames/s from one sender (blast,
// pinned to CPU 0) to one receiver through each device in turn, A B C ...
// A B C ... (BENCHMARKING.md): a bare tc program that redirects every
// frame with no lookup (the physical limit); the fast path with a hit, by
// tc ingress alone and with a ring socket's filter deciding for it (the
// datapath's real set-up); the Linux bridge; and the fast path and the
// bridge with the switch port's receive processing moved off the sender's
// CPU, by receive packet steering to CPU 1 (SteerReceive) or by threaded
// NAPI (GRO on the veth gives it NAPI instances, run in kernel threads
// the scheduler places). Each window counts the
// receiver's rx_packets for 2 s after 1 s of warm-up. The frames carry a
// local experimental EtherType, which the receiver's stack frees on
// arrival. The ratios are paired: each device's rate over the bridge's
// (without RPS) of the same round, median, min and max. Next to the rate,
// the sender thread's CPU time per frame (its system calls and the kernel
// work run in their context) shows how much of the forwarding left the
// sender's CPU, a figure the machine's load moves much less than rates.
//
//	SNOOPSWITCH_FASTPATH_BENCH=1 go test -count=1 -v -run TestPhysicalLimit ./switch/fastpath/
func TestPhysicalLimit(t *testing.T) {
	if os.Getenv(BenchEnv) != "1" {
		t.Skipf("a measurement: set %s=1 to run it", BenchEnv)
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
	frame := eth(mac(b), mac(a), experimental, make([]byte, 46))
	var ia, ib int
	err := lab.SwitchNS().Do(func() (err error) {
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
	if err := d.Install(switching.UnicastFlow(0, 0, mac(a), mac(b)), fastpath.FlowAction{Verdict: fastpath.Forward, Out: toB}); err != nil {
		t.Fatal(err)
	}
	fastPath := func() (io.Closer, error) {
		var pa, pb *fastpath.Port
		err := lab.SwitchNS().Do(func() (err error) {
			if pa, err = d.AttachPort(ia, 0); err != nil {
				return err
			}
			pb, err = d.AttachPort(ib, 1)
			return err
		})
		return closers{pa, pb}, err
	}
	// withRing adds a packet socket on a's port with the ring's filter, as
	// the datapath has: the filter decides, tc carries it out.
	withRing := func(setup func() (io.Closer, error)) func() (io.Closer, error) {
		return func() (io.Closer, error) {
			c, err := setup()
			if err != nil {
				return nil, err
			}
			var fd int
			err = lab.SwitchNS().Do(func() (err error) {
				fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
				if err != nil {
					return err
				}
				if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
					return err
				}
				if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ia}); err != nil {
					return err
				}
				return d.AttachSocketFilter(fd)
			})
			return closerFunc(func() error { unix.Close(fd); return c.Close() }), err
		}
	}
	// withRPS steers the receive processing of a's switch port to CPU 1,
	// away from the sender's CPU 0 (SteerReceive).
	withRPS := func(setup func() (io.Closer, error)) func() (io.Closer, error) {
		return func() (io.Closer, error) {
			c, err := setup()
			if err != nil {
				return nil, err
			}
			if err := steer(lab, a.SwitchPort, "1"); err != nil {
				c.Close()
				return nil, err
			}
			return closerFunc(func() error { return errors.Join(steer(lab, a.SwitchPort, ""), c.Close()) }), nil
		}
	}
	// withNAPI turns GRO on for a's switch port, which gives its receive
	// side NAPI instances (veth), and runs them in kernel threads the
	// scheduler may put on the idle CPU (threaded NAPI).
	withNAPI := func(setup func() (io.Closer, error)) func() (io.Closer, error) {
		return func() (io.Closer, error) {
			c, err := setup()
			if err != nil {
				return nil, err
			}
			if err := shell(lab, "ethtool -K "+a.SwitchPort+" gro on && echo 1 > /sys/class/net/"+a.SwitchPort+"/threaded"); err != nil {
				c.Close()
				return nil, err
			}
			return closerFunc(func() error {
				return errors.Join(shell(lab, "echo 0 > /sys/class/net/"+a.SwitchPort+"/threaded && ethtool -K "+a.SwitchPort+" gro off"), c.Close())
			}), nil
		}
	}
	bridge := func() (io.Closer, error) {
		_, err := lab.AddLinuxBridge()
		return closerFunc(lab.RemoveLinuxBridge), err
	}
	devices := []struct {
		name  string
		setup func() (io.Closer, error)
	}{
		{"bare redirect", func() (c io.Closer, err error) {
			err = lab.SwitchNS().Do(func() error { c, err = fastpath.AttachBareRedirect(ia, ib); return err })
			return c, err
		}},
		{"fast path, tc alone", fastPath},
		{"fast path, ring filter", withRing(fastPath)},
		{"fast path, filter, RPS", withRPS(withRing(fastPath))},
		{"Linux bridge", bridge},
		{"Linux bridge, RPS", withRPS(bridge)},
		{"fast path, filter, NAPI", withNAPI(withRing(fastPath))},
		{"Linux bridge, NAPI", withNAPI(bridge)},
	}
	rates, senderNs := make(map[string][]float64), make(map[string][]float64)
	for round := range 5 {
		for _, dev := range devices {
			c, err := dev.setup()
			if err != nil {
				t.Fatalf("%s: %v", dev.name, err)
			}
			stop, done := make(chan struct{}), make(chan error, 1)
			var sent blastStats
			go func() { done <- blast(a, frame, stop, &sent) }()
			time.Sleep(time.Second)
			n0, t0 := rx(t, b), time.Now()
			time.Sleep(2 * time.Second)
			n1, t1 := rx(t, b), time.Now()
			close(stop)
			if err := <-done; err != nil {
				t.Fatalf("%s: send: %v", dev.name, err)
			}
			cpu := float64(sent.cpu.Nanoseconds()) / float64(max(sent.frames, 1))
			senderNs[dev.name] = append(senderNs[dev.name], cpu)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			r := float64(n1-n0) / t1.Sub(t0).Seconds()
			t.Logf("round %d: %-24s %6.3f Mframes/s, sender's CPU %4.0f ns/frame", round, dev.name, r/1e6, cpu)
			if r == 0 {
				t.Errorf("%s: no frame reached b", dev.name)
			}
			rates[dev.name] = append(rates[dev.name], r)
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("load average: %s", strings.TrimSpace(string(load)))
	for _, dev := range devices {
		med, lo, hi := pairedRatio(rates[dev.name], rates["Linux bridge"])
		t.Logf("%-24s median %6.3f Mframes/s, %.2f x the Linux bridge (paired: median, min %.2f, max %.2f); sender's CPU %4.0f ns/frame", dev.name, median(rates[dev.name])/1e6, med, lo, hi, median(senderNs[dev.name]))
	}
	med, lo, hi := pairedRatio(rates["fast path, filter, RPS"], rates["Linux bridge, RPS"])
	t.Logf("fast path, filter, RPS over the Linux bridge with RPS: %.2f (min %.2f, max %.2f)", med, lo, hi)
	med, lo, hi = pairedRatio(rates["fast path, filter, NAPI"], rates["Linux bridge, NAPI"])
	t.Logf("fast path, filter, NAPI over the Linux bridge with NAPI: %.2f (min %.2f, max %.2f)", med, lo, hi)
}

// shell runs script with sh in the lab's switch namespace (ip netns exec
// mounts that namespace's sysfs for it).
func shell(lab *testenv.Lab, script string) error {
	out, err := lab.SwitchNS().Command("sh", "-c", script).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", script, err, out)
	}
	return nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// pairedRatio is the median, min and max of a[i]/b[i].
func pairedRatio(a, b []float64) (med, lo, hi float64) {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = a[i] / b[i]
	}
	return median(r), slices.Min(r), slices.Max(r)
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

// blastStats is what blast sent and the CPU time its thread took: the
// system calls and all the kernel work done in their context, the receive
// processing of the frames (switch and receiver) included unless it was
// steered to another CPU (the kernel runs the softirq work a system call
// raises before returning, and charges it to the thread).
type blastStats struct {
	frames uint64
	cpu    time.Duration
}

// blast sends frame from host h's interface as fast as a blocking packet
// socket takes it, 64 frames per sendmmsg, on CPU 0, until stop is closed.
// trafgen does not do: it gives up when its socket's send buffer is full,
// and with the receive side steered to another CPU the frames queued there
// hold the sender's buffer (veth hands the sender's skb on). Like trafgen,
// it bypasses the sender's qdisc.
func blast(h *testenv.Host, frame []byte, stop <-chan struct{}, st *blastStats) error {
	return h.NS.Do(func() error {
		var old, cpu0 unix.CPUSet
		if err := unix.SchedGetaffinity(0, &old); err != nil {
			return err
		}
		cpu0.Set(0)
		if err := unix.SchedSetaffinity(0, &cpu0); err != nil {
			return err
		}
		defer unix.SchedSetaffinity(0, &old)
		idx, err := ifindex(h.Iface)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20); err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(experimental), Ifindex: idx}); err != nil {
			return err
		}
		iov := unix.Iovec{Base: &frame[0]}
		iov.SetLen(len(frame))
		msgs := make([]unix.Mmsghdr, 64)
		for i := range msgs {
			msgs[i].Hdr.Iov = &iov
			msgs[i].Hdr.SetIovlen(1)
		}
		var r0, r1 unix.Rusage
		if err := unix.Getrusage(unix.RUSAGE_THREAD, &r0); err != nil {
			return err
		}
		for {
			select {
			case <-stop:
				if err := unix.Getrusage(unix.RUSAGE_THREAD, &r1); err != nil {
					return err
				}
				st.cpu = time.Duration(r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
				return nil
			default:
			}
			n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
			if errno != 0 && errno != unix.ENOBUFS && errno != unix.EINTR {
				return errno
			}
			if errno == 0 {
				st.frames += uint64(n)
			}
		}
	})
}
