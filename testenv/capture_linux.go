package testenv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// sizeofTpacketAuxdata is sizeof(struct tpacket_auxdata).
const sizeofTpacketAuxdata = 20

// captureBuffer holds the largest frame a veth can deliver: GSO super-frames
// cross veth pairs unsegmented, up to 64 KiB by default.
const captureBuffer = 256 << 10

// A Capture records every frame arriving at a host's eth0 (or another
// interface of the lab, such as a fabric's tunnel), with VLAN tags the
// kernel moved into packet metadata put back in place.
type Capture struct {
	lab  *Lab
	what string // what is captured, for errors: `host "h1"`
	conn *packet.Conn
	done chan struct{} // closed when the reader has stopped

	closing   atomic.Bool // set before conn is closed, so read ends quietly
	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex
	frames  [][]byte
	changed chan struct{} // closed and replaced when a frame arrives
	readErr error
}

// Capture starts recording the frames arriving at the host's eth0: those the
// kernel marks for this host, broadcast, multicast or other hosts, not those
// the host sends. The socket is bound when Capture returns, so every frame
// arriving afterwards is seen. The lab closes captures still open at Close.
func (h *Host) Capture() (*Capture, error) {
	return h.lab.capture(h.NS, h.iface(), fmt.Sprintf("host %q", h.Name))
}

// capture opens a Capture on ifi in namespace ns, what naming it in errors.
func (l *Lab) capture(ns *Namespace, ifi *net.Interface, what string) (*Capture, error) {
	var conn *packet.Conn
	err := ns.Do(func() error {
		var err error
		conn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("testenv: %s: capture on %s: %w", what, ifi.Name, err)
	}
	rc, err := conn.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) {
			// PACKET_AUXDATA reports the VLAN tag the kernel stripped; a
			// larger buffer rides out bursts from iperf3 or trafgen.
			err = errors.Join(
				unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_AUXDATA, 1),
				unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1),
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20),
			)
		})
		err = errors.Join(err, cerr)
	}
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("testenv: %s: capture on %s: set socket options: %w", what, ifi.Name, err)
	}
	c := &Capture{
		lab:     l,
		what:    what,
		conn:    conn,
		done:    make(chan struct{}),
		changed: make(chan struct{}),
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		_ = conn.Close()
		return nil, fmt.Errorf("testenv: %s: capture: %w", what, errClosed)
	}
	l.captures[c] = struct{}{}
	l.mu.Unlock()
	go c.read(rc)
	return c, nil
}

func (c *Capture) read(rc syscall.RawConn) {
	defer close(c.done)
	buf := make([]byte, captureBuffer)
	oob := make([]byte, unix.CmsgSpace(sizeofTpacketAuxdata))
	for {
		var (
			n, oobn int
			from    unix.Sockaddr
			rerr    error
		)
		err := rc.Read(func(fd uintptr) bool {
			n, oobn, _, from, rerr = unix.Recvmsg(int(fd), buf, oob, 0)
			return rerr != unix.EAGAIN && rerr != unix.EINTR
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			if !c.closing.Load() {
				c.mu.Lock()
				c.readErr = err
				c.mu.Unlock()
			}
			return
		}
		if sll, ok := from.(*unix.SockaddrLinklayer); !ok || !wantPktType(sll.Pkttype) {
			continue
		}
		frame := withVLANTag(buf[:n], oob[:oobn])
		c.mu.Lock()
		c.frames = append(c.frames, frame)
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
}

func wantPktType(t uint8) bool {
	switch t {
	case unix.PACKET_HOST, unix.PACKET_BROADCAST, unix.PACKET_MULTICAST, unix.PACKET_OTHERHOST:
		return true
	}
	return false
}

// withVLANTag returns a copy of frame with the VLAN tag from the
// PACKET_AUXDATA control message in oob put back after the MAC addresses.
// The TPID is 0x8100 unless the kernel reports it; a tag with TCI 0 (a
// priority tag) is put back too when the kernel marks it valid.
func withVLANTag(frame, oob []byte) []byte {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil || len(frame) < 12 {
		return slices.Clone(frame)
	}
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_PACKET || m.Header.Type != unix.PACKET_AUXDATA || len(m.Data) < sizeofTpacketAuxdata {
			continue
		}
		// struct tpacket_auxdata: status, len, snaplen (u32); mac, net,
		// vlan_tci, vlan_tpid (u16), in host byte order.
		status := binary.NativeEndian.Uint32(m.Data[0:])
		tci := binary.NativeEndian.Uint16(m.Data[16:])
		tpid := binary.NativeEndian.Uint16(m.Data[18:])
		if status&unix.TP_STATUS_VLAN_VALID == 0 && tci == 0 {
			break
		}
		if status&unix.TP_STATUS_VLAN_TPID_VALID == 0 {
			tpid = 0x8100
		}
		out := make([]byte, len(frame)+4)
		copy(out, frame[:12])
		binary.BigEndian.PutUint16(out[12:], tpid)
		binary.BigEndian.PutUint16(out[14:], tci)
		copy(out[16:], frame[12:])
		return out
	}
	return slices.Clone(frame)
}

// Frames returns copies of the frames captured so far, in arrival order.
func (c *Capture) Frames() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([][]byte, len(c.frames))
	for i, f := range c.frames {
		out[i] = slices.Clone(f)
	}
	return out
}

// Count returns how many captured frames match. match must not modify or
// keep the frame.
func (c *Capture) Count(match func(frame []byte) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.countLocked(match)
}

// countLocked needs c.mu.
func (c *Capture) countLocked(match func([]byte) bool) int {
	n := 0
	for _, f := range c.frames {
		if match(f) {
			n++
		}
	}
	return n
}

// WaitFor waits until at least n captured frames match, or timeout passes,
// and reports whether they did. match must not modify or keep the frame.
func (c *Capture) WaitFor(match func([]byte) bool, n int, timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		c.mu.Lock()
		got := c.countLocked(match)
		changed := c.changed
		c.mu.Unlock()
		if got >= n {
			return true
		}
		select {
		case <-changed:
		case <-c.done:
			return c.Count(match) >= n
		case <-timer.C:
			return false
		}
	}
}

// Err returns the error that stopped the capture early, if any.
func (c *Capture) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readErr != nil {
		return fmt.Errorf("testenv: %s: capture: %w", c.what, c.readErr)
	}
	return nil
}

// Close stops the capture. The frames seen stay readable.
func (c *Capture) Close() error {
	err := c.close()
	l := c.lab
	l.mu.Lock()
	delete(l.captures, c)
	l.mu.Unlock()
	return err
}

func (c *Capture) close() error {
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		if err := c.conn.Close(); err != nil {
			c.closeErr = fmt.Errorf("testenv: %s: close capture: %w", c.what, err)
		}
		<-c.done
	})
	return c.closeErr
}
