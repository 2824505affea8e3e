package switching

import (
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/snoop"
)

// TestControlQueuePortShare: a port with no rate limit that floods the
// control queue gets at most its share of it; another port's packets still
// go in, and the share frees up as the control plane applies packets.
func TestControlQueuePortShare(t *testing.T) {
	e, err := New(Config{Snooping: &snoop.Config{}})
	if err != nil {
		t.Fatal(err)
	}
	flooder, other := &port{id: 0}, &port{id: 1}
	m := &snoop.Message{Type: snoop.MsgIGMPv2Report}
	now := time.Now()
	accepted := 0
	for range 2 * controlPortShare {
		if e.queueControlPacket(0, flooder, m, now) {
			accepted++
		}
	}
	if accepted != controlPortShare {
		t.Fatalf("the flooding port queued %d packets, want its share %d", accepted, controlPortShare)
	}
	if !e.queueControlPacket(0, other, m, now) {
		t.Fatal("another port's packet was refused while one port held its share")
	}
	e.applyControlPacket(<-e.controlQueue)
	if !e.queueControlPacket(0, flooder, m, now) {
		t.Fatal("the flooding port's share did not free up after a packet was applied")
	}
}
