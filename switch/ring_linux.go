package switching

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RingConfig sizes a RingPort. The zero value selects the defaults.
type RingConfig struct {
	// BlockSize is the size of one TPACKET_V3 block. A block must hold the
	// largest frame the port can receive, and a GSO super-frame from a veth
	// host is up to 64 KiB, so it is at least 128 KiB. Default 256 KiB.
	BlockSize int
	// Blocks is the number of blocks in the receive ring. Default 32
	// (8 MiB per port with the default block size).
	Blocks int
	// RetireTimeout is how long the kernel fills a block before handing it
	// over anyway; whole milliseconds, at least 1. Default 1 ms.
	RetireTimeout time.Duration
	// NoExpress turns the low-latency express path off, so every frame goes
	// through the ring (see RingPort). For measurements.
	NoExpress bool
}

const (
	defaultBlockSize     = 256 << 10
	minBlockSize         = 128 << 10
	defaultBlocks        = 32
	defaultRetireTimeout = time.Millisecond

	// expressBuffers is how many frames one recvmmsg takes on the express
	// path, and expressBufSize the room for each: a GSO super-frame with its
	// virtio-net header.
	expressBuffers = 16
	expressBufSize = vnetHdrLen + 65536 + 512
	expressReadMax = 16 * expressBuffers

	// batchSize is how many frames are handed to the engine at once.
	batchSize = 256

	// Socket buffers: the express socket holds bursts until the switch
	// moves the port to the ring; the send buffer is sized so that sends do
	// not fail while the peer drains.
	expressRcvBuf = 8 << 20
	sendBuf       = 4 << 20
)

func (c RingConfig) withDefaults() (RingConfig, error) {
	if c.BlockSize == 0 {
		c.BlockSize = defaultBlockSize
	}
	if c.Blocks == 0 {
		c.Blocks = defaultBlocks
	}
	if c.RetireTimeout == 0 {
		c.RetireTimeout = defaultRetireTimeout
	}
	pg := os.Getpagesize()
	switch {
	case c.BlockSize < minBlockSize || c.BlockSize%pg != 0:
		return c, fmt.Errorf("switching: ring block size %d must be a multiple of the page size (%d) and at least %d", c.BlockSize, pg, minBlockSize)
	case c.Blocks < 2:
		return c, fmt.Errorf("switching: ring needs at least 2 blocks, not %d", c.Blocks)
	case c.RetireTimeout < time.Millisecond:
		return c, fmt.Errorf("switching: ring retire timeout %v is below the kernel's 1ms resolution", c.RetireTimeout)
	}
	return c, nil
}

// RingPort is a port on a Linux network interface, read through an
// AF_PACKET TPACKET_V3 ring and written with batched sendmmsg.
//
// Two sockets receive for the port, joined in one PACKET_FANOUT group whose
// classic BPF program chooses, for every frame, exactly one of them:
//
//   - the ring: mmap'd TPACKET_V3 blocks, many frames per wakeup and no copy.
//     The kernel hands a block over when it is full or when its retire timer
//     fires (1 ms at the least, a jiffy, 4 ms, on kernels that count it in
//     jiffies), so at low rates every frame waits for the timer;
//   - the express socket: a plain packet socket read with recvmmsg, woken by
//     every frame. It costs a copy per frame and a wakeup per few frames.
//
// The port starts on the express socket. When more than expressMaxRate
// frames per second arrive it moves the group to the ring; when the rate
// falls below ringMinRate it moves back. The switch swaps the BPF program
// (an atomic, RCU-published replacement in the kernel), so no frame is lost
// or duplicated in the move. Frames already in the ring are forwarded
// before the first frame of the express socket, so no flow is reordered.
// A ping through the switch then costs microseconds, not the retire timer,
// and a flood runs through the ring.
//
// Both sockets carry the virtio-net header (PACKET_VNET_HDR, see VNetHdr) so
// that checksum-offloaded frames and GSO super-frames leave as they came,
// and report the VLAN tag the kernel stripped (tp_vlan_tci, or
// PACKET_AUXDATA on the express socket) so it can be put back. Frames the
// switch sends are not looped back to it (PACKET_FANOUT_FLAG_IGNORE_OUTGOING
// and PACKET_IGNORE_OUTGOING).
type RingPort struct {
	name    string
	ifindex int
	cfg     RingConfig

	ring    []byte // the mmap'd receive ring
	ringFD  int    // TPACKET_V3 socket; also the socket the port sends on
	expFD   int    // express socket, -1 when disabled
	fanout  uint16 // fanout group ID
	ringIdx uint32 // the fanout index the ring socket currently has

	kstats struct {
		packets, drops, freezes atomic.Uint64
	}
	express atomic.Bool // current mode, for reports
}

var _ Backend = (*RingPort)(nil)

// Mode switch thresholds, frames per second. The gap between them keeps a
// port at a steady rate from moving back and forth.
const (
	expressMaxRate = 20000
	ringMinRate    = 2000
)

// InterfaceError is returned when an interface cannot be a switch port; it
// names the interface and says what to do.
type InterfaceError struct {
	Name   string
	Reason string
}

func (e *InterfaceError) Error() string {
	return fmt.Sprintf("port %q: %s", e.Name, e.Reason)
}

// CheckInterface reports whether the interface name can be a switch port:
// it exists and is not already a port of a Linux bridge or bond.
func CheckInterface(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
			return &InterfaceError{Name: name, Reason: "no such interface (ip link show lists the interfaces)"}
		}
		return &InterfaceError{Name: name, Reason: err.Error()}
	}
	if m := link.Attrs().MasterIndex; m != 0 {
		master := fmt.Sprintf("ifindex %d", m)
		kind := "master device"
		if ml, err := netlink.LinkByIndex(m); err == nil {
			master = ml.Attrs().Name
			kind = ml.Type()
		}
		return &InterfaceError{Name: name, Reason: fmt.Sprintf("already enslaved to %s %q (ip link set %s nomaster frees it)", kind, master, name)}
	}
	if link.Attrs().EncapType != "" && link.Attrs().EncapType != "ether" {
		return &InterfaceError{Name: name, Reason: fmt.Sprintf("is a %s interface, not Ethernet", link.Attrs().EncapType)}
	}
	return nil
}

// ErrPermission is returned when the process may not open packet sockets.
var ErrPermission = errors.New("switching: opening packet sockets needs root or CAP_NET_RAW (and CAP_NET_ADMIN for promiscuous mode)")

// CheckPermission reports ErrPermission when the process may not open
// packet sockets, before any port is touched.
func CheckPermission() error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return ErrPermission
		}
		return fmt.Errorf("switching: packet socket: %w", err)
	}
	unix.Close(fd)
	return nil
}

// OpenRingPort opens the interface name as a switch port.
func OpenRingPort(name string, cfg RingConfig) (*RingPort, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := CheckInterface(name); err != nil {
		return nil, err
	}
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, &InterfaceError{Name: name, Reason: err.Error()}
	}
	p := &RingPort{name: name, ifindex: ifi.Index, cfg: cfg, ringFD: -1, expFD: -1}
	if err := p.open(); err != nil {
		p.Close()
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, ErrPermission
		}
		return nil, fmt.Errorf("port %q: %w", name, err)
	}
	return p, nil
}

func (p *RingPort) open() error {
	var err error
	// The express socket is created first. The kernel relinks fanout
	// members newest-first when a link comes back up; creating the ring
	// socket last keeps it at index 0 then too. Receive also checks which
	// socket the frames arrive on, so nothing depends on this.
	if !p.cfg.NoExpress {
		if p.expFD, err = packetSocket(); err != nil {
			return err
		}
	}
	if p.ringFD, err = packetSocket(); err != nil {
		return err
	}
	fd := p.ringFD
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("PACKET_VERSION TPACKET_V3: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return fmt.Errorf("PACKET_VNET_HDR: %w", err)
	}
	req := unix.TpacketReq3{
		Block_size:     uint32(p.cfg.BlockSize),
		Block_nr:       uint32(p.cfg.Blocks),
		Frame_size:     uint32(p.cfg.BlockSize),
		Frame_nr:       uint32(p.cfg.Blocks),
		Retire_blk_tov: uint32(p.cfg.RetireTimeout / time.Millisecond),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("PACKET_RX_RING: %w", err)
	}
	p.ring, err = unix.Mmap(fd, 0, p.cfg.BlockSize*p.cfg.Blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("mmap ring: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sendBuf); err != nil {
		return fmt.Errorf("SO_SNDBUFFORCE: %w", err)
	}
	if err := bindPort(fd, p.ifindex); err != nil {
		return err
	}
	mreq := unix.PacketMreq{Ifindex: int32(p.ifindex), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		return fmt.Errorf("promiscuous mode: %w", err)
	}
	if p.expFD < 0 {
		return nil
	}
	efd := p.expFD
	for _, o := range []struct{ opt, val int }{{unix.PACKET_VNET_HDR, 1}, {unix.PACKET_AUXDATA, 1}} {
		if err := unix.SetsockoptInt(efd, unix.SOL_PACKET, o.opt, o.val); err != nil {
			return fmt.Errorf("express socket option %d: %w", o.opt, err)
		}
	}
	if err := unix.SetsockoptInt(efd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, expressRcvBuf); err != nil {
		return fmt.Errorf("SO_RCVBUFFORCE: %w", err)
	}
	if err := bindPort(efd, p.ifindex); err != nil {
		return err
	}
	// The ring socket founds the group with a kernel-chosen ID; the express
	// socket joins it by that ID.
	const fanoutType = unix.PACKET_FANOUT_CBPF | unix.PACKET_FANOUT_FLAG_IGNORE_OUTGOING
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, (fanoutType|unix.PACKET_FANOUT_FLAG_UNIQUEID)<<16); err != nil {
		return fmt.Errorf("PACKET_FANOUT: %w", err)
	}
	v, err := unix.GetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
	if err != nil {
		return fmt.Errorf("PACKET_FANOUT id: %w", err)
	}
	p.fanout = uint16(v)
	if err := unix.SetsockoptInt(efd, unix.SOL_PACKET, unix.PACKET_FANOUT, int(p.fanout)|fanoutType<<16); err != nil {
		return fmt.Errorf("PACKET_FANOUT join: %w", err)
	}
	p.ringIdx = 0
	return p.selectExpress(true)
}

func packetSocket() (int, error) {
	// Protocol 0: nothing arrives before bindPort, when the ring exists.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("PACKET_IGNORE_OUTGOING: %w", err)
	}
	return fd, nil
}

func bindPort(fd, ifindex int) error {
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// selectExpress points the fanout group at the express socket (true) or
// the ring (false).
func (p *RingPort) selectExpress(express bool) error {
	idx := p.ringIdx
	if express {
		idx = 1 - p.ringIdx
	}
	prog := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: idx}}
	fprog := unix.SockFprog{Len: 1, Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(p.ringFD, unix.SOL_PACKET, unix.PACKET_FANOUT_DATA, &fprog); err != nil {
		return fmt.Errorf("PACKET_FANOUT_DATA: %w", err)
	}
	p.express.Store(express)
	return nil
}

// Name returns the interface name.
func (p *RingPort) Name() string { return p.name }

// Express reports whether the port currently receives on its express
// socket rather than its ring.
func (p *RingPort) Express() bool { return p.express.Load() }

// KernelStats returns the kernel's counters for the port's sockets.
func (p *RingPort) KernelStats() KernelStats {
	p.readKernelStats()
	return KernelStats{
		Packets:      p.kstats.packets.Load(),
		Drops:        p.kstats.drops.Load(),
		QueueFreezes: p.kstats.freezes.Load(),
	}
}

// readKernelStats folds the kernel's clear-on-read PACKET_STATISTICS into
// the port's running totals.
func (p *RingPort) readKernelStats() {
	if p.ringFD >= 0 {
		if s, err := unix.GetsockoptTpacketStatsV3(p.ringFD, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			p.kstats.packets.Add(uint64(s.Packets))
			p.kstats.drops.Add(uint64(s.Drops))
			p.kstats.freezes.Add(uint64(s.Freeze_q_cnt))
		}
	}
	if p.expFD >= 0 {
		if s, err := unix.GetsockoptTpacketStats(p.expFD, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			p.kstats.packets.Add(uint64(s.Packets))
			p.kstats.drops.Add(uint64(s.Drops))
		}
	}
}

// Close unmaps the ring and closes the sockets, which also releases the
// promiscuous mode the port asked for.
func (p *RingPort) Close() error {
	var errs []error
	if p.ring != nil {
		errs = append(errs, unix.Munmap(p.ring))
		p.ring = nil
	}
	for _, fd := range []*int{&p.ringFD, &p.expFD} {
		if *fd >= 0 {
			errs = append(errs, unix.Close(*fd))
			*fd = -1
		}
	}
	return errors.Join(errs...)
}

// Block descriptor layout (struct tpacket_block_desc with tpacket_hdr_v1).
const (
	blockStatusOff = 8
	blockNumPkts   = 12
	blockFirstOff  = 16
)

func (p *RingPort) block(i int) []byte {
	return p.ring[i*p.cfg.BlockSize : (i+1)*p.cfg.BlockSize]
}

func blockStatus(b []byte) *uint32 { return (*uint32)(unsafe.Pointer(&b[blockStatusOff])) }

func u32at(b []byte, off int) uint32 { return *(*uint32)(unsafe.Pointer(&b[off])) }

// receiver is the state of one Receive loop.
type receiver struct {
	p      *RingPort
	handle func([]Packet)
	batch  []Packet
	next   int // the next ring block to read

	expBufs [][]byte
	expMsgs []unix.Mmsghdr
	expIovs []unix.Iovec
	expCtl  [][]byte

	// rate measurement for the mode switch
	express       bool
	windowStart   time.Time
	windowCount   int
	windowRing    int
	windowExpress int
}

// Receive reads frames from the port until ctx is done.
func (p *RingPort) Receive(ctx context.Context, handle func([]Packet)) error {
	stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	defer unix.Close(stop)
	cancel := context.AfterFunc(ctx, func() {
		unix.Write(stop, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	})
	defer cancel()

	r := &receiver{p: p, handle: handle, batch: make([]Packet, 0, batchSize), express: p.expFD >= 0}
	if r.express {
		r.initExpress()
	}
	r.windowStart = time.Now()

	fds := []unix.PollFd{{Fd: int32(stop), Events: unix.POLLIN}, {Fd: int32(p.ringFD), Events: unix.POLLIN}}
	if p.expFD >= 0 {
		fds = append(fds, unix.PollFd{Fd: int32(p.expFD), Events: unix.POLLIN})
	}
	for {
		// Frames on the socket that is not selected are older than those
		// on the selected one (left over from a move): read them first.
		var fromRing, fromExpress int
		if r.express {
			fromRing = r.readRing()
			fromExpress = r.readExpress()
		} else {
			if p.expFD >= 0 {
				fromExpress = r.readExpress()
			}
			fromRing = r.readRing()
		}
		r.adapt(fromRing, fromExpress)
		if r.express && fromExpress > 0 && r.spin() {
			continue
		}
		for i := range fds {
			fds[i].Revents = 0
		}
		// On the ring, wake up now and then even without frames, so that a
		// port whose traffic stopped moves back to the express socket.
		timeout := -1
		if !r.express && p.expFD >= 0 {
			timeout = int(ringWindow / time.Millisecond)
		}
		_, err := unix.Poll(fds, timeout)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("poll: %w", err)
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

// spin polls the express socket for a short while before the receive loop
// goes to sleep. A reply usually follows a forwarded frame within tens of
// microseconds; catching it here saves the wakeup of a sleeping thread,
// which on a virtual machine costs as much as the forwarding itself.
func (r *receiver) spin() bool {
	deadline := time.Now().Add(spinTime)
	for time.Now().Before(deadline) {
		var buf [1]byte
		n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(r.p.expFD), uintptr(unsafe.Pointer(&buf[0])), 1, unix.MSG_DONTWAIT|unix.MSG_PEEK, 0, 0)
		if errno == 0 && n > 0 {
			return true
		}
	}
	return false
}

const spinTime = 50 * time.Microsecond

// readRing forwards every block the kernel has handed over and gives the
// blocks back. It returns the number of frames.
func (r *receiver) readRing() int {
	p := r.p
	total := 0
	for {
		b := p.block(r.next)
		st := blockStatus(b)
		if atomic.LoadUint32(st)&unix.TP_STATUS_USER == 0 {
			return total
		}
		n := int(u32at(b, blockNumPkts))
		off := int(u32at(b, blockFirstOff))
		for i := 0; i < n; i++ {
			h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&b[off]))
			mac := off + int(h.Mac)
			pkt := Packet{Data: b[mac : mac+int(h.Snaplen)], Len: int(h.Len)}
			if mac >= vnetHdrLen {
				pkt.Offload.decode(b[mac-vnetHdrLen : mac])
			}
			if h.Status&unix.TP_STATUS_VLAN_VALID != 0 {
				pkt.Tag = VLANTag{Present: true, TCI: uint16(h.Hv1.Vlan_tci)}
				if h.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
					pkt.Tag.TPID = h.Hv1.Vlan_tpid
				}
			}
			r.batch = append(r.batch, pkt)
			if len(r.batch) == cap(r.batch) {
				r.flushBatch()
			}
			off += int(h.Next_offset)
		}
		r.flushBatch()
		total += n
		atomic.StoreUint32(st, unix.TP_STATUS_KERNEL)
		r.next = (r.next + 1) % p.cfg.Blocks
	}
}

func (r *receiver) flushBatch() {
	if len(r.batch) > 0 {
		r.handle(r.batch)
		r.batch = r.batch[:0]
	}
}

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
			if l < vnetHdrLen {
				continue
			}
			buf := r.expBufs[i]
			pkt := Packet{Data: buf[vnetHdrLen:l], Len: l - vnetHdrLen}
			pkt.Offload.decode(buf[:vnetHdrLen])
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
func parseAuxdata(ctl []byte, pkt *Packet) {
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
		pkt.Tag = VLANTag{Present: true, TCI: aux.Vlan_tci}
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
// frames asks (see RingPort). fromRing and fromExpress are the frames just
// read from each.
func (r *receiver) adapt(fromRing, fromExpress int) {
	p := r.p
	if p.expFD < 0 {
		return
	}
	r.windowCount += fromRing + fromExpress
	r.windowRing += fromRing
	r.windowExpress += fromExpress
	now := time.Now()
	el := now.Sub(r.windowStart)
	window := ringWindow
	if r.express {
		window = expressWindow
	}
	if el < window {
		return
	}
	rate := float64(r.windowCount) / el.Seconds()
	// The fanout index of each socket can change when the link goes down
	// and up. Frames arriving steadily on the socket not selected mean the
	// mapping turned; turn it back.
	if !r.express && r.windowRing == 0 && r.windowExpress > 0 ||
		r.express && r.windowExpress == 0 && r.windowRing > 2*p.cfg.Blocks {
		p.ringIdx = 1 - p.ringIdx
		p.selectExpress(r.express)
	}
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
			r.drainRing()
		}
	}
	r.windowStart, r.windowCount, r.windowRing, r.windowExpress = now, 0, 0, 0
}

// drainRing waits until the frames the ring still holds have been forwarded,
// so that none is overtaken by a later frame on the express socket. The
// kernel's current block is handed over by its retire timer at the latest.
func (r *receiver) drainRing() {
	p := r.p
	deadline := time.Now().Add(10*p.cfg.RetireTimeout + 10*time.Millisecond)
	fds := []unix.PollFd{{Fd: int32(p.ringFD), Events: unix.POLLIN}}
	for {
		r.readRing()
		b := p.block(r.next)
		if atomic.LoadUint32(blockStatus(b))&unix.TP_STATUS_USER == 0 && atomic.LoadUint32((*uint32)(unsafe.Pointer(&b[blockNumPkts]))) == 0 {
			return
		}
		if time.Now().After(deadline) {
			return
		}
		unix.Poll(fds, int(p.cfg.RetireTimeout/time.Millisecond))
	}
}

// ringSender sends frames on a port's ring socket with sendmmsg: one system
// call for a batch, each frame as a gather list pointing at the receive
// buffer it came in (no copy in user space), with the virtio-net header and
// any VLAN tag put back in front and in the middle.
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

// NewSender returns a batching sender for the port.
func (p *RingPort) NewSender() Sender {
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

func (s *ringSender) Queue(p *Packet) bool {
	if s.n == len(s.msgs) {
		return false
	}
	i := s.n
	iov := s.iovs[i*iovsPerMsg : (i+1)*iovsPerMsg]
	sc := s.scratch[i*scratchPerMsg : (i+1)*scratchPerMsg]
	h := &s.msgs[i].Hdr
	if !p.Tag.Present || len(p.Data) < 12 {
		p.Offload.encode(sc[:vnetHdrLen])
		setIov(&iov[0], sc[:vnetHdrLen])
		setIov(&iov[1], p.Data)
		h.Iovlen = 2
		s.sizes[i] = len(p.Data)
	} else {
		off := p.Offload.shifted(4)
		off.encode(sc[:vnetHdrLen])
		tag := p.Tag.bytes()
		copy(sc[vnetHdrLen:], tag[:])
		setIov(&iov[0], sc[:vnetHdrLen])
		setIov(&iov[1], p.Data[:12])
		setIov(&iov[2], sc[vnetHdrLen:vnetHdrLen+4])
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
		return fmt.Errorf("%w: %v", ErrPortDown, errno)
	}
	return fmt.Errorf("switching: send: %w", errno)
}

// sizeofTpacketAuxdata is sizeof(struct tpacket_auxdata).
const sizeofTpacketAuxdata = int(unsafe.Sizeof(unix.TpacketAuxdata{}))
