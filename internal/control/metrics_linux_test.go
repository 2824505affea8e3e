package control_test

import (
	"context"
	"net/http"
	"net/netip"
	"reflect"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/snoopswitch/snoopswitch/internal/control"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// scrape fetches and parses the metrics at addr.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value returns the metric of family name whose labels are labels.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		if !reflect.DeepEqual(got, labels) {
			continue
		}
		if m.Counter != nil {
			return m.Counter.GetValue(), true
		}
		return m.Gauge.GetValue(), true
	}
	return 0, false
}

// TestMetricsMatchShowCounters: the metrics endpoint serves the counters
// `show counters` prints, with the same values.
func TestMetricsMatchShowCounters(t *testing.T) {
	lab := testenv.New(t)
	var hosts []*testenv.Host
	for _, n := range []string{"a", "b", "c"} {
		h, err := lab.AddHost(n, testenv.HostOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	// No querier: its queries would change the counters between the two
	// reads.
	sw := testenv.StartSwitch(t, lab, testenv.SwitchConfig{Engine: switching.Config{Snooping: &snoop.Config{Querier: snoop.QuerierConfig{Disabled: true}}}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := control.ServeMetrics(ctx, "127.0.0.1:0", sw.Engine, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hosts[1].Join(netip.MustParseAddr("239.1.2.3")); err != nil {
		t.Fatal(err)
	}
	if _, err := hosts[0].Ping(hosts[1].IPv4.Addr(), 5, 5*time.Millisecond, time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the hosts' own traffic settle

	var ports []control.Port
	var fams map[string]*dto.MetricFamily
	for try := 0; ; try++ {
		before := control.PortsReport(sw.Engine)
		fams = scrape(t, addr.String())
		after := control.PortsReport(sw.Engine)
		if reflect.DeepEqual(before, after) {
			ports = after
			break
		}
		if try == 20 {
			t.Fatal("the counters never held still for a scrape")
		}
		time.Sleep(100 * time.Millisecond)
	}
	checked := 0
	check := func(name string, want uint64, labels ...string) {
		t.Helper()
		l := map[string]string{}
		for i := 0; i+1 < len(labels); i += 2 {
			l[labels[i]] = labels[i+1]
		}
		got, ok := value(fams, name, l)
		if !ok || got != float64(want) {
			t.Errorf("%s%v = %v (present %v), show counters says %d", name, l, got, ok, want)
		}
		checked++
	}
	for _, p := range ports {
		check("snoopswitch_port_rx_frames_total", p.RxFrames, "port", p.Name)
		check("snoopswitch_port_rx_bytes_total", p.RxBytes, "port", p.Name)
		check("snoopswitch_port_tx_frames_total", p.TxFrames, "port", p.Name)
		check("snoopswitch_port_tx_bytes_total", p.TxBytes, "port", p.Name)
		check("snoopswitch_port_ring_drops_total", p.Kernel.Drops, "port", p.Name)
		for r, v := range p.Drops {
			check("snoopswitch_port_drops_total", v, "port", p.Name, "reason", r)
		}
		for ev, v := range p.Events {
			check("snoopswitch_port_events_total", v, "port", p.Name, "event", ev)
		}
		for typ, v := range p.Control {
			check("snoopswitch_port_control_packets_total", v, "port", p.Name, "type", typ)
		}
	}
	if ports[1].Control["igmpv3-report"] == 0 && ports[1].Control["mldv2-report"] == 0 {
		t.Errorf("no reports counted on the member's port: %v", ports[1].Control)
	}
	if v, ok := value(fams, "snoopswitch_port_group_entries", map[string]string{"port": hosts[1].SwitchPort}); !ok || v < 1 {
		t.Errorf("group entries of the member's port = %v, %v", v, ok)
	}
	t.Logf("%d values compared", checked)
}
