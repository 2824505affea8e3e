//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package fastpath_test

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/switch/fastpath"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// ifindex is the index of interface name in the caller's namespace.
func ifindex(name string) (int, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return 0, err
	}
	return ifc.Index, nil
}

// waitRx waits until host h's interface has received at least n frames.
func waitRx(h *testenv.Host, n uint64) error {
	var got uint64
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var err error
		if got, err = h.RxPackets(); err != nil {
			return err
		}
		if got >= n {
			return nil
		}
	}
	return fmt.Errorf("host %s received %d frames, want %d", h.Name, got, n)
}

// steerHelperEnv makes the test binary a helper that calls SteerReceive in
// the namespace ip netns exec started it in (with that namespace's sysfs):
// "interface cpu,cpu,...", no CPUs for none.
const steerHelperEnv = "SNOOPSWITCH_FASTPATH_STEER_HELPER"

// loadHelperEnv makes the test binary a helper that loads the datapath
// and exits 0 if it could.
const loadHelperEnv = "SNOOPSWITCH_FASTPATH_LOAD_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(loadHelperEnv) != "" {
		d, err := fastpath.Load(16)
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		d.Close()
		os.Exit(0)
	}
	if arg := os.Getenv(steerHelperEnv); arg != "" {
		dev, list, _ := strings.Cut(arg, " ")
		var cpus []int
		for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' }) {
			c, err := strconv.Atoi(f)
			if err != nil {
				os.Stderr.WriteString(err.Error() + "\n")
				os.Exit(2)
			}
			cpus = append(cpus, c)
		}
		if _, err := fastpath.SteerReceive(dev, cpus); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
