package bench

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"runtime"
	"unsafe"

	"github.com/snoopswitch/snoopswitch/testenv"
	"golang.org/x/sys/unix"
)

// The receivers' sink for the multicast flows. A frame of the unicast flows
// (EtherType benchEtherType) finds no protocol handler and is freed as soon
// as it is received, but a UDP datagram to a joined group goes through the
// IP and UDP input paths, which on veth run on the forwarding CPU and would
// weigh on what the bench measures. So every host drops the bench's UDP
// datagrams at ingress with a tiny BPF program (tcx): rx_packets, the
// count, is taken before it, and everything else (ARP, ICMP, IGMP queries)
// passes.

// sinkProgram drops IPv4 UDP datagrams to udpDiscardPort whose IPv4 header
// has no options, and passes every other frame. It copies bytes 12 to 37
// of the frame (EtherType to UDP destination port) to the stack with
// bpf_skb_load_bytes rather than reading the packet directly: a frame sent
// from a TX ring (snoopswitch's) arrives with only its Ethernet
// header in the linear part of the skb, which is all direct access reaches.
var sinkProgram = []bpfInsn{
	// r0 = bpf_skb_load_bytes(r1 = skb, r2 = 12, r3 = fp-32, r4 = 26)
	{code: bpfMov64K, dst: 2, imm: 12},
	{code: bpfMov64X, dst: 3, src: 10},
	{code: bpfAdd64K, dst: 3, imm: -32},
	{code: bpfMov64K, dst: 4, imm: 26},
	{code: bpfCall, imm: bpfFuncSkbLoadBytes},
	{code: bpfJneK, dst: 0, imm: 0, off: 8},    // too short: pass
	{code: bpfLdxH, dst: 5, src: 10, off: -32}, // EtherType, in network order
	{code: bpfJneK, dst: 5, imm: int32(swap16(etherTypeIPv4)), off: 6},
	{code: bpfLdxB, dst: 5, src: 10, off: -32 + ethHeaderLen + 9 - 12}, // IPv4 protocol
	{code: bpfJneK, dst: 5, imm: 17, off: 4},
	{code: bpfLdxH, dst: 5, src: 10, off: -32 + ethHeaderLen + ipv4HeaderLen + 2 - 12}, // UDP destination port
	{code: bpfJneK, dst: 5, imm: int32(swap16(udpDiscardPort)), off: 2},
	{code: bpfMov64K, dst: 0, imm: tcActShot},
	{code: bpfExit},
	{code: bpfMov64K, dst: 0, imm: tcActOK},
	{code: bpfExit},
}

// bpfInsn is one eBPF instruction (struct bpf_insn).
type bpfInsn struct {
	code     uint8
	dst, src uint8
	off      int16
	imm      int32
}

// eBPF opcodes (include/uapi/linux/bpf_common.h, bpf.h) and what the
// program needs of the kernel's ABI.
const (
	bpfLdxH   = 0x69 // dst = *(u16 *)(src + off)
	bpfLdxB   = 0x71 // dst = *(u8 *)(src + off)
	bpfMov64X = 0xbf // dst = src
	bpfMov64K = 0xb7 // dst = imm
	bpfAdd64K = 0x07 // dst += imm
	bpfCall   = 0x85 // r0 = helper imm(r1, ..., r5)
	bpfJneK   = 0x55 // if dst != imm: skip off instructions
	bpfExit   = 0x95

	bpfFuncSkbLoadBytes = 26 // BPF_FUNC_skb_load_bytes
	tcActOK             = 0
	tcActShot           = 2
)

// swap16 turns a 16-bit value in network order into what a little-endian
// load of it reads, which is what BPF_LDX gives on the machines the bench
// runs on.
func swap16(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// encodeBPF lays instructions out as the kernel reads them.
func encodeBPF(insns []bpfInsn) []byte {
	b := make([]byte, 8*len(insns))
	for i, in := range insns {
		w := b[8*i:]
		w[0] = in.code
		w[1] = in.dst&0x0f | in.src<<4
		binary.NativeEndian.PutUint16(w[2:], uint16(in.off))
		binary.NativeEndian.PutUint32(w[4:], uint32(in.imm))
	}
	return b
}

// loadSink loads sinkProgram and returns its file descriptor.
func loadSink() (int, error) {
	code := encodeBPF(sinkProgram)
	license := []byte("GPL\x00")
	logBuf := make([]byte, 64<<10)
	// union bpf_attr for BPF_PROG_LOAD: prog_type, insn_cnt, insns,
	// license, log_level, log_size, log_buf; the rest zero.
	var attr [128]byte
	binary.NativeEndian.PutUint32(attr[0:], unix.BPF_PROG_TYPE_SCHED_CLS)
	binary.NativeEndian.PutUint32(attr[4:], uint32(len(sinkProgram)))
	binary.NativeEndian.PutUint64(attr[8:], uint64(uintptr(unsafe.Pointer(&code[0]))))
	binary.NativeEndian.PutUint64(attr[16:], uint64(uintptr(unsafe.Pointer(&license[0]))))
	binary.NativeEndian.PutUint32(attr[24:], 1)
	binary.NativeEndian.PutUint32(attr[28:], uint32(len(logBuf)))
	binary.NativeEndian.PutUint64(attr[32:], uint64(uintptr(unsafe.Pointer(&logBuf[0]))))
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr[0])), uintptr(len(attr)))
	runtime.KeepAlive(code)
	runtime.KeepAlive(license)
	if errno != 0 {
		return -1, fmt.Errorf("bench: load the receivers' BPF sink: %w: %s", errno, unix.ByteSliceToString(logBuf))
	}
	return int(fd), nil
}

// attachSink attaches the program prog at the ingress of h's interface
// (tcx) and returns the link's file descriptor: the program stays attached
// until it is closed or the interface goes.
func attachSink(h *testenv.Host, prog int) (int, error) {
	link := -1
	err := h.NS.Do(func() error {
		ifi, err := net.InterfaceByName(h.Iface)
		if err != nil {
			return err
		}
		// union bpf_attr for BPF_LINK_CREATE: prog_fd, target_ifindex,
		// attach_type, flags; the rest (tcx's relative program and expected
		// revision) zero.
		var attr [64]byte
		binary.NativeEndian.PutUint32(attr[0:], uint32(prog))
		binary.NativeEndian.PutUint32(attr[4:], uint32(ifi.Index))
		binary.NativeEndian.PutUint32(attr[8:], unix.BPF_TCX_INGRESS)
		fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_LINK_CREATE, uintptr(unsafe.Pointer(&attr[0])), uintptr(len(attr)))
		if errno != 0 {
			return errno
		}
		link = int(fd)
		return nil
	})
	if err != nil {
		return -1, fmt.Errorf("bench: attach the BPF sink to %s of host %s: %w", h.Iface, h.Name, err)
	}
	return link, nil
}

// installSinks attaches sinkProgram at the ingress of every host; the
// returned function detaches it again.
func (r *rig) installSinks() (detach func(), err error) {
	prog, err := loadSink()
	if err != nil {
		return nil, err
	}
	// The links hold the program.
	defer unix.Close(prog)
	var links []int
	detach = func() {
		for _, l := range links {
			unix.Close(l)
		}
	}
	for _, h := range r.hosts {
		l, err := attachSink(h, prog)
		if err != nil {
			detach()
			return nil, err
		}
		links = append(links, l)
	}
	return detach, nil
}

// ipInReceives returns the IPv4 datagrams h's stack has received
// (/proc/net/snmp's Ip InReceives, read by a thread in h's namespace), to
// check that the sink keeps the flows' datagrams from it.
func ipInReceives(h *testenv.Host) (uint64, error) {
	var n uint64
	err := h.NS.Do(func() error {
		// thread-self: /proc/self/net is the namespace of the process's
		// main thread, not of this one.
		f, err := os.Open("/proc/thread-self/net/snmp")
		if err != nil {
			return err
		}
		defer f.Close()
		n, err = ParseIPInReceives(f)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("bench: IP counters of host %s: %w", h.Name, err)
	}
	return n, nil
}
