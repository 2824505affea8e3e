package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Steer is datapath.steer (--steer): the CPUs each port's receive
// processing runs on, by receive packet steering (RPS). On veth and tap
// ports the kernel otherwise runs a frame's receive side, and with it the
// fast path's forwarding, in the sender's context on the sender's CPU.
type Steer string

// The words of datapath.steer besides a list of CPUs.
const (
	// SteerAuto: on the fast datapath, the CPUs the switch process may run
	// on (its affinity, which taskset or systemd's CPUAffinity set), if
	// the machine has more than one; the ring datapath is left alone, its
	// receive copy is better on the sender's CPU than on the switch's.
	SteerAuto Steer = "auto"
	// SteerOff leaves the ports' receive processing where the kernel puts
	// it.
	SteerOff Steer = "off"
)

// maxCPU bounds a CPU number, as the kernel's largest NR_CPUS does.
const maxCPU = 8191

// CPUs parses s: auto, off (no CPUs), or a list of CPU numbers and
// ranges such as "1" or "0-3,6" (the kernel's cpulist format). The CPUs
// come back sorted, without duplicates.
func (s Steer) CPUs() (auto bool, cpus []int, err error) {
	switch s {
	case SteerAuto:
		return true, nil, nil
	case SteerOff:
		return false, nil, nil
	}
	bad := func(why string) (bool, []int, error) {
		return false, nil, fmt.Errorf("%q is not auto, off or a list of CPUs such as 1 or 0-3,6: %s", string(s), why)
	}
	if s == "" {
		return bad("empty")
	}
	for _, part := range strings.Split(string(s), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 || a > maxCPU {
			return bad(fmt.Sprintf("%q is not a CPU from 0 to %d", lo, maxCPU))
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a || b > maxCPU {
				return bad(fmt.Sprintf("%q is not a range of CPUs from low to high", part))
			}
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	slices.Sort(cpus)
	return false, slices.Compact(cpus), nil
}
