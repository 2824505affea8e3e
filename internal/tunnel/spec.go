package tunnel

import (
	"fmt"
	"net/netip"
)

// Limits and defaults of a tunnel's keys.
const (
	// RFC 7348 s5: "VXLAN Network Identifier (VNI): This is a 24-bit
	// value"; 0 is left out, since some implementations (and the
	// kernel's metadata mode) treat it as "no VNI".
	MinVNI = 1
	MaxVNI = 1<<24 - 1
	// DefaultDstPort is the VXLAN UDP port IANA assigned (RFC 7348 s5,
	// "Destination Port: IANA has assigned the value 4789"); the kernel's
	// own default is still the pre-standard 8472, so it is always given.
	DefaultDstPort = 4789
)

// Bytes a frame grows by inside a tunnel: the outer IP header, UDP (8) and
// VXLAN (8) headers, and the inner frame's Ethernet header (14), which the
// underlay's MTU counts as IP payload but a port's MTU does not (RFC 7348
// s4.3: "VTEPs MUST NOT fragment VXLAN packets", so the underlay must carry
// them whole). The kernel's VXLAN_HEADROOM and VXLAN6_HEADROOM.
const (
	OverheadIPv4 = 20 + 8 + 8 + 14 // 50
	OverheadIPv6 = 40 + 8 + 8 + 14 // 70
)

// Spec is one point-to-point VXLAN tunnel: a device Name on this machine
// that sends every frame to Remote (the kernel's all-zeros FDB entry, with
// learning off) from Local, over the underlay Device, to UDP port DstPort.
type Spec struct {
	Name    string     // the device, which the switch opens as a port
	VNI     int        // 1 to MaxVNI
	Remote  netip.Addr // the other machine's underlay address
	Local   netip.Addr // this machine's underlay address, of Remote's family
	Device  string     // the underlay interface
	DstPort int        // UDP port; 0 is DefaultDstPort
	// WarnMTU logs ports too large for the tunnel instead of refusing to
	// start (mtu-check: warn).
	WarnMTU bool
}

// Port returns the UDP destination port, DefaultDstPort for 0.
func (s Spec) Port() int {
	if s.DstPort == 0 {
		return DefaultDstPort
	}
	return s.DstPort
}

// Overhead returns the bytes the tunnel adds to a frame: OverheadIPv4, or
// OverheadIPv6 over an IPv6 underlay.
func (s Spec) Overhead() int {
	if s.Remote.Is6() && !s.Remote.Is4In6() {
		return OverheadIPv6
	}
	return OverheadIPv4
}

// Family returns "IPv4" or "IPv6", the underlay's family.
func (s Spec) Family() string {
	if s.Overhead() == OverheadIPv6 {
		return "IPv6"
	}
	return "IPv4"
}

// Device is a tunnel a Set created, as the kernel reported it once up.
type Device struct {
	Spec        Spec
	Index       int // the device's interface index
	MTU         int // the kernel's: the underlay's MTU less Spec.Overhead
	UnderlayMTU int
	// GSOMaxSize and GSOMaxSegs are the largest GSO super-frame the device
	// takes whole; the kernel copies them from the underlay.
	GSOMaxSize uint32
	GSOMaxSegs uint32
}

// MTUError is a port whose largest frames a tunnel cannot carry: their
// packets would exceed the underlay's MTU, and the kernel drops them.
type MTUError struct {
	Tunnel      string // the tunnel's name
	Port        string // the port that sends frames into it
	PortMTU     int
	Overhead    int    // Spec.Overhead
	Family      string // "IPv4" or "IPv6"
	Underlay    string // the underlay device
	UnderlayMTU int
}

func (e *MTUError) Error() string {
	need := e.PortMTU + e.Overhead
	return fmt.Sprintf("tunnel %q: port %q has MTU %d, and %d + %d bytes of VXLAN over %s = %d is more than the MTU of the underlay %s, %d: its frames of more than %d bytes would be dropped; raise %s's MTU to %d on both machines (ip link set %s mtu %d), or lower the ports' MTU to %d",
		e.Tunnel, e.Port, e.PortMTU, e.PortMTU, e.Overhead, e.Family, need, e.Underlay, e.UnderlayMTU,
		e.UnderlayMTU-e.Overhead, e.Underlay, need, e.Underlay, need, e.UnderlayMTU-e.Overhead)
}

// CheckMTU returns an MTUError for every port of ports (interface name to
// MTU) whose MTU plus t's overhead is more than underlayMTU, the MTU of t's
// underlay device, in the order of names. t's own port is left out: the
// kernel sizes the tunnel's MTU to fit its underlay.
func CheckMTU(t Spec, underlayMTU int, names []string, ports map[string]int) []*MTUError {
	var errs []*MTUError
	for _, name := range names {
		mtu, ok := ports[name]
		if !ok || name == t.Name || mtu+t.Overhead() <= underlayMTU {
			continue
		}
		errs = append(errs, &MTUError{Tunnel: t.Name, Port: name, PortMTU: mtu, Overhead: t.Overhead(),
			Family: t.Family(), Underlay: t.Device, UnderlayMTU: underlayMTU})
	}
	return errs
}
