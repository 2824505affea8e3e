package switching

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// txRingSender sends through a TPACKET_V2 PACKET_TX_RING on a socket of its
// own: frames are copied into ring slots, and one send() asks the kernel to
// transmit every filled slot. It exists to be measured against ringSender
// (RingConfig.TxRing); see BENCHMARKS.md for why sendmmsg is the default.
//
// A slot holds txRingFrameSize bytes; frames that do not fit (GSO
// super-frames) are sent on their own with sendto after the ring is
// flushed, so order is kept.
type txRingSender struct {
	fd    int
	ring  []byte
	slots int
	head  int // next slot to fill
	// queued counts filled slots and their bytes since the last Flush.
	queued, queuedBytes int
	// big holds, in order, the frames too large for a slot; they are
	// copied into bigBuf and sent after the ring.
	big    []int // byte lengths in bigBuf
	bigBuf []byte
	err    error
}

const (
	txRingFrameSize = 4096
	txRingFrames    = 256
	// txRingDataOff is where a frame's bytes start in its slot: after
	// struct tpacket2_hdr, as tpacket_snd reads them without
	// PACKET_TX_HAS_OFF.
	txRingDataOff = 32
)

func newTxRingSender(ifindex int) (*txRingSender, error) {
	fd, err := packetSocket()
	if err != nil {
		return nil, err
	}
	s := &txRingSender{fd: fd, slots: txRingFrames}
	fail := func(what string, err error) (*txRingSender, error) {
		s.close()
		return nil, fmt.Errorf("TX ring: %s: %w", what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return fail("PACKET_VERSION", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return fail("PACKET_VNET_HDR", err)
	}
	// With PACKET_LOSS a frame the kernel cannot send is marked available
	// again instead of blocking the ring behind it.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_LOSS, 1); err != nil {
		return fail("PACKET_LOSS", err)
	}
	req := unix.TpacketReq{Block_size: txRingFrameSize * 16, Block_nr: txRingFrames / 16, Frame_size: txRingFrameSize, Frame_nr: txRingFrames}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req); err != nil {
		return fail("PACKET_TX_RING", err)
	}
	if s.ring, err = unix.Mmap(fd, 0, txRingFrameSize*txRingFrames, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return fail("mmap", err)
	}
	if err := bindProto(fd, ifindex, 0); err != nil {
		return fail("bind", err)
	}
	return s, nil
}

func (s *txRingSender) close() {
	if s.ring != nil {
		unix.Munmap(s.ring)
		s.ring = nil
	}
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
}

func (s *txRingSender) slot(i int) []byte {
	return s.ring[i*txRingFrameSize : (i+1)*txRingFrameSize]
}

func (s *txRingSender) Queue(p *Packet) bool {
	size := len(p.Data)
	if p.Tag.Present {
		size += 4
	}
	if vnetHdrLen+size > txRingFrameSize-txRingDataOff {
		s.big = append(s.big, vnetHdrLen+size)
		s.bigBuf = appendWire(s.bigBuf, p)
		return true
	}
	if len(s.big) > 0 {
		// Keep order: nothing goes into the ring behind a big frame
		// waiting for Flush.
		return false
	}
	slot := s.slot(s.head)
	h := (*unix.Tpacket2Hdr)(unsafe.Pointer(&slot[0]))
	if atomic.LoadUint32(&h.Status) != unix.TP_STATUS_AVAILABLE {
		return false
	}
	n := len(appendWire(slot[txRingDataOff:txRingDataOff], p))
	h.Len = uint32(n)
	atomic.StoreUint32(&h.Status, unix.TP_STATUS_SEND_REQUEST)
	s.head = (s.head + 1) % s.slots
	s.queued++
	s.queuedBytes += size
	return true
}

// appendWire appends the frame as it goes to the kernel: virtio-net header,
// then the frame with its VLAN tag put back.
func appendWire(b []byte, p *Packet) []byte {
	var hdr [vnetHdrLen]byte
	off := p.Offload
	if p.Tag.Present && len(p.Data) >= 12 {
		off = off.shifted(4)
	}
	off.encode(hdr[:])
	b = append(b, hdr[:]...)
	if !p.Tag.Present || len(p.Data) < 12 {
		return append(b, p.Data...)
	}
	tag := p.Tag.bytes()
	b = append(b, p.Data[:12]...)
	b = append(b, tag[:]...)
	return append(b, p.Data[12:]...)
}

func (s *txRingSender) Flush() (frames, bytes int, err error) {
	if s.queued > 0 {
		if _, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0); errno != 0 && errno != unix.EAGAIN {
			err = sendError(errno)
		} else {
			frames, bytes = s.queued, s.queuedBytes
		}
		s.queued, s.queuedBytes = 0, 0
	}
	off := 0
	for _, n := range s.big {
		if e := unix.Send(s.fd, s.bigBuf[off:off+n], unix.MSG_DONTWAIT); e != nil {
			if err == nil {
				err = fmt.Errorf("switching: send: %w", e)
			}
		} else {
			frames++
			bytes += n - vnetHdrLen
		}
		off += n
	}
	s.big, s.bigBuf = s.big[:0], s.bigBuf[:0]
	return frames, bytes, err
}
