package control_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/internal/control"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// TestRuleChangesTakeEffectAtOnce: an ACL rule added through the control
// socket revokes the membership it refuses and is idempotent; bad requests
// get clear errors and change nothing.
func TestRuleChangesTakeEffectAtOnce(t *testing.T) {
	lab := testenv.New(t)
	var hosts []*testenv.Host
	for _, n := range []string{"src", "member"} {
		h, err := lab.AddHost(n, testenv.HostOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	sw := testenv.StartSwitch(t, lab, testenv.SwitchConfig{Engine: switching.Config{
		Snooping: &snoop.Config{}, Guard: []guard.PortPolicy{guard.HostPortDefaults(), guard.HostPortDefaults()}}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	socket := filepath.Join(t.TempDir(), "ctl.sock")
	if err := control.Serve(ctx, socket, sw.Engine, control.Daemon{}); err != nil {
		t.Fatal(err)
	}
	group := netip.MustParseAddr("239.7.7.7")
	if _, err := hosts[1].Join(group); err != nil {
		t.Fatal(err)
	}
	member := hosts[1].SwitchPort
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := sw.Engine.Snooper().Groups().Get(0, group, 1); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the member's join was not seen")
		}
		time.Sleep(10 * time.Millisecond)
	}

	deny := control.RuleRequest{Op: "add", Port: member, List: "acl", Action: "deny", Group: "239.7.0.0/16"}
	send := func(r control.RuleRequest) control.RuleResult {
		t.Helper()
		out, err := control.SendRule(socket, r)
		if err != nil {
			t.Fatal(err)
		}
		var res control.RuleResult
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return res
	}
	res := send(deny)
	if !res.Changed || res.Revoked != 1 || len(res.ACL) != 1 || res.ACL[0] != (config.RuleView{Action: "deny", Group: "239.7.0.0/16"}) {
		t.Fatalf("first deny: %+v", res)
	}
	if _, ok := sw.Engine.Snooper().Groups().Get(0, group, 1); ok {
		t.Error("the denied membership is still there")
	}
	if ev := sw.Engine.Stats()[1].Events["membership-revoked"]; ev != 1 {
		t.Errorf("membership-revoked = %d, want 1", ev)
	}
	if res := send(deny); res.Changed || len(res.ACL) != 1 {
		t.Errorf("the same request twice changed something: %+v", res)
	}
	// The host's next report is refused too.
	if _, err := hosts[1].Join(netip.MustParseAddr("239.7.1.1")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, ok := sw.Engine.Snooper().Groups().Get(0, netip.MustParseAddr("239.7.1.1"), 1); ok {
		t.Error("a join the new rule denies was accepted")
	}
	remove := deny
	remove.Op = "remove"
	if res := send(remove); !res.Changed || len(res.ACL) != 0 {
		t.Errorf("remove: %+v", res)
	}
	if res := send(remove); res.Changed {
		t.Errorf("removing a rule the list lacks changed something: %+v", res)
	}

	for _, bad := range []struct {
		r    control.RuleRequest
		want string
	}{
		{control.RuleRequest{Op: "add", Port: "nope", List: "acl", Action: "deny"}, `port "nope": no such port`},
		{control.RuleRequest{Op: "add", Port: member, List: "acl", Action: "drop"}, `action "drop": use permit or deny`},
		{control.RuleRequest{Op: "add", Port: member, List: "acl", Action: "deny", Group: "239.0.0.0/33"}, `group "239.0.0.0/33"`},
		{control.RuleRequest{Op: "add", Port: member, List: "fdb", Action: "deny"}, `list "fdb"`},
		{control.RuleRequest{Op: "swap", Port: member, List: "acl", Action: "deny"}, `op "swap"`},
		{control.RuleRequest{Op: "add", Port: member, List: "acl", Action: "deny", Group: "198.18.0.0/16"}, "guard"},
	} {
		_, err := control.SendRule(socket, bad.r)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: error %v, want one containing %q", bad.r, err, bad.want)
		}
	}
	if p := sw.Engine.Guard().Policy(1); len(p.ACL) != 0 {
		t.Errorf("a bad request changed the ACL: %+v", p.ACL)
	}
}
