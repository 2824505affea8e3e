//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package fastpath_test

import (
	"fmt"
	"net"
	"time"

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
