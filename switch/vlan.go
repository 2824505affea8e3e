package switching

import (
	"fmt"
	"slices"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// MaxVLAN is the highest VLAN ID a port may carry (4095 is reserved, IEEE
// 802.1Q 9.6).
const MaxVLAN = 4094

// vlanSet is a set of VLAN IDs, 0 standing for untagged and priority-tagged
// frames.
type vlanSet [(MaxVLAN + 64) / 64]uint64

func (s *vlanSet) has(vid uint16) bool {
	return int(vid) <= MaxVLAN && s[vid/64]&(1<<(vid%64)) != 0
}

// SetPortVLANs limits port id to the VLANs vids: frames of other VLANs
// that arrive on it are dropped (vlan-not-allowed), and no frame of another
// VLAN leaves through it, queries the switch sends included. VLAN 0 stands
// for untagged (and priority-tagged) frames. An empty vids lets the port
// carry every VLAN, as it does by default. Tags are never added or removed:
// the port is a trunk for the VLANs it carries. It takes effect with the
// next frame.
func (e *Engine) SetPortVLANs(id fdb.PortID, vids []uint16) error {
	var set *vlanSet
	if len(vids) > 0 {
		set = new(vlanSet)
		for _, v := range vids {
			if v > MaxVLAN {
				return fmt.Errorf("switching: VLAN %d: VLAN IDs are 0 (untagged) to %d", v, MaxVLAN)
			}
			set[v/64] |= 1 << (v % 64)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if int(id) >= len(e.ports) || e.ports[id].removed {
		return fmt.Errorf("switching: port %d: no such port", id)
	}
	e.ports[id].vlans.Store(set)
	e.invalidate()
	return nil
}

// PortVLANs returns the VLANs port id carries, sorted; nil for every VLAN.
func (e *Engine) PortVLANs(id fdb.PortID) []uint16 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if int(id) >= len(e.ports) {
		return nil
	}
	set := e.ports[id].vlans.Load()
	if set == nil {
		return nil
	}
	var out []uint16
	for v := range uint16(MaxVLAN + 1) {
		if set.has(v) {
			out = append(out, v)
		}
	}
	return slices.Clip(out)
}

// carries reports whether p carries frames of VLAN vid.
func (p *port) carries(vid uint16) bool {
	set := p.vlans.Load()
	return set == nil || set.has(vid)
}
