package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/internal/config"
)

// parseRun parses run's flags and returns the configuration run would start.
func parseRun(t *testing.T, args ...string) (*config.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o runOptions
	o.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o.configuration(fs)
}

func TestEveryRunFlagHasAConfigKey(t *testing.T) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var o runOptions
	o.register(fs)
	keys := config.Keys()
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		if f.Name == "config" {
			return
		}
		k, ok := flagKeys[f.Name]
		if !ok {
			t.Errorf("--%s has no configuration key in flagKeys", f.Name)
		} else if !slices.Contains(keys, k) {
			t.Errorf("--%s: %q is not a configuration key", f.Name, k)
		}
	})
	if n != len(flagKeys)+1 {
		t.Errorf("%d flags, %d in flagKeys: a key names a flag run does not have", n, len(flagKeys))
	}
}

func TestFlagsOverrideTheFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "switch.yaml")
	err := os.WriteFile(file, []byte(`
ports:
  - name: a
    guard:
      max-ttl: 4
  - name: uplink
    role: router
snooping:
  robustness: 3
  query-interval: 60s
  ssm-ranges: []
datapath:
  mode: fast
  receive-loops: 2
logging:
  level: debug
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseRun(t, "--config", file, "--robustness", "4", "--port", "c", "--router-port", "a", "--fast-leave", "c", "--no-express", "--log-level", "warn", "--datapath", "ring")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.PortNames(); !slices.Equal(got, []string{"a", "uplink", "c"}) {
		t.Errorf("ports %v, want the file's, then --port c", got)
	}
	wantA := guard.RouterPortDefaults()
	wantA.MaxTTL = 4
	if p := c.Port("a"); p.Role != config.RoleRouter || !reflect.DeepEqual(p.Guard, wantA) {
		t.Errorf("--router-port a: %v %+v, want a router port keeping the file's max-ttl", p.Role, p.Guard)
	}
	if p := c.Port("c"); !p.FastLeave || p.Role != config.RoleHost {
		t.Errorf("c: %+v", p)
	}
	tm := c.Snooping.Timers
	if tm.Robustness != 4 || tm.QueryInterval != 60*time.Second {
		t.Errorf("timers %+v: want robustness from the flag, query-interval from the file", tm)
	}
	if c.Datapath.Mode != config.DatapathRing || c.Datapath.ReceiveLoops != 2 || c.Datapath.Express || c.Logging.Level.String() != "WARN" {
		t.Errorf("datapath %+v, level %v", c.Datapath, c.Logging.Level)
	}
	if c.Snooping.SSMRanges == nil || len(c.Snooping.SSMRanges) != 0 {
		t.Errorf("ssm-ranges %v: the file's empty list must stay without --ssm-range", c.Snooping.SSMRanges)
	}
}

// TestFlagsAloneAreTheDefaults: without a file, run starts what it did
// before there was one.
func TestFlagsAloneAreTheDefaults(t *testing.T) {
	c, err := parseRun(t, "--port", "a", "--port", "b", "--router-port", "r", "--flood-unregistered", "b")
	if err != nil {
		t.Fatal(err)
	}
	want := config.Default()
	want.SetPort("a", config.RoleHost)
	want.SetPort("b", config.RoleHost)
	want.SetPort("r", config.RoleRouter)
	want.Port("b").FloodUnregistered = true
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	e := c.Engine(nil)
	if e.Snooping == nil || !e.Snooping.StaticRouterPorts.Has(2) || !e.Snooping.FloodUnregistered.Has(1) || len(e.Guard) != 3 {
		t.Errorf("engine config %+v", e)
	}
}

// TestSwitchPortFlag: --switch-port bridges the interface as a link to
// another switch (guard.SwitchPortDefaults, not a static router port), may
// change the role of a port the file lists, and names itself when given
// twice.
func TestSwitchPortFlag(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f.yaml")
	if err := os.WriteFile(file, []byte("ports:\n  - name: vx\n    split-horizon: true\n    guard:\n      max-ttl: 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := parseRun(t, "--config", file, "--port", "a", "--switch-port", "vx", "--switch-port", "vy")
	if err != nil {
		t.Fatal(err)
	}
	wantVX := guard.SwitchPortDefaults()
	wantVX.MaxTTL = 4
	if p := c.Port("vx"); p.Role != config.RoleSwitch || !p.SplitHorizon || !reflect.DeepEqual(p.Guard, wantVX) {
		t.Errorf("vx: %+v, want a switch port keeping the file's split-horizon and max-ttl", p)
	}
	if p := c.Port("vy"); p == nil || p.Role != config.RoleSwitch || !reflect.DeepEqual(p.Guard, guard.SwitchPortDefaults()) {
		t.Errorf("vy: %+v", p)
	}
	if e := c.Engine(nil); e.Snooping == nil || !e.Snooping.StaticRouterPorts.IsEmpty() {
		t.Errorf("a switch port is a static router port: %+v", e.Snooping)
	}
	_, err = parseRun(t, "--port", "a", "--switch-port", "a")
	if err == nil || !strings.Contains(err.Error(), `port "a" given twice (--switch-port bridges the interface too`) {
		t.Errorf("--port a --switch-port a: %v", err)
	}
}

func TestConfigFileExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("ports:\n  - name: a\n  - name: b\n    role: router\n"), 0o644)
	os.WriteFile(bad, []byte("ports:\n  - name: a\n  - name: b\nsnooping:\n  igmp-version: 4\n"), 0o644)
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"check ok", []string{"check", "--config", good}, 0, good + ": ok (2 ports)\n", ""},
		{"check example", []string{"check", "--config", "../../examples/snoopswitch.yaml"}, 0, "../../examples/snoopswitch.yaml: ok (5 ports, 1 of them tunnels)\n", ""},
		{"check bad", []string{"check", "--config", bad}, 1, "", bad + ":5: snooping.igmp-version: 4 is out of range; use 2 or 3"},
		{"check missing file", []string{"check", "--config", filepath.Join(dir, "none.yaml")}, 1, "", "no such file"},
		{"check no file", []string{"check"}, 2, "", "--config FILE"},
		{"check help", []string{"check", "--help"}, 0, "", "Exit codes:"},
		{"run bad file", []string{"run", "--config", bad}, 2, "", bad + ":5: snooping.igmp-version: 4 is out of range"},
		{"run missing file", []string{"run", "--config", filepath.Join(dir, "none.yaml")}, 1, "", "no such file"},
		{"run flag over file", []string{"run", "--config", good, "--igmp-version", "4"}, 2, "", "--igmp-version 4 is out of range; use 2 or 3"},
		{"run bad datapath", []string{"run", "--config", good, "--datapath", "kernel"}, 2, "", `invalid value "kernel" for flag -datapath: "kernel" is not a datapath; use auto, ring or fast`},
		{"run fast-leave not a port", []string{"run", "--config", good, "--fast-leave", "c"}, 2, "", `--fast-leave "c" is not a port`},
		{"run router-port over a file host", []string{"run", "--config", good, "--router-port", "a", "--port", "b", "--no-snooping", "--mac-limit", "-1"}, 2, "", "--mac-limit -1 must be positive"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := run(c.args, &stdout, &stderr)
		if code != c.code {
			t.Errorf("%s: exit code %d, want %d (stderr %q)", c.name, code, c.code, stderr.String())
		}
		if c.stdout != "" && stdout.String() != c.stdout {
			t.Errorf("%s: stdout %q, want %q", c.name, stdout.String(), c.stdout)
		}
		if !strings.Contains(stderr.String(), c.stderr) {
			t.Errorf("%s: stderr %q does not say %q", c.name, stderr.String(), c.stderr)
		}
	}
}
