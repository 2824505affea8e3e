package testenv

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/mdlayher/packet"
)

// A Host is a namespace with one interface, eth0, cabled to a switch port.
type Host struct {
	Name       string
	Index      int // 1-based position in the lab; MAC and default addresses derive from it
	NS         *Namespace
	Iface      string // "eth0"
	MAC        net.HardwareAddr
	IPv4       netip.Prefix
	IPv6       netip.Prefix
	LinkLocal  netip.Addr
	SwitchPort string // the switch-side veth end, in the switch namespace; shared by the hosts behind one port

	lab     *Lab
	hub     *hub // the shared port the host is behind (AddHostsBehindPort), or nil
	ifindex int  // eth0's index inside NS

	txMu sync.Mutex
	tx   *packet.Conn // opened by the first SendFrame
}

func (h *Host) iface() *net.Interface {
	return &net.Interface{Index: h.ifindex, Name: h.Iface, HardwareAddr: h.MAC}
}

// SendFrame writes frame, a whole Ethernet frame from the destination MAC on
// (802.1Q tags included, no FCS), out of the host's eth0 through an
// AF_PACKET socket.
func (h *Host) SendFrame(frame []byte) error {
	if len(frame) < 14 {
		return fmt.Errorf("testenv: host %q: send frame: %d bytes is shorter than an Ethernet header", h.Name, len(frame))
	}
	tx, err := h.txConn()
	if err != nil {
		return err
	}
	// A SOCK_RAW packet socket ignores the address and sends frame as is.
	if _, err := tx.WriteTo(frame, &packet.Addr{HardwareAddr: net.HardwareAddr(frame[:6])}); err != nil {
		return fmt.Errorf("testenv: host %q: send frame on %s: %w", h.Name, h.Iface, err)
	}
	return nil
}

func (h *Host) txConn() (*packet.Conn, error) {
	h.txMu.Lock()
	defer h.txMu.Unlock()
	if h.tx != nil {
		return h.tx, nil
	}
	err := h.NS.Do(func() error {
		// Protocol 0: the socket only sends and never queues received frames.
		c, err := packet.Listen(h.iface(), packet.Raw, 0, nil)
		h.tx = c
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("testenv: host %q: open packet socket on %s: %w", h.Name, h.Iface, err)
	}
	return h.tx, nil
}

func (h *Host) closeTx() error {
	h.txMu.Lock()
	defer h.txMu.Unlock()
	if h.tx == nil {
		return nil
	}
	err := h.tx.Close()
	h.tx = nil
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("testenv: host %q: close packet socket: %w", h.Name, err)
	}
	return nil
}

// RxPackets returns the kernel's rx_packets counter of the host's eth0: the
// cheap receiver-side count for benchmarks.
func (h *Host) RxPackets() (uint64, error) {
	nl := h.NS.Handle()
	if nl == nil {
		return 0, fmt.Errorf("testenv: host %q: read %s statistics: %w", h.Name, h.Iface, errClosed)
	}
	link, err := nl.LinkByIndex(h.ifindex)
	if err != nil {
		return 0, fmt.Errorf("testenv: host %q: read %s statistics: %w", h.Name, h.Iface, err)
	}
	st := link.Attrs().Statistics
	if st == nil {
		return 0, fmt.Errorf("testenv: host %q: the kernel sent no statistics for %s", h.Name, h.Iface)
	}
	return st.RxPackets, nil
}
