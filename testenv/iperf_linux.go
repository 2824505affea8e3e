package testenv

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// TCPThroughput runs one iperf3 TCP stream from host from to host to for d
// (offloads as the hosts have them, TSO/GSO on by default) and returns the
// rate the receiver measured, in Gbit/s. iperf3 must be installed.
func TCPThroughput(from, to *Host, d time.Duration) (float64, error) {
	server := to.NS.Command("iperf3", "--server", "--one-off", "--bind", to.IPv4.Addr().String())
	if err := server.Start(); err != nil {
		return 0, fmt.Errorf("testenv: iperf3 server: %w (is iperf3 installed?)", err)
	}
	defer func() {
		server.Process.Kill()
		server.Wait()
	}()
	var res struct {
		Error string `json:"error"`
		End   struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	secs := strconv.Itoa(max(1, int(d/time.Second)))
	for try := 0; ; try++ {
		// The server takes a moment to listen; until then the client fails
		// at once with an error in its JSON.
		out, _ := from.NS.Command("iperf3", "--client", to.IPv4.Addr().String(), "--time", secs, "--json").Output()
		res.Error = ""
		if err := json.Unmarshal(out, &res); err != nil {
			return 0, fmt.Errorf("testenv: iperf3 output: %w\n%s", err, out)
		}
		if res.Error == "" {
			return res.End.SumReceived.BitsPerSecond / 1e9, nil
		}
		if try == 20 {
			return 0, fmt.Errorf("testenv: iperf3 client: %s", res.Error)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
