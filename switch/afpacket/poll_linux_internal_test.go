package afpacket

import (
	"context"
	"strings"
	"testing"

	switching "github.com/snoopswitch/snoopswitch/switch"
)

// TestPortsShareOnePoller: the engine puts ports in one receive loop only
// when their pollers are equal; every ring port's must be, or each port
// would poll alone and a frame and its reply would cost two wakeups.
func TestPortsShareOnePoller(t *testing.T) {
	a, b := &Port{name: "a"}, &Port{name: "b", cfg: Config{NoExpress: true}}
	if a.Poller() != b.Poller() {
		t.Errorf("two ring ports have pollers %#v and %#v, which differ", a.Poller(), b.Poller())
	}
}

// otherBackend is a port of another datapath.
type otherBackend struct{ switching.Backend }

func (otherBackend) Name() string { return "tap0" }

// TestPollRefusesOtherBackends: a loop handed a port that is not a ring
// port says so instead of polling file descriptors it does not have.
func TestPollRefusesOtherBackends(t *testing.T) {
	err := poller{}.Poll(context.Background(), []switching.ReceivePort{{Backend: otherBackend{}}})
	if err == nil || !strings.Contains(err.Error(), `"tap0"`) || !strings.Contains(err.Error(), "not a ring port") {
		t.Errorf("Poll of a non-ring port: %v", err)
	}
}
