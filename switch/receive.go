package switching

import "context"

// ReceivePort is one port as a shared receive loop serves it: its backend,
// and the pipeline its batches go to.
type ReceivePort struct {
	Backend Backend
	// Handle forwards a batch received on the port (Worker.Handle); the
	// packets are valid only during the call, as with Backend.Receive.
	Handle func(batch []Packet)
}

// Poller receives for several ports of one kind from one goroutine. A
// loop that waits on all its ports at once forwards a frame and its reply
// with one thread wakeup, not one per port: the reply to a frame sent from
// port A to port B is usually in B's socket by the time the send returns.
type Poller interface {
	// Poll hands each port's batches to its Handle until ctx is done,
	// then returns nil; it returns an error only when the ports can no
	// longer receive at all. Every port's backend is a PolledBackend
	// whose Poller is this one.
	Poll(ctx context.Context, ports []ReceivePort) error
}

// PolledBackend is a Backend whose port can share a receive loop with the
// other ports of its kind. Run spreads the ports of each Poller over at
// most Config.ReceiveLoops loops; a backend that is not a PolledBackend
// gets a goroutine of its own that calls its Receive.
type PolledBackend interface {
	Backend
	// Poller returns the poller that can serve the port. Ports whose
	// pollers are equal (==, so the value must be comparable) may share a
	// loop.
	Poller() Poller
}

// receiveLoops returns the loops that receive for the workers' ports: the
// ports of each Poller, spread over at most loops of them (in port order,
// round robin), and a loop of its own for every other backend.
func receiveLoops(ctx context.Context, workers []*Worker, loops int) []func() error {
	loops = max(loops, 1)
	type shared struct {
		poller Poller
		groups [][]ReceivePort
		n      int
	}
	var fns []func() error
	var pollers []*shared
	for _, w := range workers {
		b := w.in.backend
		pb, ok := b.(PolledBackend)
		if !ok {
			fns = append(fns, func() error { return b.Receive(ctx, w.Handle) })
			continue
		}
		var s *shared
		for _, x := range pollers {
			if x.poller == pb.Poller() {
				s = x
				break
			}
		}
		if s == nil {
			s = &shared{poller: pb.Poller(), groups: make([][]ReceivePort, loops)}
			pollers = append(pollers, s)
		}
		s.groups[s.n%loops] = append(s.groups[s.n%loops], ReceivePort{Backend: b, Handle: w.Handle})
		s.n++
	}
	for _, s := range pollers {
		for _, g := range s.groups {
			if len(g) > 0 {
				fns = append(fns, func() error { return s.poller.Poll(ctx, g) })
			}
		}
	}
	return fns
}
