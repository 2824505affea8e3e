package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/snoopswitch/snoopswitch/testenv"
)

const (
	unitFile = "../../packaging/snoopswitch.service"
	// fastDropIn is the unit's drop-in for the fast datapath.
	fastDropIn = "../../packaging/fast-datapath.conf"
)

// unitCapabilities returns the capabilities the systemd unit grants, as
// setpriv spells them ("net_raw").
func unitCapabilities(t *testing.T) []string {
	t.Helper()
	return fileCapabilities(t, unitFile)
}

// fileCapabilities returns the capabilities a unit file or drop-in grants
// (AmbientCapabilities=), as setpriv spells them.
func fileCapabilities(t *testing.T, unitFile string) []string {
	t.Helper()
	f, err := os.Open(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var caps []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "AmbientCapabilities="); ok {
			for _, c := range strings.Fields(v) {
				caps = append(caps, strings.ToLower(strings.TrimPrefix(c, "CAP_")))
			}
		}
	}
	if len(caps) == 0 {
		t.Fatalf("%s grants no AmbientCapabilities", unitFile)
	}
	return caps
}

// TestRunWithTheUnitsCapabilitiesOnly runs the switch as it runs under the
// systemd unit: not root, with the unit's capabilities and no others. Hosts
// ping through it, show answers, and it stops on SIGTERM.
func TestRunWithTheUnitsCapabilitiesOnly(t *testing.T) {
	lab, a, b := unprivilegedLab(t)
	// The unit's RuntimeDirectory: owned by the switch's user, mode 0700.
	top, err := os.MkdirTemp("", "snoopswitch-unit")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	run := filepath.Join(top, "run")
	for _, err := range []error{os.Chmod(top, 0o755), os.Mkdir(run, 0o700), os.Chown(run, 65534, 65534)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	socket := filepath.Join(run, "snoopswitch.sock")

	caps := "-all,+" + strings.Join(unitCapabilities(t), ",+")
	proc := startSwitchProcess(t, lab.SwitchNS().Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		"--inh-caps="+caps, "--ambient-caps="+caps, "--bounding-set="+caps, "--no-new-privs",
		binary(t), "run", "--port", a.SwitchPort, "--port", b.SwitchPort, "--control-socket", socket))
	proc.waitForPing(t, a, b)
	code, out := exitCode(t, exec.Command(binary(t), "show", "ports", "--control-socket", socket))
	if code != 0 || !strings.Contains(out, a.SwitchPort) {
		t.Errorf("show ports: exit %d\n%s", code, out)
	}
	// Without the drop-in's capabilities the default datapath, auto, runs
	// the ring, and says so once, with the reason. Under systemd it is
	// seccomp that refuses bpf(2) first: with EPERM, which auto takes as
	// it takes a missing capability, not with the kill that is seccomp's
	// default.
	if data, err := os.ReadFile(unitFile); err != nil || !strings.Contains(string(data), "\nSystemCallErrorNumber=EPERM\n") {
		t.Errorf("%s does not make the system calls its filter refuses fail with EPERM (%v): auto's bpf(2) would kill the switch", unitFile, err)
	}
	want := `msg=datapath pid=[0-9]+ mode=ring configured=auto reason="the fast path cannot run here: fastpath: .*operation not permitted`
	if log := proc.log.String(); len(regexp.MustCompile(want).FindAllString(log, -1)) != 1 {
		t.Errorf("the log does not say once that auto runs the ring, and why (%s):\n%s", want, log)
	}
	code, out = exitCode(t, exec.Command(binary(t), "show", "datapath", "--control-socket", socket))
	if code != 0 || !strings.HasPrefix(out, "datapath: ring (datapath.mode auto: the fast path cannot run here: fastpath: ") {
		t.Errorf("show datapath: exit %d\n%s", code, out)
	}
	proc.stop(t)
}

// TestRunFastWithTheDropInsCapabilities runs the fast datapath as the unit
// with packaging/fast-datapath.conf runs it: not root, with the unit's
// capabilities and the drop-in's. Hosts ping through it and it stops on
// SIGTERM. Without CAP_PERFMON, one of the drop-in's, it refuses to start
// with exit code 1 and an error naming what it needs, instead of running
// the ring datapath the configuration did not ask for.
func TestRunFastWithTheDropInsCapabilities(t *testing.T) {
	lab, a, b := unprivilegedLab(t)
	unit, dropIn := unitCapabilities(t), fileCapabilities(t, fastDropIn)
	data, err := os.ReadFile(fastDropIn)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "\nSystemCallFilter=bpf\n") {
		t.Errorf("%s does not allow bpf(2), which the unit's @system-service filter lacks", fastDropIn)
	}
	setpriv := func(caps []string) *exec.Cmd {
		c := "-all,+" + strings.Join(caps, ",+")
		return lab.SwitchNS().Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
			"--inh-caps="+c, "--ambient-caps="+c, "--bounding-set="+c, "--no-new-privs",
			binary(t), "run", "--datapath", "fast", "--port", a.SwitchPort, "--port", b.SwitchPort, "--control-socket", "")
	}
	var fewer []string
	for _, c := range append(slices.Clone(unit), dropIn...) {
		if c != "perfmon" {
			fewer = append(fewer, c)
		}
	}
	code, out := exitCode(t, setpriv(fewer))
	if code != 1 || !strings.Contains(out, "CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN") {
		t.Errorf("fast datapath without CAP_PERFMON: exit %d, want 1 with the capabilities it needs:\n%s", code, out)
	}
	proc := startSwitchProcess(t, setpriv(append(slices.Clone(unit), dropIn...)))
	proc.waitForPing(t, a, b)
	proc.stop(t)
}

// unprivilegedLab is a lab of two hosts, a and b, for a switch run through
// setpriv as an unprivileged user.
func unprivilegedLab(t *testing.T) (*testenv.Lab, *testenv.Host, *testenv.Host) {
	t.Helper()
	lab := testenv.New(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatal("setpriv is not installed (apt-get install util-linux; .ci/run installs it)")
	}
	a, err := lab.AddHost("a", testenv.HostOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := lab.AddHost("b", testenv.HostOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return lab, a, b
}
