package afpacket

import (
	"errors"
	"fmt"
	"unsafe"

	switching "github.com/snoopswitch/snoopswitch/switch"
	"golang.org/x/sys/unix"
)

// ringSender sends frames on a port's ring socket with sendmmsg: one system
// call for a batch, each frame as a gather list pointing at the receive
// buffer it came in (no copy in user space; the kernel copies it into a new
// skb), with the virtio-net header and any VLAN tag put back in front and in
// the middle.
type ringSender struct {
	fd      int
	msgs    []unix.Mmsghdr
	iovs    []unix.Iovec // iovsPerMsg per message
	scratch []byte       // scratchPerMsg per message: virtio-net header, tag
	sizes   []int
	n       int
}

const (
	sendBatch     = 64
	iovsPerMsg    = 4
	scratchPerMsg = 16
)

// NewSender returns a batching sender for the port: on the port's TX ring
// unless Config.Sendmmsg asks for sendmmsg alone.
func (p *Port) NewSender() switching.Sender {
	big := p.newMmsgSender()
	if p.cfg.Sendmmsg {
		return big
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tx == nil {
		err := p.txErr
		if err == nil {
			err = errors.New("port closed")
		}
		p.cfg.Logger.Warn("TX ring unavailable, sending with sendmmsg", "port", p.name, "err", err)
		return big
	}
	return &txRingSender{ring: p.tx, pkts: make([]switching.Packet, 0, sendBatch), big: big}
}

func (p *Port) newMmsgSender() *ringSender {
	s := &ringSender{
		fd:      p.ringFD,
		msgs:    make([]unix.Mmsghdr, sendBatch),
		iovs:    make([]unix.Iovec, sendBatch*iovsPerMsg),
		scratch: make([]byte, sendBatch*scratchPerMsg),
		sizes:   make([]int, sendBatch),
	}
	for i := range s.msgs {
		s.msgs[i].Hdr.Iov = &s.iovs[i*iovsPerMsg]
	}
	return s
}

func (s *ringSender) Queue(p *switching.Packet) bool {
	if s.n == len(s.msgs) {
		return false
	}
	i := s.n
	iov := s.iovs[i*iovsPerMsg : (i+1)*iovsPerMsg]
	sc := s.scratch[i*scratchPerMsg : (i+1)*scratchPerMsg]
	h := &s.msgs[i].Hdr
	if !p.Tag.Present || len(p.Data) < 12 {
		p.Offload.Encode(sc[:switching.VNetHdrLen])
		setIov(&iov[0], sc[:switching.VNetHdrLen])
		setIov(&iov[1], p.Data)
		h.Iovlen = 2
		s.sizes[i] = len(p.Data)
	} else {
		off := p.Offload.Shifted(4)
		off.Encode(sc[:switching.VNetHdrLen])
		tag := p.Tag.Bytes()
		copy(sc[switching.VNetHdrLen:], tag[:])
		setIov(&iov[0], sc[:switching.VNetHdrLen])
		setIov(&iov[1], p.Data[:12])
		setIov(&iov[2], sc[switching.VNetHdrLen:switching.VNetHdrLen+4])
		setIov(&iov[3], p.Data[12:])
		h.Iovlen = 4
		s.sizes[i] = len(p.Data) + 4
	}
	s.n++
	return true
}

func setIov(v *unix.Iovec, b []byte) {
	if len(b) == 0 {
		v.Base = nil
	} else {
		v.Base = &b[0]
	}
	v.SetLen(len(b))
}

// Flush sends the batch. Sends never block: a port whose peer cannot keep up
// loses frames (counted) rather than stalling every other port.
func (s *ringSender) Flush() (frames, bytes int, err error) {
	for i := 0; i < s.n; {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd),
			uintptr(unsafe.Pointer(&s.msgs[i])), uintptr(s.n-i), unix.MSG_DONTWAIT, 0, 0)
		if errno != 0 {
			// sendmmsg fails only for its first message; skip it.
			if err == nil {
				err = sendError(errno)
			}
			i++
			continue
		}
		for _, sz := range s.sizes[i : i+int(n)] {
			bytes += sz
		}
		frames += int(n)
		i += int(n)
	}
	s.n = 0
	return frames, bytes, err
}

func sendError(errno unix.Errno) error {
	switch errno {
	case unix.ENETDOWN, unix.ENXIO, unix.ENODEV:
		return fmt.Errorf("%w: %v", switching.ErrPortDown, errno)
	}
	return fmt.Errorf("afpacket: send: %w", errno)
}
