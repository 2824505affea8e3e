package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// CPUTimes is one CPU's line of /proc/stat: time spent in each state since
// boot, in clock ticks (USER_HZ).
type CPUTimes struct {
	CPU                                                   int
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal uint64
}

// Total is every tick the CPU accounted for. Guest time is already counted
// in User and Nice, so it is left out.
func (t CPUTimes) Total() uint64 {
	return t.User + t.Nice + t.System + t.Idle + t.IOWait + t.IRQ + t.SoftIRQ + t.Steal
}

// Busy is the time the CPU ran something: user, system and interrupt work.
// Steal is not in it: the hypervisor ran someone else.
func (t CPUTimes) Busy() uint64 {
	return t.User + t.Nice + t.System + t.IRQ + t.SoftIRQ
}

// ParseProcStat reads the per-CPU lines ("cpu0 ...", "cpu1 ...") of
// /proc/stat, in the file's order; the all-CPU "cpu" line is skipped.
func ParseProcStat(r io.Reader) ([]CPUTimes, error) {
	var cpus []CPUTimes
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil {
			return nil, fmt.Errorf("bench: /proc/stat: bad CPU line %q", sc.Text())
		}
		// user nice system idle iowait irq softirq steal: steal came with
		// Linux 2.6.11, so eight values are always there.
		if len(f) < 9 {
			return nil, fmt.Errorf("bench: /proc/stat: %s has %d values, want at least 8", f[0], len(f)-1)
		}
		var v [8]uint64
		for i := range v {
			if v[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
				return nil, fmt.Errorf("bench: /proc/stat: %s: %w", f[0], err)
			}
		}
		cpus = append(cpus, CPUTimes{CPU: n, User: v[0], Nice: v[1], System: v[2], Idle: v[3],
			IOWait: v[4], IRQ: v[5], SoftIRQ: v[6], Steal: v[7]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("bench: /proc/stat: %w", err)
	}
	if len(cpus) == 0 {
		return nil, fmt.Errorf("bench: /proc/stat: no per-CPU lines")
	}
	return cpus, nil
}

// CPULoad is how one CPU spent a measuring window, in percent of the
// window's ticks.
type CPULoad struct {
	CPU      int     `json:"cpu"`
	BusyPct  float64 `json:"busy_pct"`
	StealPct float64 `json:"steal_pct"`
}

// LoadBetween returns each CPU's load between two /proc/stat snapshots.
// busyTicks is the busy time of all CPUs together.
func LoadBetween(before, after []CPUTimes) (loads []CPULoad, busyTicks uint64, err error) {
	if len(before) != len(after) {
		return nil, 0, fmt.Errorf("bench: /proc/stat: %d CPUs before, %d after (a CPU went on- or offline)", len(before), len(after))
	}
	for i, b := range before {
		a := after[i]
		if a.CPU != b.CPU {
			return nil, 0, fmt.Errorf("bench: /proc/stat: CPU %d became CPU %d", b.CPU, a.CPU)
		}
		total := a.Total() - b.Total()
		busy := a.Busy() - b.Busy()
		l := CPULoad{CPU: a.CPU}
		if total > 0 {
			l.BusyPct = 100 * float64(busy) / float64(total)
			l.StealPct = 100 * float64(a.Steal-b.Steal) / float64(total)
		}
		loads = append(loads, l)
		busyTicks += busy
	}
	return loads, busyTicks, nil
}

// ProcStat is what the bench reads from /proc/<pid>/stat (proc(5)).
type ProcStat struct {
	PID  int
	Comm string
	PGID int
	// Kernel is set for kernel threads (PF_KTHREAD), which do the kernel's
	// work for whoever caused it (ksoftirqd, kworkers).
	Kernel bool
	// Ticks is user plus system CPU time in clock ticks, of every thread of
	// the process.
	Ticks uint64
}

// pfKthread is PF_KTHREAD in the flags field (include/linux/sched.h).
const pfKthread = 0x00200000

// ParseProcPIDStat parses the contents of /proc/<pid>/stat.
func ParseProcPIDStat(b []byte) (ProcStat, error) {
	// The command name (field 2) is in parentheses and may hold spaces and
	// parentheses itself; the fields after the last ')' are plain.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return ProcStat{}, fmt.Errorf("bench: /proc/<pid>/stat: no command name in %q", b)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:open])))
	if err != nil {
		return ProcStat{}, fmt.Errorf("bench: /proc/<pid>/stat: pid: %w", err)
	}
	f := strings.Fields(string(b[end+1:]))
	// f[0] is field 3 (state), so field n is f[n-3].
	field := func(n int) (uint64, error) {
		if n-3 >= len(f) {
			return 0, fmt.Errorf("bench: /proc/%d/stat: %d fields, want at least %d", pid, len(f)+2, n)
		}
		v, err := strconv.ParseUint(f[n-3], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc/%d/stat: field %d: %w", pid, n, err)
		}
		return v, nil
	}
	var v [4]uint64 // pgrp, flags, utime, stime
	for i, n := range []int{5, 9, 14, 15} {
		if v[i], err = field(n); err != nil {
			return ProcStat{}, err
		}
	}
	return ProcStat{
		PID:    pid,
		Comm:   string(b[open+1 : end]),
		PGID:   int(v[0]),
		Kernel: v[1]&pfKthread != 0,
		Ticks:  v[2] + v[3],
	}, nil
}

// ProcessLoad is the CPU a process used during a window, in percent of one
// CPU.
type ProcessLoad struct {
	PID    int     `json:"pid"`
	Comm   string  `json:"comm"`
	CPUPct float64 `json:"cpu_pct"`
}

// OtherLoad returns the user-space processes, other than those ours
// selects, that used at least minPct of a CPU between two scans of /proc,
// busiest first, and their total. windowTicks is the window's length in
// clock ticks. A process that appeared during the window counts with all
// its time; one that ended during it is not seen.
func OtherLoad(before, after map[int]ProcStat, ours func(ProcStat) bool, windowTicks, minPct float64) (loads []ProcessLoad, totalPct float64) {
	if windowTicks <= 0 {
		return nil, 0
	}
	for pid, a := range after {
		if a.Kernel || ours(a) {
			continue
		}
		used := a.Ticks
		if b, ok := before[pid]; ok && b.Comm == a.Comm && b.Ticks <= a.Ticks {
			used -= b.Ticks
		}
		pct := 100 * float64(used) / windowTicks
		totalPct += pct
		if pct >= minPct && used > 0 {
			loads = append(loads, ProcessLoad{PID: pid, Comm: a.Comm, CPUPct: pct})
		}
	}
	slices.SortFunc(loads, func(x, y ProcessLoad) int {
		if c := cmp.Compare(y.CPUPct, x.CPUPct); c != 0 {
			return c
		}
		return cmp.Compare(x.PID, y.PID)
	})
	return loads, totalPct
}

// ParseSoftnetDrops sums the second column of /proc/net/softnet_stat: the
// frames each CPU's backlog queue dropped because it was full
// (net.core.netdev_max_backlog). The values are hexadecimal.
func ParseSoftnetDrops(r io.Reader) (uint64, error) {
	var sum uint64
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			return 0, fmt.Errorf("bench: softnet_stat: short line %q", sc.Text())
		}
		d, err := strconv.ParseUint(f[1], 16, 32)
		if err != nil {
			return 0, fmt.Errorf("bench: softnet_stat: %w", err)
		}
		sum += d
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("bench: softnet_stat: %w", err)
	}
	return sum, nil
}

// atClkTck is the auxiliary vector entry holding USER_HZ, the unit of the
// times in /proc/stat and /proc/<pid>/stat.
const atClkTck = 17

// ParseAuxvClockTicks returns AT_CLKTCK from an auxiliary vector (such as
// /proc/self/auxv) of native 64-bit words, or 0 if it is not there.
func ParseAuxvClockTicks(auxv []byte) uint64 {
	for len(auxv) >= 16 {
		k := binary.NativeEndian.Uint64(auxv)
		v := binary.NativeEndian.Uint64(auxv[8:])
		if k == atClkTck {
			return v
		}
		if k == 0 { // AT_NULL ends the vector
			break
		}
		auxv = auxv[16:]
	}
	return 0
}

// ParseIPInReceives returns InReceives of the Ip lines of /proc/net/snmp (a
// header line of names, then one of values).
func ParseIPInReceives(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	var names []string
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "Ip:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, name := range names {
			if name == "InReceives" && i < len(f) {
				return strconv.ParseUint(f[i], 10, 64)
			}
		}
		break
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("bench: /proc/net/snmp has no Ip InReceives")
}
