package main

import (
	"runtime"
	"strings"
	"testing"

	"github.com/snoopswitch/snoopswitch/testenv"
)

// TestRunSteersReceiveAndPutsItBack runs the binary with datapath.steer:
// the ports' receive queues get the CPUs it names (a list, or under auto
// the CPUs taskset gives the switch) while the fast path forwards, and
// each port's old setting (one had steering of its own) is back after
// SIGTERM; auto leaves the ring datapath alone; a CPU that is not online
// is refused at start, naming the key.
func TestRunSteersReceiveAndPutsItBack(t *testing.T) {
	lab := testenv.New(t)
	var hosts []*testenv.Host
	for _, n := range []string{"a", "b"} {
		h, err := lab.AddHost(n, testenv.HostOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	a, b := hosts[0], hosts[1]
	rps := func(h *testenv.Host) string {
		return "/sys/class/net/" + h.SwitchPort + "/queues/rx-0/rps_cpus"
	}
	read := func(h *testenv.Host) string {
		t.Helper()
		out, err := lab.SwitchNS().Command("cat", rps(h)).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return strings.TrimLeft(strings.TrimSpace(string(out)), "0,")
	}
	// a's port starts steered to CPU 0 (mask 1), b's not at all.
	if out, err := lab.SwitchNS().Command("sh", "-c", "echo 1 > "+rps(a)).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	cpu, mask := "0", "1"
	if runtime.NumCPU() > 1 {
		cpu, mask = "1", "2"
	}
	ports := []string{"--port", a.SwitchPort, "--port", b.SwitchPort, "--control-socket", ""}
	for _, c := range []struct {
		name string
		cmd  []string
		want string // both ports' mask while it runs
	}{
		{"a list", append([]string{binary(t), "run", "--datapath", "fast", "--steer", cpu}, ports...), mask},
		{"auto under taskset", append([]string{"taskset", "-c", cpu, binary(t), "run", "--datapath", "fast", "--steer", "auto"}, ports...), mask},
		{"auto on the ring datapath", append([]string{"taskset", "-c", cpu, binary(t), "run", "--datapath", "ring", "--steer", "auto"}, ports...), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			proc := startSwitchProcess(t, lab.SwitchNS().Command(c.cmd[0], c.cmd[1:]...))
			proc.waitForPing(t, a, b)
			if c.want == "" {
				if got := read(a) + "/" + read(b); got != "1/" {
					t.Errorf("rps_cpus of a/b %q while it runs, want them untouched (1/)", got)
				}
			} else if got := read(a) + "/" + read(b); got != c.want+"/"+c.want {
				t.Errorf("rps_cpus of a/b %q while it runs, want %s/%s", got, c.want, c.want)
			}
			proc.stop(t)
			if got := read(a) + "/" + read(b); got != "1/" {
				t.Errorf("rps_cpus of a/b %q after it stopped, want the old ones back (1/)", got)
			}
		})
	}
	code, out := exitCode(t, lab.SwitchNS().Command(binary(t), append([]string{"run", "--datapath", "fast", "--steer", "8000"}, ports...)...))
	if code == 0 || !strings.Contains(out, "datapath.steer: CPU 8000 is not online") {
		t.Errorf("--steer 8000: exit %d, %s; want a refusal naming datapath.steer", code, out)
	}
	if got := read(a) + "/" + read(b); got != "1/" {
		t.Errorf("rps_cpus of a/b %q after a refused start, want them untouched (1/)", got)
	}
}
