package afpacket

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	switching "github.com/snoopswitch/snoopswitch/switch"
	"golang.org/x/sys/unix"
)

// txRing is a port's TPACKET_V2 PACKET_TX_RING, on a socket of its own,
// shared by every sender of the port. A frame is copied into a free slot
// and one send() has the kernel transmit every filled slot; the kernel
// builds each skb around the slot's pages instead of copying the frame
// again, which is why this path beats sendmmsg (see BENCHMARKS.md).
type txRing struct {
	mu   sync.Mutex // held while slots are filled and sent
	fd   int
	ring []byte
	head int // next slot to fill
}

const (
	txRingSlotSize = 4096
	txRingSlots    = 256
	// txRingDataOff is where a frame's bytes start in its slot: after
	// struct tpacket2_hdr, where tpacket_snd reads them without
	// PACKET_TX_HAS_OFF.
	txRingDataOff = 32
	// txRingMaxFrame is the largest frame (with its virtio-net header and
	// any tag put back) a slot takes; larger ones, GSO super-frames, go by
	// sendmmsg.
	txRingMaxFrame = txRingSlotSize - txRingDataOff
)

func newTxRing(ifindex int) (*txRing, error) {
	fd, err := packetSocket()
	if err != nil {
		return nil, err
	}
	r := &txRing{fd: fd}
	fail := func(what string, err error) (*txRing, error) {
		r.close()
		return nil, fmt.Errorf("TX ring: %s: %w", what, err)
	}
	for _, o := range []struct {
		level, opt, val int
		name            string
	}{
		{unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2, "PACKET_VERSION"},
		{unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1, "PACKET_VNET_HDR"},
		// A frame the kernel refuses is skipped instead of stopping the
		// ring behind it.
		{unix.SOL_PACKET, unix.PACKET_LOSS, 1, "PACKET_LOSS"},
		{unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sendBuf, "SO_SNDBUFFORCE"},
	} {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.val); err != nil {
			return fail(o.name, err)
		}
	}
	req := unix.TpacketReq{Block_size: txRingSlotSize * 16, Block_nr: txRingSlots / 16, Frame_size: txRingSlotSize, Frame_nr: txRingSlots}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req); err != nil {
		return fail("PACKET_TX_RING", err)
	}
	if r.ring, err = unix.Mmap(fd, 0, txRingSlotSize*txRingSlots, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fail("mmap", err)
	}
	if err := bindProto(fd, ifindex, 0); err != nil {
		return fail("bind", err)
	}
	return r, nil
}

func (r *txRing) close() error {
	var errs []error
	if r.ring != nil {
		errs = append(errs, unix.Munmap(r.ring))
		r.ring = nil
	}
	if r.fd >= 0 {
		errs = append(errs, unix.Close(r.fd))
		r.fd = -1
	}
	return errors.Join(errs...)
}

// send copies pkts into free slots and has the kernel transmit them. A
// slot the kernel still holds (its frame is in flight) ends the batch: the
// rest count as not sent.
func (r *txRing) send(pkts []switching.Packet) (frames, bytes int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range pkts {
		slot := r.ring[r.head*txRingSlotSize : (r.head+1)*txRingSlotSize]
		h := (*unix.Tpacket2Hdr)(unsafe.Pointer(&slot[0]))
		if atomic.LoadUint32(&h.Status) != unix.TP_STATUS_AVAILABLE {
			err = errTxRingFull
			break
		}
		n := len(appendWire(slot[txRingDataOff:txRingDataOff], &pkts[i]))
		h.Len = uint32(n)
		atomic.StoreUint32(&h.Status, unix.TP_STATUS_SEND_REQUEST)
		r.head = (r.head + 1) % txRingSlots
		frames++
		bytes += n - switching.VNetHdrLen
	}
	if frames == 0 {
		return 0, 0, err
	}
	if _, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(r.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0); errno != 0 && errno != unix.EAGAIN {
		// The filled slots stay requested; the next send takes them.
		return 0, 0, sendError(errno)
	}
	return frames, bytes, err
}

var errTxRingFull = errors.New("afpacket: TX ring full")

// appendWire appends the frame as it goes to the kernel: virtio-net header,
// then the frame with its VLAN tag put back.
func appendWire(b []byte, p *switching.Packet) []byte {
	var hdr [switching.VNetHdrLen]byte
	tagged := p.Tag.Present && len(p.Data) >= 12
	off := p.Offload
	if tagged {
		off = off.Shifted(4)
	}
	off.Encode(hdr[:])
	b = append(b, hdr[:]...)
	if !tagged {
		return append(b, p.Data...)
	}
	tag := p.Tag.Bytes()
	b = append(b, p.Data[:12]...)
	b = append(b, tag[:]...)
	return append(b, p.Data[12:]...)
}

// txRingSender is one worker's sender on a port's TX ring. Frames too large
// for a slot go through big, a sendmmsg sender on the port's socket, after
// the ring's frames, so that order is kept.
type txRingSender struct {
	ring *txRing
	pkts []switching.Packet // queued for the ring; Data still points at the receive buffer
	big  *ringSender
}

func (s *txRingSender) Queue(p *switching.Packet) bool {
	size := switching.VNetHdrLen + len(p.Data)
	if p.Tag.Present {
		size += 4
	}
	if size > txRingMaxFrame {
		return s.big.Queue(p)
	}
	if s.big.n > 0 || len(s.pkts) == cap(s.pkts) {
		// Nothing small may overtake a big frame waiting for Flush.
		return false
	}
	s.pkts = append(s.pkts, *p)
	return true
}

func (s *txRingSender) Flush() (frames, bytes int, err error) {
	if len(s.pkts) > 0 {
		frames, bytes, err = s.ring.send(s.pkts)
		clear(s.pkts) // drop the references to receive memory
		s.pkts = s.pkts[:0]
	}
	f, b, e := s.big.Flush()
	if err == nil {
		err = e
	}
	return frames + f, bytes + b, err
}
