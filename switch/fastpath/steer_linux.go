//go:build linux

package fastpath

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// SteerReceive moves the receive processing of interface ifname to the
// CPUs in cpus with receive packet steering (RPS): the kernel queues each
// received frame to one of them (by flow hash), and there the packet taps,
// the ring's socket filter and tc ingress run, and so the fast path. With
// one sender on a veth the receive side otherwise runs in the sender's
// softirq, on the sender's CPU; steered, the sender's CPU only queues the
// frame. Empty cpus turns steering off. It writes every receive queue's
// rps_cpus in sysfs, which must show the caller's network namespace (a
// process started by `ip netns exec`, or with a sysfs mounted in its
// namespace): an interface of the same name in another namespace is
// refused, not changed.
//
// restore puts back the masks the queues had before; it does nothing to
// an interface that is gone or was created again since (a new interface
// starts with steering off, and its masks are not the ones read here).
func SteerReceive(ifname string, cpus []int) (restore func() error, err error) {
	mask, err := cpuMask(cpus)
	if err != nil {
		return nil, fmt.Errorf("fastpath: steer %q: %w", ifname, err)
	}
	index, queues, err := rpsQueues(ifname)
	if err != nil {
		return nil, err
	}
	old := make([][]byte, len(queues))
	for i, q := range queues {
		if old[i], err = os.ReadFile(q); err != nil {
			return nil, fmt.Errorf("fastpath: steer %q: %w", ifname, err)
		}
	}
	put := func(masks func(i int) []byte) error {
		for i, q := range queues {
			if err := os.WriteFile(q, masks(i), 0); err != nil {
				return fmt.Errorf("fastpath: steer %q: %w", ifname, err)
			}
		}
		return nil
	}
	if err := put(func(int) []byte { return []byte(mask) }); err != nil {
		// Leave no queue half changed.
		return nil, errors.Join(err, put(func(i int) []byte { return old[i] }))
	}
	return func() error {
		if now, _, err := rpsQueues(ifname); err != nil || now != index {
			return nil
		}
		return put(func(i int) []byte { return old[i] })
	}, nil
}

// rpsQueues returns the index of interface ifname and the rps_cpus files
// of its receive queues, checking that sysfs shows the caller's namespace.
func rpsQueues(ifname string) (index int, queues []string, err error) {
	if ifname == "" || ifname == "." || ifname == ".." || strings.ContainsRune(ifname, '/') {
		return 0, nil, fmt.Errorf("fastpath: steer %q: not an interface name", ifname)
	}
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		return 0, nil, fmt.Errorf("fastpath: steer %q: %w (ip link show lists the interfaces)", ifname, err)
	}
	dir := filepath.Join("/sys/class/net", ifname)
	b, err := os.ReadFile(filepath.Join(dir, "ifindex"))
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(ifc.Index) {
		return 0, nil, fmt.Errorf("fastpath: steer %q: %w: /sys/class/net shows another network namespace than this process's (run it under ip netns exec, which mounts the namespace's sysfs)", ifname, ErrOtherNamespace)
	}
	queues, err = filepath.Glob(filepath.Join(dir, "queues", "rx-*", "rps_cpus"))
	if err != nil || len(queues) == 0 {
		return 0, nil, fmt.Errorf("fastpath: steer %q: no receive queues with rps_cpus in %s (a kernel without CONFIG_RPS?)", ifname, dir)
	}
	return ifc.Index, queues, nil
}

// cpuMask is cpus in the kernel's cpumask format: hex, in groups of 32
// bits separated by commas, the highest first.
func cpuMask(cpus []int) (string, error) {
	var words []uint32
	for _, c := range cpus {
		if c < 0 || c >= 8192 {
			return "", fmt.Errorf("CPU %d: CPUs are 0 to 8191", c)
		}
		for len(words) <= c/32 {
			words = append(words, 0)
		}
		words[c/32] |= 1 << (c % 32)
	}
	if len(words) == 0 {
		return "0", nil
	}
	parts := make([]string, len(words))
	for i, w := range words {
		parts[len(words)-1-i] = fmt.Sprintf("%08x", w)
	}
	return strings.Join(parts, ","), nil
}
