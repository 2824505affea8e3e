package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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
	var stderr bytes.Buffer
	cmd := lab.SwitchNS().Command(binary(t), "run", "--config", file, "--port", b.SwitchPort)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	}()

	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := a.Ping(b.IPv4.Addr(), 1, 0, 200*time.Millisecond)
		if err == nil && r.Received == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ping through the switch; its log:\n%s", stderr.String())
		}
	}
	if _, err := os.Stat(socket); err != nil {
		t.Errorf("control socket from the file: %v", err)
	}
	code, out := exitCode(t, lab.SwitchNS().Command(binary(t), "show", "ports", "--control-socket", socket))
	if code != 0 || !strings.Contains(out, a.SwitchPort) || !strings.Contains(out, b.SwitchPort) {
		t.Errorf("show ports: exit %d:\n%s", code, out)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v; log:\n%s", err, stderr.String())
		}
	case <-time.After(2 * time.Second):
		t.Fatal("still running 2s after SIGTERM")
	}
	if strings.Contains(stderr.String(), "level=INFO") {
		t.Errorf("logging.level warn in the file, but the log has info lines:\n%s", stderr.String())
	}
}
