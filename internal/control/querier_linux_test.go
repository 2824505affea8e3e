package control_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/internal/control"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

// idlePort is a port that receives nothing and sends into the void: enough
// for an engine whose state a test sets through its snooper.
type idlePort struct{ name string }

func (p idlePort) Name() string { return p.name }
func (p idlePort) Receive(ctx context.Context, _ func([]switching.Packet)) error {
	<-ctx.Done()
	return nil
}
func (p idlePort) NewSender() switching.Sender        { return idleSender{} }
func (p idlePort) KernelStats() switching.KernelStats { return switching.KernelStats{} }
func (p idlePort) Close() error                       { return nil }

type idleSender struct{}

func (idleSender) Queue(*switching.Packet) bool { return true }
func (idleSender) Flush() (int, int, error)     { return 0, 0, nil }

// querierRow returns the show querier row of (vlan, family).
func querierRow(t *testing.T, e *switching.Engine, vlan uint16, family string, now time.Time) control.QuerierState {
	t.Helper()
	for _, q := range control.QuerierReport(e, now) {
		if q.VLAN == vlan && q.Family == family {
			return q
		}
	}
	t.Fatalf("show querier has no row for VLAN %d %s", vlan, family)
	return control.QuerierState{}
}

// TestQuerierReportSaysWhyUnregisteredDataFloods: show querier (its JSON)
// and the snoopswitch_unregistered_flooding metric say where data to
// groups nobody joined goes, and why: flooded for want of a querier in
// VLAN 0 and in a VLAN a port carries where none was heard, learning once
// one is heard, constrained once the hosts answered.
func TestQuerierReportSaysWhyUnregisteredDataFloods(t *testing.T) {
	e, err := switching.New(switching.Config{Snooping: &snoop.Config{Querier: snoop.QuerierConfig{Disabled: true}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	id, err := e.AddPort(idlePort{"trunk"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetPortVLANs(id, []uint16{0, 20}); err != nil {
		t.Fatal(err)
	}
	s := e.Snooper()
	now := time.Now()
	s.Tick(now)
	for _, key := range []struct {
		vlan   uint16
		family string
	}{{0, "igmp"}, {0, "mld"}, {20, "igmp"}, {20, "mld"}} {
		q := querierRow(t, e, key.vlan, key.family, now)
		if q.Unregistered != "flooding" || !strings.HasPrefix(q.UnregisteredReason, "no querier") {
			t.Errorf("VLAN %d %s without a querier: unregistered %q (%q), want flooding for want of a querier", key.vlan, key.family, q.Unregistered, q.UnregisteredReason)
		}
	}

	// A querier heard 2 s ago, with a 1 s Max Response Time: the hosts
	// have answered. One heard now: learning for 1.5 s more.
	query := func(vlan uint16, at time.Time) {
		b, err := snoop.AppendIGMPQuery(nil, netip.MustParseAddr("198.18.0.254"),
			snoop.Query{Version: 3, Group: netip.IPv4Unspecified(), MaxResp: time.Second, QRV: 2, QQI: 125 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var all fdb.PortSet
		all.Add(id)
		s.Control(vlan, id, 0x0800, b, all, at)
	}
	query(0, now.Add(-2*time.Second))
	query(20, now)
	s.Tick(now)
	if q := querierRow(t, e, 0, "igmp", now); q.Unregistered != "constrained" || !strings.Contains(q.UnregisteredReason, "198.18.0.254") {
		t.Errorf("VLAN 0 IGMP after the hosts answered: %q (%q), want constrained by 198.18.0.254", q.Unregistered, q.UnregisteredReason)
	}
	if q := querierRow(t, e, 20, "igmp", now); q.Unregistered != "learning" || q.LearningLeft != 1.5 {
		t.Errorf("VLAN 20 IGMP right after the query: %q, %v s left, want learning, 1.5 s left", q.Unregistered, q.LearningLeft)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := control.ServeMetrics(ctx, "127.0.0.1:0", e, nil)
	if err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, addr.String())
	for _, w := range []struct {
		vlan, family, state string
		want                float64
	}{
		{"0", "igmp", "constrained", 0},
		{"0", "mld", "flooding", 1},
		{"20", "igmp", "learning", 1},
		{"20", "mld", "flooding", 1},
	} {
		got, ok := value(fams, "snoopswitch_unregistered_flooding", map[string]string{"vlan": w.vlan, "family": w.family, "state": w.state})
		if !ok || got != w.want {
			t.Errorf("snoopswitch_unregistered_flooding{vlan=%s,family=%s,state=%s} = %v (present %v), want %v", w.vlan, w.family, w.state, got, ok, w.want)
		}
	}
}
