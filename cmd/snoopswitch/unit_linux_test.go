package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snoopswitch/snoopswitch/testenv"
)

const unitFile = "../../packaging/snoopswitch.service"

// unitCapabilities returns the capabilities the systemd unit grants, as
// setpriv spells them ("net_raw").
func unitCapabilities(t *testing.T) []string {
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
	proc.stop(t)
}
