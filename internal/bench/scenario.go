package bench

// metricSpec names one figure a scenario reports for each switch.
type metricSpec struct {
	name   string // stable key in RunReport.Metrics and the JSON report
	unit   string
	better string // "higher" or "lower"
}

var (
	metricRate = metricSpec{"frames_per_s", "frames/s", "higher"}
	// metricBitRate is what a TCP receiver got, payload only (iperf3's
	// bits_per_second).
	metricBitRate = metricSpec{"bits_per_s", "bit/s", "higher"}
	metricRTTP50  = metricSpec{"rtt_p50_us", "µs", "lower"}
	metricRTTP99  = metricSpec{"rtt_p99_us", "µs", "lower"}
)
