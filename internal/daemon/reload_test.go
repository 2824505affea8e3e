package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/internal/control"
	"github.com/snoopswitch/snoopswitch/internal/daemon"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

// idlePort is a Backend that receives nothing and drops what it is sent.
type idlePort struct {
	name   string
	closed *bool
}

func (p *idlePort) Name() string { return p.name }
func (p *idlePort) Receive(ctx context.Context, _ func([]switching.Packet)) error {
	<-ctx.Done()
	return nil
}
func (p *idlePort) NewSender() switching.Sender        { return idleSender{} }
func (p *idlePort) KernelStats() switching.KernelStats { return switching.KernelStats{} }
func (p *idlePort) Close() error {
	*p.closed = true
	return nil
}

type idleSender struct{}

func (idleSender) Queue(*switching.Packet) bool { return true }
func (idleSender) Flush() (int, int, error)     { return 0, 0, nil }

// ports is the test's port opener: it opens any name except those in
// refuse, and remembers which ports it opened and which were closed.
type ports struct {
	mu     sync.Mutex
	refuse map[string]bool
	opened []string
	closed map[string]*bool
}

func (o *ports) open(name string) (switching.Backend, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.refuse[name] {
		return nil, errors.New("port " + name + ": no such interface")
	}
	o.opened = append(o.opened, name)
	closed := new(bool)
	o.closed[name] = closed
	return &idlePort{name: name, closed: closed}, nil
}

// rig is a Switch started from a file the test rewrites before each reload.
type rig struct {
	t     *testing.T
	file  string
	sw    *daemon.Switch
	ports *ports
	level *slog.LevelVar
}

func newRig(t *testing.T, yaml string) *rig {
	t.Helper()
	r := &rig{t: t, file: filepath.Join(t.TempDir(), "snoopswitch.yaml"), ports: &ports{refuse: map[string]bool{}, closed: map[string]*bool{}}, level: new(slog.LevelVar)}
	r.write(yaml)
	c, err := r.load()
	if err != nil {
		t.Fatal(err)
	}
	r.sw, err = daemon.Start(c, daemon.Options{Open: r.ports.open, Load: r.load, Level: r.level})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.sw.Close)
	return r
}

// load reads the file as `snoopswitch run --config` does.
func (r *rig) load() (*config.Config, error) {
	c, err := config.Load(r.file)
	if err != nil {
		return nil, err
	}
	return c, c.Validate()
}

func (r *rig) write(yaml string) {
	r.t.Helper()
	if err := os.WriteFile(r.file, []byte(yaml), 0o600); err != nil {
		r.t.Fatal(err)
	}
}

// live returns the names of the engine's ports that are in the switch.
func (r *rig) live() []string {
	var names []string
	for _, s := range r.sw.Engine().Stats() {
		if !s.Removed {
			names = append(names, s.Name)
		}
	}
	return names
}

// staticRouters returns the ports the snooper has as static router ports.
func (r *rig) staticRouters() []string {
	var names []string
	for _, rt := range control.RoutersReport(r.sw.Engine(), time.Now()) {
		if rt.Source == "static" {
			names = append(names, rt.Port)
		}
	}
	return names
}

const twoPorts = `
ports:
  - name: a
  - name: b
`

func TestStartOpensEveryPort(t *testing.T) {
	r := newRig(t, twoPorts)
	if got := r.live(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("ports %v, want [a b]", got)
	}
}

// A port that cannot be opened fails the start, and the ports opened
// before it are closed again.
func TestStartIsAllOrNothing(t *testing.T) {
	o := &ports{refuse: map[string]bool{"b": true}, closed: map[string]*bool{}}
	c, err := config.Parse("test.yaml", []byte("ports:\n  - name: a\n  - name: b\n  - name: c\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.Start(c, daemon.Options{Open: o.open}); err == nil || !strings.Contains(err.Error(), "port b") {
		t.Fatalf("Start = %v, want the error of port b", err)
	}
	if !slices.Equal(o.opened, []string{"a"}) || !*o.closed["a"] {
		t.Errorf("opened %v, a closed %v: want a opened and closed again, c never opened", o.opened, *o.closed["a"])
	}
}

func TestReloadAddsAPort(t *testing.T) {
	r := newRig(t, twoPorts)
	r.write(twoPorts + "  - name: c\n    role: router\n")
	res, err := r.sw.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Added, []string{"c"}) || len(res.Removed) != 0 || len(res.Changed) != 0 {
		t.Errorf("result %+v, want c added and nothing else", res)
	}
	if got := r.live(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("ports %v, want [a b c]", got)
	}
	if got := r.staticRouters(); !slices.Equal(got, []string{"c"}) {
		t.Errorf("static router ports %v, want [c]", got)
	}
	if r.sw.Config().Port("c") == nil {
		t.Error("the running configuration has no port c")
	}
}

func TestReloadRemovesAPort(t *testing.T) {
	r := newRig(t, twoPorts+"  - name: c\n")
	r.write(twoPorts)
	res, err := r.sw.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Removed, []string{"c"}) || len(res.Added) != 0 {
		t.Errorf("result %+v, want c removed and nothing added", res)
	}
	if got := r.live(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("ports %v, want [a b]", got)
	}
	// The engine closes a removed port once its receive loops let go of
	// it, at the latest when it closes.
	r.sw.Close()
	if !*r.ports.closed["c"] {
		t.Error("the removed port was never closed")
	}
}

// A port that comes back after a reload removed it gets its old PortID,
// and the roles and policies follow the IDs, not the file's order.
func TestReloadRoleChangeFollowsPortIDs(t *testing.T) {
	r := newRig(t, "ports:\n  - name: a\n  - name: b\n  - name: c\n")
	r.write(twoPorts)
	if _, err := r.sw.Reload(); err != nil {
		t.Fatal(err)
	}
	// c comes back first in the file, as a router port; b becomes one too.
	r.write("ports:\n  - name: c\n    role: router\n  - name: a\n  - name: b\n    role: router\n")
	res, err := r.sw.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Added, []string{"c"}) || !slices.Equal(res.Changed, []string{"b"}) {
		t.Errorf("result %+v, want c added and b changed", res)
	}
	e := r.sw.Engine()
	if id, _ := e.PortID("c"); id != 2 {
		t.Errorf("c came back as port %d, want its old ID 2", id)
	}
	if got := r.staticRouters(); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("static router ports %v, want [b c]", got)
	}
	for name, routerGuard := range map[string]bool{"a": true, "b": false, "c": false} {
		id, _ := e.PortID(name)
		if got := e.Guard().Policy(id).RouterGuard; got != routerGuard {
			t.Errorf("port %s: router-guard %v, want %v (its role's default)", name, got, routerGuard)
		}
	}
	doc := r.sw.Document()
	var roles []string
	for _, p := range doc.Ports {
		roles = append(roles, p.Name+"="+p.Role)
	}
	if want := []string{"c=router", "a=host", "b=router"}; !slices.Equal(roles, want) {
		t.Errorf("show config ports %v, want %v", roles, want)
	}
}

func TestReloadSetsLogLevel(t *testing.T) {
	r := newRig(t, twoPorts)
	r.write(twoPorts + "logging:\n  level: debug\n")
	res, err := r.sw.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if res.LogLevel != "DEBUG" || r.level.Level() != slog.LevelDebug {
		t.Errorf("log level %q, logger at %v; want DEBUG", res.LogLevel, r.level.Level())
	}
}

// assertUnchanged checks that a refused reload left the switch as it was.
func (r *rig) assertUnchanged(before *config.Config, ports []string) {
	r.t.Helper()
	if r.sw.Config() != before {
		r.t.Error("a refused reload replaced the running configuration")
	}
	if got := r.live(); !slices.Equal(got, ports) {
		r.t.Errorf("ports %v after a refused reload, want %v", got, ports)
	}
}

func TestReloadRefusedKeepsTheOldConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		refuse     string // a port the opener refuses
		want       string // in the error
	}{
		{"not valid", twoPorts + "snooping:\n  robustnes: 3\n", "", "robustnes"},
		{"not yaml", "ports: [\n", "", "reload refused"},
		{"port cannot be opened", twoPorts + "  - name: c\n  - name: d\n", "d", "port d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, twoPorts)
			r.ports.refuse[tc.refuse] = true
			before := r.sw.Config()
			r.write(tc.yaml)
			_, err := r.sw.Reload()
			if err == nil || !strings.Contains(err.Error(), "reload refused, the running configuration stays") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Reload = %v, want a refusal naming %q", err, tc.want)
			}
			r.assertUnchanged(before, []string{"a", "b"})
			if c := r.ports.closed["c"]; c != nil && !*c {
				t.Error("port c, opened before d failed, was left open")
			}
		})
	}
}

func TestReloadRefusesRestartOnlyKeys(t *testing.T) {
	r := newRig(t, twoPorts)
	before := r.sw.Config()
	r.write(twoPorts + "  - name: c\nsnooping:\n  igmp-version: 2\ndatapath:\n  mode: fast\n  receive-loops: 3\n")
	_, err := r.sw.Reload()
	if err == nil || !strings.Contains(err.Error(), "snooping.igmp-version, datapath.mode, datapath.receive-loops changed, and only a restart applies them") {
		t.Fatalf("Reload = %v, want a refusal naming the three keys", err)
	}
	r.assertUnchanged(before, []string{"a", "b"})
	if slices.Contains(r.ports.opened, "c") {
		t.Error("a refused reload opened port c")
	}

	r.write(twoPorts + "snooping:\n  igmp-version: 2\n")
	if _, err := r.sw.Reload(); err == nil || !strings.Contains(err.Error(), "snooping.igmp-version changed, and only a restart applies it") {
		t.Fatalf("Reload = %v, want a refusal naming the key", err)
	}
}

func TestReloadWithoutFile(t *testing.T) {
	c := config.Default()
	c.SetPort("a", config.RoleHost)
	c.SetPort("b", config.RoleHost)
	o := &ports{closed: map[string]*bool{}}
	sw, err := daemon.Start(c, daemon.Options{Open: o.open, Load: func() (*config.Config, error) { return c, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	if _, err := sw.Reload(); err == nil || !strings.Contains(err.Error(), "without --config") {
		t.Errorf("Reload = %v, want: started without --config", err)
	}
}

// A runtime rule shows in show config, and the next reload replaces it
// with the file's lists, revoking what the file's access list refuses.
func TestDocumentShowsRuntimeRules(t *testing.T) {
	r := newRig(t, twoPorts)
	if _, err := control.ApplyRule(r.sw.Engine(), control.RuleRequest{Op: "add", Port: "a", List: "acl", Action: "deny", Group: "239.1.0.0/16"}); err != nil {
		t.Fatal(err)
	}
	want := []config.RuleView{{Action: "deny", Group: "239.1.0.0/16"}}
	if got := r.sw.Document().Ports[0].Guard.ACL; !slices.Equal(got, want) {
		t.Errorf("port a's acl %v, want %v", got, want)
	}
	if _, err := r.sw.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := r.sw.Document().Ports[0].Guard.ACL; len(got) != 0 {
		t.Errorf("port a's acl %v after a reload of a file without one, want []", got)
	}
}

// The SIGUSR1 status is the datapath, the MAC table and the port table of
// show.
func TestWriteStatus(t *testing.T) {
	r := newRig(t, twoPorts)
	var b bytes.Buffer
	if err := r.sw.WriteStatus(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"datapath: ring (datapath.mode ring: configured)\nframes received: 0, sent: 0, all through the rings\n\nVLAN  MAC  PORT  TYPE  AGE\n", "PORT  LINK  RX FRAMES  RX BYTES  TX FRAMES  TX BYTES  FAST RX  FAST TX  RING DROPS", "\na     up    0 "} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

// What the engine would refuse is refused before anything changes, even
// from a loader that skips the file's validation.
func TestReloadChecksWhatTheEngineRefuses(t *testing.T) {
	c, err := config.Parse("test.yaml", []byte(twoPorts))
	if err != nil {
		t.Fatal(err)
	}
	o := &ports{closed: map[string]*bool{}}
	sw, err := daemon.Start(c, daemon.Options{Open: o.open, Load: func() (*config.Config, error) {
		next, err := config.Parse("test.yaml", []byte(twoPorts+"  - name: c\n"))
		if err != nil {
			return nil, err
		}
		next.Ports[0].VLANs = []int{5000}
		next.Ports[1].Guard.MinIGMPVersion = 9
		return next, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	_, err = sw.Reload()
	if err == nil || !strings.Contains(err.Error(), "reload refused") || !strings.Contains(err.Error(), `port "a": VLAN 5000`) || !strings.Contains(err.Error(), `port "b"`) {
		t.Fatalf("Reload = %v, want a refusal naming a's VLAN and b's policy", err)
	}
	if sw.Config() != c || slices.Contains(o.opened, "c") {
		t.Error("a refused reload changed the switch")
	}
}
