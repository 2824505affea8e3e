package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snoopswitch/snoopswitch/testenv"
)

// TestRunConfigFile runs the binary with a configuration file that lists one
// port, a control socket and a log level, and a --port flag that adds the
// other: hosts ping through it, the socket is where the file says, and the
// level keeps the info lines out of the log.
func TestRunConfigFile(t *testing.T) {
	lab := testenv.New(t)
	a, err := lab.AddHost("a", testenv.HostOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := lab.AddHost("b", testenv.HostOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	socket := filepath.Join(dir, "ss.sock")
	file := filepath.Join(dir, "snoopswitch.yaml")
	conf := fmt.Sprintf(`
ports:
  - name: %s
    fast-leave: true
    guard:
      min-igmp-version: 2
logging:
  level: warn
control-socket:
  path: %s
`, a.SwitchPort, socket)
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	proc := startSwitchProcess(t, lab.SwitchNS().Command(binary(t), "run", "--config", file, "--port", b.SwitchPort))
	proc.waitForPing(t, a, b)
	if _, err := os.Stat(socket); err != nil {
		t.Errorf("control socket from the file: %v", err)
	}
	code, out := exitCode(t, lab.SwitchNS().Command(binary(t), "show", "ports", "--control-socket", socket))
	if code != 0 || !strings.Contains(out, a.SwitchPort) || !strings.Contains(out, b.SwitchPort) {
		t.Errorf("show ports: exit %d:\n%s", code, out)
	}

	proc.stop(t)
	if strings.Contains(proc.log.String(), "level=INFO") {
		t.Errorf("logging.level warn in the file, but the log has info lines:\n%s", proc.log)
	}
}
