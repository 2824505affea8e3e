package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// PortCounters is one row of the port table that `snoopswitch run` writes
// to its standard error on SIGUSR1.
type PortCounters struct {
	Name        string
	RxFrames    uint64
	TxFrames    uint64
	KernelDrops uint64 // frames the kernel dropped because the ring was full
}

// portTableHeader starts the port table; the columns are separated by runs
// of spaces, and the first seven values are single words.
var portTableHeader = []string{"PORT", "LINK", "RX", "FRAMES", "RX", "BYTES", "TX", "FRAMES", "TX", "BYTES", "KERNEL", "DROPS"}

// ParsePortTable returns the rows of the last port table in text (the
// switch's standard error), and false if there is none yet or it is still
// being written: a table is whole when want rows, each ended by a newline,
// follow its header.
func ParsePortTable(text string, want int) ([]PortCounters, bool, error) {
	lines := strings.Split(text, "\n")
	// The last element is the unfinished line after the last newline.
	for start := len(lines) - 2; start >= 0; start-- {
		if !isPortTableHeader(lines[start]) {
			continue
		}
		if start+want > len(lines)-2 {
			return nil, false, nil
		}
		rows := make([]PortCounters, 0, want)
		for _, line := range lines[start+1 : start+1+want] {
			f := strings.Fields(line)
			if len(f) < 7 {
				return nil, false, fmt.Errorf("bench: switch status: short port row %q", line)
			}
			var v [3]uint64
			for i, col := range []int{2, 4, 6} {
				n, err := strconv.ParseUint(f[col], 10, 64)
				if err != nil {
					return nil, false, fmt.Errorf("bench: switch status: port row %q: %w", line, err)
				}
				v[i] = n
			}
			rows = append(rows, PortCounters{Name: f[0], RxFrames: v[0], TxFrames: v[1], KernelDrops: v[2]})
		}
		return rows, true, nil
	}
	return nil, false, nil
}

func isPortTableHeader(line string) bool {
	f := strings.Fields(line)
	if len(f) < len(portTableHeader) {
		return false
	}
	for i, w := range portTableHeader {
		if f[i] != w {
			return false
		}
	}
	return true
}
