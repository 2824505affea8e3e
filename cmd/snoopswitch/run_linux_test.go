package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/datapath"
	"github.com/snoopswitch/snoopswitch/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds snoopswitch once for the package's tests.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "snoopswitch-test")
		if err != nil {
			buildErr = err
			return
		}
		os.Chmod(dir, 0o755) // the not-root test runs it as nobody
		binPath = filepath.Join(dir, "snoopswitch")
		out, err := exec.Command(goTool(), "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// exitCode runs cmd and returns its exit code and combined output.
func exitCode(t *testing.T, cmd *exec.Cmd) (int, string) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	default:
		t.Fatalf("%v: %v", cmd.Args, err)
		return -1, ""
	}
}

func TestRunRuntimeErrorsExitOne(t *testing.T) {
	lab := testenv.New(t)
	a, err := lab.AddHost("a", testenv.HostOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := lab.AddHost("b", testenv.HostOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bin := binary(t)

	code, out := exitCode(t, lab.SwitchNS().Command(bin, "run", "--port", a.SwitchPort, "--port", "nosuch0"))
	if code != 1 || !strings.Contains(out, `snoopswitch run: afpacket: port "nosuch0": no such interface (ip link show lists the interfaces)`) {
		t.Errorf("missing interface: exit %d, output %q", code, out)
	}

	br, err := lab.AddLinuxBridge()
	if err != nil {
		t.Fatal(err)
	}
	code, out = exitCode(t, lab.SwitchNS().Command(bin, "run", "--port", a.SwitchPort, "--port", b.SwitchPort))
	if code != 1 || !strings.Contains(out, `afpacket: port "`+a.SwitchPort+`": already enslaved to bridge "`+br+`"`) {
		t.Errorf("enslaved interface: exit %d, output %q", code, out)
	}
	if err := lab.RemoveLinuxBridge(); err != nil {
		t.Fatal(err)
	}

	// Not root: the permission check comes before any interface is looked at.
	cmd := exec.Command(bin, "run", "--port", "x0", "--port", "y0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	code, out = exitCode(t, cmd)
	if code != 1 || !strings.Contains(out, "needs root or CAP_NET_RAW") {
		t.Errorf("not root: exit %d, output %q", code, out)
	}
}

// TestRunBridgesAndStopsOnSIGTERM runs the real binary: hosts ping through
// it, and SIGTERM stops it within a second with exit code 0, leaving no port
// promiscuous.
func TestRunBridgesAndStopsOnSIGTERM(t *testing.T) {
	lab := testenv.New(t)
	var args []string
	for _, n := range []string{"a", "b", "c"} {
		h, err := lab.AddHost(n, testenv.HostOptions{})
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "--port", h.SwitchPort)
	}
	proc := startSwitchProcess(t, lab.SwitchNS().Command(binary(t), append([]string{"run"}, args...)...))
	hosts := lab.Hosts()
	proc.waitForPing(t, hosts[0], hosts[2])
	r, err := hosts[1].Ping(hosts[0].IPv6.Addr(), 5, 10*time.Millisecond, time.Second)
	if err != nil || r.Received != 5 {
		t.Fatalf("IPv6 ping: %+v %v", r, err)
	}

	// The default datapath, auto, runs fast where this process can load
	// the fast path (root, Linux 6.6), and says so once.
	want := `msg=datapath pid=[0-9]+ mode=fast configured=auto reason="eBPF and tcx are available and permitted"`
	if f, err := datapath.LoadFast(1, nil); err != nil {
		want = `msg=datapath pid=[0-9]+ mode=ring configured=auto reason="the fast path cannot run here: `
	} else {
		f.Close()
	}
	if log := proc.log.String(); len(regexp.MustCompile(want).FindAllString(log, -1)) != 1 {
		t.Errorf("the log does not say once which datapath auto runs (%s):\n%s", want, log)
	}

	if d := proc.stop(t); d > time.Second {
		t.Errorf("took %v to stop", d)
	}
	for _, h := range hosts {
		l, err := lab.SwitchNS().Handle().LinkByName(h.SwitchPort)
		if err != nil {
			t.Fatal(err)
		}
		if l.Attrs().Promisc != 0 {
			t.Errorf("%s left promiscuous", h.SwitchPort)
		}
	}
}

// goTool finds the go command that runs this test: the one the go test
// command put first on PATH (go test sets GOROOT's bin there), else "go".
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}
