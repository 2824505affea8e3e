package afpacket

import (
	"context"
	"fmt"
	"time"

	switching "github.com/snoopswitch/snoopswitch/switch"
	"golang.org/x/sys/unix"
)

// receiver is the receive state of one ring port in a poll loop.
type receiver struct {
	p      *Port
	handle func([]switching.Packet)
	batch  []switching.Packet
	next   int // the next ring block to read

	expBufs [][]byte
	expMsgs []unix.Mmsghdr
	expIovs []unix.Iovec
	expCtl  [][]byte

	// express says which socket the fanout group selects. draining is set
	// after a move from ring to express until the ring is empty.
	express  bool
	draining bool
	movedAt  time.Time // last change of the selected socket

	// rate measurement for the mode switch
	windowStart time.Time
	windowCount int
}

func (p *Port) newReceiver(handle func([]switching.Packet)) *receiver {
	r := &receiver{p: p, handle: handle, batch: make([]switching.Packet, 0, batchSize), express: p.expFD >= 0, windowStart: time.Now()}
	if r.express {
		r.initExpress()
	}
	return r
}

// service forwards what the port has ready, without blocking, and moves it
// between express socket and ring as its rate asks. It returns the number
// of frames forwarded.
func (r *receiver) service() int {
	p := r.p
	// Frames on the socket that is not selected are older than those on the
	// selected one (left over from a move): read them first.
	var fromRing, fromExpress int
	switch {
	case p.expFD < 0:
		fromRing = r.readRing()
	case r.draining:
		fromRing = r.readRing()
		r.draining = !r.drained()
	case r.express:
		fromRing = r.readRing()
		fromExpress = r.readExpress()
	default:
		fromExpress = r.readExpress()
		fromRing = r.readRing()
	}
	r.adapt(fromRing, fromExpress)
	return fromRing + fromExpress
}

// timeout is how long the loop may sleep for this port without events: a
// port draining its ring must look again soon; a port on its ring must look
// now and then so that it moves back to the express socket when its
// traffic stops.
func (r *receiver) timeout() time.Duration {
	switch {
	case r.draining:
		return r.p.cfg.RetireTimeout
	case !r.express && r.p.expFD >= 0:
		return ringWindow
	}
	return -1
}

func (r *receiver) pollFDs() []unix.PollFd {
	fds := []unix.PollFd{{Fd: int32(r.p.ringFD), Events: unix.POLLIN}}
	if r.p.expFD >= 0 {
		fds = append(fds, unix.PollFd{Fd: int32(r.p.expFD), Events: unix.POLLIN})
	}
	return fds
}

// spinTime is how long a poll loop keeps looking for frames without sleeping
// after it forwarded one. A reply usually follows a forwarded frame within
// tens of microseconds (on veth it is often queued before the send returns);
// catching it here saves waking a sleeping thread, which on a virtual
// machine costs more than the forwarding itself.
const spinTime = 50 * time.Microsecond

// Receive reads frames from the port until ctx is done.
func (p *Port) Receive(ctx context.Context, handle func([]switching.Packet)) error {
	return pollLoop(ctx, []*receiver{p.newReceiver(handle)})
}

// Poller returns the poller that every ring port shares: the engine spreads
// ring ports over its receive loops (switching.Config.ReceiveLoops), and
// each loop serves its ports with pollLoop.
func (p *Port) Poller() switching.Poller { return poller{} }

// poller serves ring ports in one pollLoop. It has no state, so every
// ring port's poller is equal to every other's and they may all share a
// loop.
type poller struct{}

func (poller) Poll(ctx context.Context, ports []switching.ReceivePort) error {
	rs := make([]*receiver, 0, len(ports))
	for _, rp := range ports {
		p, ok := rp.Backend.(*Port)
		if !ok {
			return fmt.Errorf("afpacket: port %q is a %T, not a ring port", rp.Backend.Name(), rp.Backend)
		}
		rs = append(rs, p.newReceiver(rp.Handle))
	}
	return pollLoop(ctx, rs)
}

// pollLoop serves a set of ring ports from one goroutine until ctx is done.
// One loop for all ports means that a frame and its reply cost one thread
// wakeup, not one per port: the reply to a frame forwarded from port A to
// port B is usually in B's socket by the time the send returns, and the loop
// forwards it without sleeping.
func pollLoop(ctx context.Context, rs []*receiver) error {
	stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("afpacket: receive loop: eventfd: %w", err)
	}
	defer unix.Close(stop)
	cancel := context.AfterFunc(ctx, func() {
		unix.Write(stop, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	})
	defer cancel()

	fds := []unix.PollFd{{Fd: int32(stop), Events: unix.POLLIN}}
	for _, r := range rs {
		fds = append(fds, r.pollFDs()...)
	}
	var busy time.Time // when a frame was last forwarded
	for {
		n := 0
		for _, r := range rs {
			n += r.service()
		}
		if ctx.Err() != nil {
			return nil
		}
		if n > 0 {
			busy = time.Now()
			continue
		}
		if time.Since(busy) < spinTime {
			continue
		}
		timeout := time.Duration(-1)
		for _, r := range rs {
			if t := r.timeout(); t >= 0 && (timeout < 0 || t < timeout) {
				timeout = t
			}
		}
		for i := range fds {
			fds[i].Revents = 0
		}
		ms := -1
		if timeout >= 0 {
			ms = int((timeout + time.Millisecond - 1) / time.Millisecond)
		}
		if _, err := unix.Poll(fds, ms); err != nil && err != unix.EINTR {
			return fmt.Errorf("afpacket: receive loop: poll: %w", err)
		}
		if fds[0].Revents != 0 {
			return nil
		}
		for _, f := range fds[1:] {
			if f.Revents&unix.POLLERR != 0 {
				// ENETDOWN when the link goes down; reading SO_ERROR
				// clears it and the socket receives again when the link
				// comes back.
				unix.GetsockoptInt(int(f.Fd), unix.SOL_SOCKET, unix.SO_ERROR)
			}
		}
	}
}
