package afpacket

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Config sizes a Port. The zero value selects the defaults.
type Config struct {
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
	// through the ring (see Port). For measurements.
	NoExpress bool
	// Sendmmsg sends every frame with sendmmsg instead of through the
	// port's PACKET_TX_RING. For measurements: BENCHMARKS.md compares the
	// two.
	Sendmmsg bool
	// Logger receives debug events (moves between ring and express
	// socket); nil discards them.
	Logger *slog.Logger
	// SocketFilter, if set, is called with every socket that receives for
	// the port (the ring's and the express socket) before the socket is
	// bound to the interface, so that no frame reaches it unfiltered: the
	// kernel fast path attaches its socket filter here
	// (fastpath.Datapath.AttachSocketFilter), which keeps from the ring the
	// frames the kernel forwards. An error fails Open. The sockets that only
	// send receive nothing and are not passed.
	SocketFilter func(fd int) error
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
	expressBufSize = switching.VNetHdrLen + 65536 + 512
	expressReadMax = 16 * expressBuffers

	// batchSize is how many frames are handed to the engine at once.
	batchSize = 256

	// Socket buffers: the express socket holds bursts until the switch
	// moves the port to the ring; the send buffer is sized so that sends do
	// not fail while the peer drains.
	expressRcvBuf = 8 << 20
	sendBuf       = 4 << 20
)

func (c Config) withDefaults() (Config, error) {
	if c.BlockSize == 0 {
		c.BlockSize = defaultBlockSize
	}
	if c.Blocks == 0 {
		c.Blocks = defaultBlocks
	}
	if c.RetireTimeout == 0 {
		c.RetireTimeout = defaultRetireTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	pg := os.Getpagesize()
	switch {
	case c.BlockSize < minBlockSize || c.BlockSize%pg != 0:
		return c, fmt.Errorf("afpacket: ring block size %d must be a multiple of the page size (%d) and at least %d", c.BlockSize, pg, minBlockSize)
	case c.Blocks < 2:
		return c, fmt.Errorf("afpacket: ring needs at least 2 blocks, not %d", c.Blocks)
	case c.RetireTimeout < time.Millisecond:
		return c, fmt.Errorf("afpacket: ring retire timeout %v is below the kernel's 1ms resolution", c.RetireTimeout)
	}
	return c, nil
}

// Port is a port on a Linux network interface, read through an
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
// Both sockets carry the virtio-net header (PACKET_VNET_HDR, see switching.VNetHdr) so
// that checksum-offloaded frames and GSO super-frames leave as they came,
// and report the VLAN tag the kernel stripped (tp_vlan_tci, or
// PACKET_AUXDATA on the express socket) so it can be put back. Frames the
// switch sends are not looped back to it (PACKET_FANOUT_FLAG_IGNORE_OUTGOING
// and PACKET_IGNORE_OUTGOING).
type Port struct {
	name    string
	ifindex int
	cfg     Config

	ring    []byte // the mmap'd receive ring
	ringFD  int    // TPACKET_V3 socket; also the socket the port sends on
	expFD   int    // express socket, -1 when disabled
	fanout  uint16 // fanout group ID
	ringIdx uint32 // the fanout index the ring socket currently has

	kstats struct {
		packets, drops, freezes, express atomic.Uint64
	}
	express atomic.Bool // current mode, for reports

	mu    sync.Mutex // guards tx
	tx    *txRing    // made by Open unless Config.Sendmmsg; closed with the port
	txErr error      // why Open made no TX ring
}

var _ switching.PolledBackend = (*Port)(nil)

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
	return fmt.Sprintf("afpacket: port %q: %s", e.Name, e.Reason)
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
var ErrPermission = errors.New("afpacket: opening packet sockets needs root or CAP_NET_RAW (and CAP_NET_ADMIN for promiscuous mode)")

// CheckPermission reports ErrPermission when the process may not open
// packet sockets, before any port is touched.
func CheckPermission() error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return ErrPermission
		}
		return fmt.Errorf("afpacket: packet socket: %w", err)
	}
	unix.Close(fd)
	return nil
}

// Open opens the interface name as a switch port.
func Open(name string, cfg Config) (*Port, error) {
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
	p := &Port{name: name, ifindex: ifi.Index, cfg: cfg, ringFD: -1, expFD: -1}
	if err := p.open(); err != nil {
		p.Close()
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, ErrPermission
		}
		return nil, fmt.Errorf("afpacket: port %q: %w", name, err)
	}
	// The TX ring's socket is made here rather than at the first NewSender:
	// a packet socket lives in the network namespace of the thread that
	// creates it, and Open runs in the port's namespace (testenv opens the
	// ports of a switch in a lab from a thread moved there), while
	// NewSender runs on the engine's goroutines, where the port's ifindex
	// may name another interface (a down one gave ENETDOWN) or none.
	if !cfg.Sendmmsg {
		p.tx, p.txErr = newTxRing(p.ifindex)
	}
	return p, nil
}

func (p *Port) open() error {
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
	if err := p.filter(fd); err != nil {
		return err
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
	if err := p.filter(efd); err != nil {
		return err
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

// filter applies Config.SocketFilter to the receiving socket fd.
func (p *Port) filter(fd int) error {
	if p.cfg.SocketFilter == nil {
		return nil
	}
	if err := p.cfg.SocketFilter(fd); err != nil {
		return fmt.Errorf("socket filter: %w", err)
	}
	return nil
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

// bindPort binds a receiving socket to the interface for every protocol.
func bindPort(fd, ifindex int) error {
	return bindProto(fd, ifindex, htons(unix.ETH_P_ALL))
}

// bindProto binds fd to the interface; protocol 0 makes a socket that only
// sends and never queues what the interface receives.
func bindProto(fd, ifindex int, protocol uint16) error {
	sa := &unix.SockaddrLinklayer{Protocol: protocol, Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// selectExpress points the fanout group at the express socket (true) or
// the ring (false).
func (p *Port) selectExpress(express bool) error {
	idx := p.ringIdx
	if express {
		idx = 1 - p.ringIdx
	}
	prog := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: idx}}
	fprog := unix.SockFprog{Len: 1, Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(p.ringFD, unix.SOL_PACKET, unix.PACKET_FANOUT_DATA, &fprog); err != nil {
		return fmt.Errorf("PACKET_FANOUT_DATA: %w", err)
	}
	if p.express.Swap(express) != express {
		p.cfg.Logger.Debug("port receive path", "port", p.name, "express", express)
	}
	return nil
}

// Name returns the interface name.
func (p *Port) Name() string { return p.name }

// Ifindex returns the index of the interface the port was opened on.
func (p *Port) Ifindex() int { return p.ifindex }

// Express reports whether the port currently receives on its express
// socket rather than its ring.
func (p *Port) Express() bool { return p.express.Load() }

// KernelStats returns the kernel's counters for the port's sockets.
func (p *Port) KernelStats() switching.KernelStats {
	p.readKernelStats()
	return switching.KernelStats{
		Packets:        p.kstats.packets.Load(),
		Drops:          p.kstats.drops.Load(),
		QueueFreezes:   p.kstats.freezes.Load(),
		ExpressPackets: p.kstats.express.Load(),
	}
}

// readKernelStats folds the kernel's clear-on-read PACKET_STATISTICS into
// the port's running totals.
func (p *Port) readKernelStats() {
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
			p.kstats.express.Add(uint64(s.Packets))
		}
	}
}

// Close unmaps the ring and closes the sockets, which also releases the
// promiscuous mode the port asked for.
func (p *Port) Close() error {
	var errs []error
	p.mu.Lock()
	if p.tx != nil {
		errs = append(errs, p.tx.close())
		p.tx = nil
	}
	p.mu.Unlock()
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

func (p *Port) block(i int) []byte {
	return p.ring[i*p.cfg.BlockSize : (i+1)*p.cfg.BlockSize]
}

func blockStatus(b []byte) *uint32 { return (*uint32)(unsafe.Pointer(&b[blockStatusOff])) }

func u32at(b []byte, off int) uint32 { return *(*uint32)(unsafe.Pointer(&b[off])) }

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
			pkt := switching.Packet{Data: b[mac : mac+int(h.Snaplen)], Len: int(h.Len)}
			if mac >= switching.VNetHdrLen {
				pkt.Offload.Decode(b[mac-switching.VNetHdrLen : mac])
			}
			if h.Status&unix.TP_STATUS_VLAN_VALID != 0 {
				pkt.Tag = switching.VLANTag{Present: true, TCI: uint16(h.Hv1.Vlan_tci)}
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

// sizeofTpacketAuxdata is sizeof(struct tpacket_auxdata).
const sizeofTpacketAuxdata = int(unsafe.Sizeof(unix.TpacketAuxdata{}))
