package bench

import (
	"encoding/json"
	"fmt"
)

// PortCounters is what the bench reads of one port in snoopswitch's ports
// report (`snoopswitch show ports --json`, from the control socket).
type PortCounters struct {
	Name     string
	RxFrames uint64
	TxFrames uint64
	// KernelDrops are the frames the kernel dropped because the port's
	// receive ring was full (PACKET_STATISTICS).
	KernelDrops uint64
	// FastRxFrames is the part of RxFrames that the kernel fast path
	// forwarded without the engine; 0 on the ring datapath.
	FastRxFrames uint64
}

// ParseShowPorts reads the ports report as `snoopswitch show ports --json`
// prints it. It decodes only the fields it needs, by their JSON names (the
// documented interface), not by the Go types that print them.
func ParseShowPorts(b []byte) ([]PortCounters, error) {
	var doc []struct {
		Name     *string `json:"name"`
		RxFrames uint64  `json:"rx_frames"`
		TxFrames uint64  `json:"tx_frames"`
		Kernel   struct {
			Drops uint64 `json:"drops"`
		} `json:"kernel"`
		FlowCache *struct {
			RxFrames uint64 `json:"rx_frames"`
		} `json:"flow_cache"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("bench: show ports: %w", err)
	}
	out := make([]PortCounters, 0, len(doc))
	for i, p := range doc {
		if p.Name == nil || *p.Name == "" {
			return nil, fmt.Errorf("bench: show ports: entry %d has no port name", i)
		}
		pc := PortCounters{Name: *p.Name, RxFrames: p.RxFrames, TxFrames: p.TxFrames, KernelDrops: p.Kernel.Drops}
		if p.FlowCache != nil {
			pc.FastRxFrames = p.FlowCache.RxFrames
		}
		out = append(out, pc)
	}
	return out, nil
}
