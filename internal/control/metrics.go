package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

// metricsCollector exposes the switch's counters to Prometheus. It reads
// them at each scrape from the same reports `show` prints (PortsReport,
// RoutersReport, QuerierReport), so the two always agree.
type metricsCollector struct {
	e        *switching.Engine
	datapath func() DatapathReport // nil: not known

	up, rxFrames, rxBytes, txFrames, txBytes, txErrors   *prometheus.Desc
	drops, events, control, parseErrors                  *prometheus.Desc
	kernelPackets, kernelDrops, kernelFreezes            *prometheus.Desc
	groupEntries, groups, routerPort, querierSelf        *prometheus.Desc
	unregisteredFlooding                                 *prometheus.Desc
	fastRxFrames, fastRxBytes, fastTxFrames, fastTxBytes *prometheus.Desc
	fastTxErrors, datapathInfo, fastOffers, fastMaxFlows *prometheus.Desc
}

func newMetricsCollector(e *switching.Engine, datapath func() DatapathReport) *metricsCollector {
	port := []string{"port"}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("snoopswitch_"+name, help, labels, nil)
	}
	return &metricsCollector{
		e:             e,
		datapath:      datapath,
		up:            d("port_up", "1 if the port's link is up.", port...),
		rxFrames:      d("port_rx_frames_total", "Frames received on the port.", port...),
		rxBytes:       d("port_rx_bytes_total", "Bytes received on the port.", port...),
		txFrames:      d("port_tx_frames_total", "Frames sent out of the port.", port...),
		txBytes:       d("port_tx_bytes_total", "Bytes sent out of the port.", port...),
		txErrors:      d("port_tx_errors_total", "Frames the kernel refused to send out of the port.", port...),
		drops:         d("port_drops_total", "Frames received on the port and not forwarded, by reason (README, Counters).", "port", "reason"),
		events:        d("port_events_total", "Things that happened to frames received on the port, by event.", "port", "event"),
		control:       d("port_control_packets_total", "IGMP, MLD, PIM and MRD packets received on the port, by type.", "port", "type"),
		parseErrors:   d("port_control_parse_errors_total", "Control packets received on the port that did not parse, by reason.", "port", "reason"),
		kernelPackets: d("port_ring_packets_total", "Frames the kernel handed to the port's sockets, dropped ones included.", port...),
		kernelDrops:   d("port_ring_drops_total", "Frames the kernel dropped because the port's ring or socket buffer was full.", port...),
		kernelFreezes: d("port_ring_queue_freezes_total", "Times every block of the port's receive ring was full.", port...),
		groupEntries:  d("port_group_entries", "(S,G) and (*,G) entries the port holds, what group limits count.", port...),
		groups:        d("groups", "Registered (VLAN, group) entries in the group table."),
		routerPort:    d("router_port", "1 for each router port, by VLAN (0: static, every VLAN) and how it was learned.", "vlan", "port", "source"),
		querierSelf:   d("querier_self", "1 if the switch is the querier of the VLAN and family, 0 if another querier is.", "vlan", "family", "querier"),
		unregisteredFlooding: d("unregistered_flooding", "1 if data to groups nobody joined goes to every port of the VLAN, 0 if only to router ports; "+
			"state says why: flooding (no querier), learning (until the hosts answer the first general query) or constrained.", "vlan", "family", "state"),
		// The fast path's share of the port counters above, which include it.
		fastRxFrames: d("port_fastpath_rx_frames_total", "Frames received on the port that the kernel fast path forwarded without the switch process (part of port_rx_frames_total).", port...),
		fastRxBytes:  d("port_fastpath_rx_bytes_total", "Bytes of port_fastpath_rx_frames_total (part of port_rx_bytes_total).", port...),
		fastTxFrames: d("port_fastpath_tx_frames_total", "Frames the kernel fast path sent out of the port (part of port_tx_frames_total).", port...),
		fastTxBytes:  d("port_fastpath_tx_bytes_total", "Bytes of port_fastpath_tx_frames_total (part of port_tx_bytes_total).", port...),
		fastTxErrors: d("port_fastpath_tx_errors_total", "Frames the kernel fast path failed to send out of the port (part of port_tx_errors_total).", port...),
		datapathInfo: d("datapath", "1 for the datapath that runs (mode: ring or fast), with datapath.mode (configured: auto, ring or fast).", "mode", "configured"),
		fastOffers: d("fastpath_flow_decisions_total", "Forwarding decisions the switch offered the kernel fast path's flow table, by result: installed, queue-full, table-full or failed "+
			"(a refused flow stays on the rings).", "result"),
		fastMaxFlows: d("fastpath_flow_table_size", "Room of the kernel fast path's flow table, in flows."),
	}
}

func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	s := c.e.Snooper()
	for i, p := range PortsReport(c.e) {
		if p.Removed {
			continue
		}
		n := p.Name
		up := 0.0
		if p.Up {
			up = 1
		}
		gauge(c.up, up, n)
		counter(c.rxFrames, p.RxFrames, n)
		counter(c.rxBytes, p.RxBytes, n)
		counter(c.txFrames, p.TxFrames, n)
		counter(c.txBytes, p.TxBytes, n)
		counter(c.txErrors, p.TxErrors, n)
		for r, v := range p.Drops {
			counter(c.drops, v, n, r)
		}
		for ev, v := range p.Events {
			counter(c.events, v, n, ev)
		}
		for t, v := range p.Control {
			counter(c.control, v, n, t)
		}
		for r, v := range p.ParseErrors {
			counter(c.parseErrors, v, n, r)
		}
		counter(c.kernelPackets, p.Kernel.Packets, n)
		counter(c.kernelDrops, p.Kernel.Drops, n)
		counter(c.kernelFreezes, p.Kernel.QueueFreezes, n)
		if f := p.FlowCache; f != nil {
			counter(c.fastRxFrames, f.RxFrames, n)
			counter(c.fastRxBytes, f.RxBytes, n)
			counter(c.fastTxFrames, f.TxFrames, n)
			counter(c.fastTxBytes, f.TxBytes, n)
			counter(c.fastTxErrors, f.TxErrors, n)
		}
		if s != nil {
			gauge(c.groupEntries, float64(s.Groups().PortEntries(fdb.PortID(i))), n)
		}
	}
	if c.datapath != nil {
		d := c.datapath()
		gauge(c.datapathInfo, 1, d.Mode, d.Configured)
		if f := d.Flows; f != nil {
			gauge(c.fastMaxFlows, float64(f.MaxFlows))
			counter(c.fastOffers, f.Installed, "installed")
			counter(c.fastOffers, f.QueueFull, "queue-full")
			counter(c.fastOffers, f.TableFull, "table-full")
			counter(c.fastOffers, f.Failed, "failed")
		}
	}
	if s == nil {
		return
	}
	gauge(c.groups, float64(s.Groups().Len()))
	now := time.Now()
	for _, r := range RoutersReport(c.e, now) {
		gauge(c.routerPort, 1, strconv.Itoa(int(r.VLAN)), r.Port, r.Source)
	}
	for _, q := range QuerierReport(c.e, now) {
		self := 0.0
		if q.Self {
			self = 1
		}
		if q.Querier != "" {
			gauge(c.querierSelf, self, strconv.Itoa(int(q.VLAN)), q.Family, q.Querier)
		}
		flooding := 1.0
		if q.Unregistered == snoop.UnregisteredConstrained.String() {
			flooding = 0
		}
		gauge(c.unregisteredFlooding, flooding, strconv.Itoa(int(q.VLAN)), q.Family, q.Unregistered)
	}
}

// ServeMetrics serves Prometheus metrics on addr (host:port) at /metrics
// until ctx is done. datapath (nil: none) says which datapath runs, for
// the snoopswitch_datapath and snoopswitch_fastpath_* metrics. It returns
// the address it listens on once it does, or the error that kept it from
// listening.
func ServeMetrics(ctx context.Context, addr string, e *switching.Engine, datapath func() DatapathReport) (net.Addr, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(newMetricsCollector(e, datapath)); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("control: metrics address %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			ln.Close()
		}
	}()
	return ln.Addr(), nil
}
