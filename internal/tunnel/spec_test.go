package tunnel_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/tunnel"
)

func TestOverheadByFamily(t *testing.T) {
	for _, c := range []struct {
		remote string
		want   int
	}{
		{"192.0.2.2", 50},
		{"2001:db8::2", 70},
		{"::ffff:192.0.2.2", 50}, // an IPv4 underlay written as IPv6
	} {
		s := tunnel.Spec{Remote: netip.MustParseAddr(c.remote)}
		if got := s.Overhead(); got != c.want {
			t.Errorf("remote %s: overhead %d, want %d", c.remote, got, c.want)
		}
	}
}

func TestDstPortDefault(t *testing.T) {
	if got := (tunnel.Spec{}).Port(); got != 4789 {
		t.Errorf("Port() of 0 = %d, want 4789", got)
	}
	if got := (tunnel.Spec{DstPort: 8472}).Port(); got != 8472 {
		t.Errorf("Port() of 8472 = %d", got)
	}
}

func TestCheckMTU(t *testing.T) {
	v4 := tunnel.Spec{Name: "vx-b", Remote: netip.MustParseAddr("192.0.2.2"), Device: "eth1"}
	v6 := tunnel.Spec{Name: "vx-c", Remote: netip.MustParseAddr("2001:db8::2"), Device: "eth1"}
	ports := map[string]int{"veth0": 1500, "veth1": 1450, "vx-b": 1450, "vx-c": 1430, "tap0": 9000}
	names := []string{"veth0", "veth1", "vx-b", "vx-c", "tap0", "gone"}
	for _, c := range []struct {
		spec     tunnel.Spec
		underlay int
		want     []string // ports refused
	}{
		{v4, 1500, []string{"veth0", "tap0"}},
		{v4, 1550, []string{"tap0"}},
		{v4, 9050, nil},
		{v6, 1500, []string{"veth0", "veth1", "vx-b", "tap0"}},
		{v6, 1570, []string{"tap0"}},
	} {
		var got []string
		for _, e := range tunnel.CheckMTU(c.spec, c.underlay, names, ports) {
			got = append(got, e.Port)
			if e.PortMTU+e.Overhead <= e.UnderlayMTU {
				t.Errorf("%s over %d: %s refused though %d + %d fits", c.spec.Name, c.underlay, e.Port, e.PortMTU, e.Overhead)
			}
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s over underlay MTU %d: refused %v, want %v", c.spec.Name, c.underlay, got, c.want)
		}
	}
}

func TestMTUErrorGivesTheNumbers(t *testing.T) {
	s := tunnel.Spec{Name: "vx-b", Remote: netip.MustParseAddr("2001:db8::2"), Device: "eth1"}
	errs := tunnel.CheckMTU(s, 1500, []string{"veth0"}, map[string]int{"veth0": 1500})
	if len(errs) != 1 {
		t.Fatalf("got %d errors, want 1", len(errs))
	}
	msg := errs[0].Error()
	for _, want := range []string{
		`tunnel "vx-b": port "veth0" has MTU 1500`,
		"1500 + 70 bytes of VXLAN over IPv6 = 1570",
		"the underlay eth1, 1500",
		"frames of more than 1430 bytes",
		"ip link set eth1 mtu 1570",
		"lower the ports' MTU to 1430",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}
