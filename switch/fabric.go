package switching

import (
	"fmt"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// SetPortSplitHorizon sets whether port id is a split-horizon port: a frame
// that came in on one split-horizon port never leaves through another,
// whatever it is (flooded, to a learned MAC, multicast data or a control
// packet). A full mesh of tunnels between machines sets it on every
// tunnel: each machine reaches every other directly, so relaying a frame
// from one tunnel into another would only send it twice, and around a
// loop for ever (EVPN's rule for VXLAN full meshes). A star's hub leaves it
// off, since it relays between its spokes. Frames the switch sends itself
// (queries) are not held back. It takes effect with the next frame.
func (e *Engine) SetPortSplitHorizon(id fdb.PortID, on bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if int(id) >= len(e.ports) || e.ports[id].removed {
		return fmt.Errorf("switching: port %d: no such port", id)
	}
	if e.ports[id].splitHorizon.Swap(on) != on {
		// Decisions made across the old setting are stale (FlowCache).
		e.invalidate()
	}
	return nil
}

// PortSplitHorizon reports whether port id is a split-horizon port.
func (e *Engine) PortSplitHorizon(id fdb.PortID) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return int(id) < len(e.ports) && e.ports[id].splitHorizon.Load()
}

// reaches reports whether the current frame may leave through out: out
// carries its VLAN, and split horizon does not hold it back. Not a drop
// when it may not: the frame reaches out's side by another way (split
// horizon) or does not belong there (VLAN).
func (w *Worker) reaches(out *port) bool {
	return out.carries(w.frame.VLAN) && !(out.splitHorizon.Load() && w.in.splitHorizon.Load())
}
