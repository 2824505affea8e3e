package bench

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// senderBatch is the frames handed to the kernel per sendmmsg.
const senderBatch = 64

// sender sends one stream's frame from its host's interface as fast as a
// blocking packet socket takes it, on the stream's CPU, until stopped. It
// runs on a thread of the bench (in the sender's network namespace), which
// the CPU accounting counts as the bench's own.
//
// Why not trafgen, which the bench used before: trafgen gives up when a
// send fails with EAGAIN, and a packet socket's send buffer holds every
// frame until the receive side frees it. With the switch port's receive
// processing steered to another CPU (datapath.steer), the frames queued
// there fill the buffer, and trafgen stops. A blocking socket waits
// instead, as a real sender does (a VM's tap queue, a container's TCP).
// Like trafgen it bypasses the sender's qdisc (veth's is noqueue anyway).
type sender struct {
	stop  chan struct{}
	done  chan struct{}
	err   error // valid once done is closed
	sent  atomic.Uint64
	calls atomic.Uint64
}

// startSender starts sending st's frame; it returns once the socket is
// open, or with the error that kept it from opening.
func startSender(st stream) (*sender, error) {
	frame := st.frame.Bytes()
	if err := st.frame.Check(); err != nil {
		return nil, err
	}
	s := &sender{stop: make(chan struct{}), done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		defer close(s.done)
		s.err = st.sender.NS.Do(func() error { return s.run(st, frame, ready) })
		select {
		case ready <- s.err: // it failed before it was ready
		default:
		}
	}()
	if err := <-ready; err != nil {
		<-s.done
		return nil, fmt.Errorf("bench: sender on %s: %w", st.sender.Name, err)
	}
	return s, nil
}

// run opens the socket on this thread, which NS.Do has locked and moved
// into the sender's namespace, pins the thread to st.cpu and sends.
func (s *sender) run(st stream, frame []byte, ready chan<- error) error {
	// NS.Do gives the thread back to the runtime afterwards: it must
	// leave with the CPUs it came with.
	var old, cpu unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return err
	}
	cpu.Set(st.cpu)
	if err := unix.SchedSetaffinity(0, &cpu); err != nil {
		return fmt.Errorf("pinning to CPU %d: %w", st.cpu, err)
	}
	defer unix.SchedSetaffinity(0, &old)
	ifc, err := net.InterfaceByName(st.sender.Iface)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		return err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifc.Index}); err != nil {
		return err
	}
	iov := unix.Iovec{Base: &frame[0]}
	iov.SetLen(len(frame))
	msgs := make([]unix.Mmsghdr, senderBatch)
	for i := range msgs {
		msgs[i].Hdr.Iov = &iov
		msgs[i].Hdr.SetIovlen(1)
	}
	ready <- nil
	for {
		select {
		case <-s.stop:
			return nil
		default:
		}
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
		s.calls.Add(1)
		switch {
		case errno == 0:
			s.sent.Add(uint64(n))
		case errno == unix.ENOBUFS || errno == unix.EINTR:
			// The device queue was full, or a signal came: send on.
		default:
			return errno
		}
	}
}

// running reports whether the sender still sends; if not, its error.
func (s *sender) running() error {
	select {
	case <-s.done:
		if s.err != nil {
			return s.err
		}
		return errors.New("stopped")
	default:
		return nil
	}
}

// halt stops the sender and waits for it. It may be called more than once.
func (s *sender) halt() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

func (s *sender) String() string {
	return fmt.Sprintf("%d frames in %d sendmmsg calls", s.sent.Load(), s.calls.Load())
}
