//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package fastpath_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/snoopswitch/snoopswitch/switch/fastpath"
	"github.com/snoopswitch/snoopswitch/testenv"
)

func TestCPUMask(t *testing.T) {
	for _, c := range []struct {
		cpus []int
		want string
	}{
		{nil, "0"},
		{[]int{0}, "00000001"},
		{[]int{1}, "00000002"},
		{[]int{0, 1, 31}, "80000003"},
		{[]int{32}, "00000001,00000000"},
		{[]int{1, 70}, "00000040,00000000,00000002"},
	} {
		got, err := fastpath.CPUMask(c.cpus)
		if err != nil || got != c.want {
			t.Errorf("cpuMask(%v) = %q, %v; want %q", c.cpus, got, err, c.want)
		}
	}
	for _, bad := range [][]int{{-1}, {8192}} {
		if got, err := fastpath.CPUMask(bad); err == nil {
			t.Errorf("cpuMask(%v) = %q, want an error", bad, got)
		}
	}
}

// steer calls SteerReceive for interface dev of the lab's switch namespace
// in a helper process under ip netns exec; cpus is a comma-separated list.
func steer(lab *testenv.Lab, dev, cpus string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := lab.SwitchNS().Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), steerHelperEnv+"="+dev+" "+cpus)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("SteerReceive(%s, %s) under ip netns exec: %v: %s", dev, cpus, err, out)
	}
	return nil
}

// TestSteerReceive: steering writes the switch port's RPS mask in its
// namespace; a caller whose sysfs shows another namespace is refused.
func TestSteerReceive(t *testing.T) {
	lab := testenv.New(t)
	h, err := lab.AddHost("a", testenv.HostOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rps := "/sys/class/net/" + h.SwitchPort + "/queues/rx-0/rps_cpus"
	read := func() string {
		t.Helper()
		out, err := lab.SwitchNS().Command("cat", rps).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return strings.TrimLeft(strings.TrimSpace(string(out)), "0,")
	}
	if got := read(); got != "" {
		t.Fatalf("rps_cpus %q before, want none", got)
	}
	if err := steer(lab, h.SwitchPort, "0"); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "1" {
		t.Errorf("rps_cpus %q after steering to CPU 0, want 1", got)
	}
	// This process's sysfs shows the first namespace, not the lab's.
	err = lab.SwitchNS().Do(func() error { _, err := fastpath.SteerReceive(h.SwitchPort, nil); return err })
	if !errors.Is(err, fastpath.ErrOtherNamespace) || !strings.Contains(err.Error(), "ip netns exec") {
		t.Errorf("SteerReceive with the sysfs of another namespace: %v, want a refusal that names the fix", err)
	}
	if got := read(); got != "1" {
		t.Errorf("rps_cpus %q after a refused call, want it unchanged (1)", got)
	}
	if err := lab.SwitchNS().Do(func() error { _, err := fastpath.SteerReceive("no-such-if", nil); return err }); err == nil {
		t.Error("SteerReceive of a missing interface: no error")
	}
}
