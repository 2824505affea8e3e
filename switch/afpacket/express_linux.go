package afpacket

import (
	"sync/atomic"
	"time"
	"unsafe"

	switching "github.com/snoopswitch/snoopswitch/switch"
	"golang.org/x/sys/unix"
)

func (r *receiver) initExpress() {
	r.expBufs = make([][]byte, expressBuffers)
	r.expIovs = make([]unix.Iovec, expressBuffers)
	r.expCtl = make([][]byte, expressBuffers)
	r.expMsgs = make([]unix.Mmsghdr, expressBuffers)
	for i := range r.expMsgs {
		r.expBufs[i] = make([]byte, expressBufSize)
		r.expCtl[i] = make([]byte, unix.CmsgSpace(sizeofTpacketAuxdata))
		r.expIovs[i].Base = &r.expBufs[i][0]
		r.expIovs[i].SetLen(expressBufSize)
		h := &r.expMsgs[i].Hdr
		h.Iov = &r.expIovs[i]
		h.Iovlen = 1
		h.Control = &r.expCtl[i][0]
	}
}

// readExpress forwards what the express socket holds, without blocking,
// up to expressReadMax frames so that a flood cannot keep the receive loop
// from noticing it and moving the port to the ring.
func (r *receiver) readExpress() int {
	total := 0
	for total < expressReadMax {
		for i := range r.expMsgs {
			r.expMsgs[i].Hdr.SetControllen(len(r.expCtl[i]))
			r.expMsgs[i].Hdr.Flags = 0
		}
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(r.p.expFD),
			uintptr(unsafe.Pointer(&r.expMsgs[0])), uintptr(len(r.expMsgs)), unix.MSG_DONTWAIT, 0, 0)
		if errno != 0 {
			// EAGAIN: empty. ENETDOWN: the link went down; it is
			// reported once and the socket recovers with the link.
			return total
		}
		for i := 0; i < int(n); i++ {
			m := &r.expMsgs[i]
			l := int(m.Len)
			if l < switching.VNetHdrLen {
				continue
			}
			buf := r.expBufs[i]
			pkt := switching.Packet{Data: buf[switching.VNetHdrLen:l], Len: l - switching.VNetHdrLen}
			pkt.Offload.Decode(buf[:switching.VNetHdrLen])
			parseAuxdata(r.expCtl[i][:m.Hdr.Controllen], &pkt)
			r.batch = append(r.batch, pkt)
		}
		r.flushBatch()
		total += int(n)
		if int(n) < len(r.expMsgs) {
			break
		}
	}
	return total
}

// parseAuxdata reads the PACKET_AUXDATA control message (struct
// tpacket_auxdata) into pkt: the stripped VLAN tag and the original length.
func parseAuxdata(ctl []byte, pkt *switching.Packet) {
	hdrLen := unix.CmsgLen(0)
	if len(ctl) < hdrLen+sizeofTpacketAuxdata {
		return
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&ctl[0]))
	if h.Level != unix.SOL_PACKET || h.Type != unix.PACKET_AUXDATA {
		return
	}
	aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&ctl[hdrLen]))
	if int(aux.Len) > pkt.Len {
		pkt.Len = int(aux.Len)
	}
	if aux.Status&unix.TP_STATUS_VLAN_VALID != 0 {
		pkt.Tag = switching.VLANTag{Present: true, TCI: aux.Vlan_tci}
		if aux.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
			pkt.Tag.TPID = aux.Vlan_tpid
		}
	}
}

// Windows over which the receive rate is judged: short on the express
// socket, so a flood moves to the ring at once; longer on the ring, so a
// pause in a stream does not move it back.
const (
	expressWindow = 10 * time.Millisecond
	ringWindow    = 100 * time.Millisecond
)

// adapt moves the port between express socket and ring as the rate of
// frames asks (see Port). fromRing and fromExpress are the frames just
// read from each.
func (r *receiver) adapt(fromRing, fromExpress int) {
	p := r.p
	if p.expFD < 0 {
		return
	}
	now := time.Now()
	// When the link goes down and up, the kernel relinks the port's two
	// sockets into their fanout group in an order of its own, and the
	// program's index may then point at the other socket. Outside a move,
	// a frame on the socket not selected means exactly that: turn the
	// mapping back.
	if r.express && !r.draining && fromRing > 0 ||
		!r.express && fromExpress > 0 && now.Sub(r.movedAt) > ringWindow {
		p.ringIdx = 1 - p.ringIdx
		if p.selectExpress(r.express) == nil {
			r.movedAt = now
		}
	}
	r.windowCount += fromRing + fromExpress
	el := now.Sub(r.windowStart)
	window := ringWindow
	if r.express {
		window = expressWindow
	}
	if el < window {
		return
	}
	rate := float64(r.windowCount) / el.Seconds()
	moved := true
	switch {
	case r.express && rate > expressMaxRate:
		if p.selectExpress(false) == nil {
			r.express = false
			// Frames still on the express socket came before any the
			// ring will get: forward them first.
			r.readExpress()
		}
	case !r.express && rate < ringMinRate:
		if p.selectExpress(true) == nil {
			r.express = true
			r.draining = true
		}
	default:
		moved = false
	}
	if moved {
		r.movedAt = now
	}
	r.windowStart, r.windowCount = now, 0
}

// drained reports whether the ring holds no frame that the kernel has not
// handed over yet: the block after the last one read is still the kernel's
// and empty. Until then, frames on the express socket wait, so that none
// overtakes an older frame still in the ring; the retire timer hands the
// last block over within a few milliseconds at most.
func (r *receiver) drained() bool {
	b := r.p.block(r.next)
	return atomic.LoadUint32(blockStatus(b))&unix.TP_STATUS_USER == 0 &&
		atomic.LoadUint32((*uint32)(unsafe.Pointer(&b[blockNumPkts]))) == 0
}
