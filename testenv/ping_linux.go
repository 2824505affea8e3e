package testenv

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// ICMP echo types (RFC 792, RFC 4443 s4).
const (
	icmpv4EchoRequest = 8
	icmpv4EchoReply   = 0
	icmpv6EchoRequest = 128
	icmpv6EchoReply   = 129
)

// pingPayload is the payload size of ping(8): a 64-byte ICMP message.
const pingPayload = 56

// Ping sends count ICMP echo requests from the host's namespace to dst, one
// every interval, and waits up to timeout for each reply. A link-local IPv6
// dst without a zone (or with zone "eth0") goes out of eth0. Replies later
// than timeout count as lost. A request the kernel refuses because an
// earlier one drew an ICMP error (host unreachable) is not counted as sent.
//
// Ping uses ICMP datagram ("ping") sockets, which the kernel lets only the
// groups in net.ipv4.ping_group_range open; lab namespaces allow all groups.
// The kernel gives each socket its own echo identifier and hands it only
// the replies to it, so Pings may run in parallel.
func (h *Host) Ping(dst netip.Addr, count int, interval, timeout time.Duration) (PingResult, error) {
	if count < 1 || interval < 0 || timeout <= 0 {
		return PingResult{}, fmt.Errorf("testenv: host %q: ping %s: need count >= 1, interval >= 0 and timeout > 0 (got %d, %v, %v)", h.Name, dst, count, interval, timeout)
	}
	dst = dst.Unmap()
	family, proto, reqType, replyType := unix.AF_INET, unix.IPPROTO_ICMP, byte(icmpv4EchoRequest), byte(icmpv4EchoReply)
	if dst.Is6() {
		family, proto, reqType, replyType = unix.AF_INET6, unix.IPPROTO_ICMPV6, icmpv6EchoRequest, icmpv6EchoReply
	}
	// The zone goes to the kernel as an index: resolving a name would look it
	// up in whichever namespace the writing thread happens to be in.
	var zone string
	if dst.Is6() && (dst.IsLinkLocalUnicast() || dst.IsLinkLocalMulticast()) {
		switch z := dst.Zone(); z {
		case "", h.Iface, strconv.Itoa(h.ifindex):
			zone = strconv.Itoa(h.ifindex)
		default:
			return PingResult{}, fmt.Errorf("testenv: host %q: ping %s: zone %q is not %s, the host's only interface", h.Name, dst, z, h.Iface)
		}
	}
	to := &net.UDPAddr{IP: dst.WithZone("").AsSlice(), Zone: zone}

	var conn net.PacketConn
	err := h.NS.Do(func() error {
		fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return os.NewSyscallError("socket", err)
		}
		f := os.NewFile(uintptr(fd), "icmp-ping")
		defer f.Close()
		conn, err = net.FilePacketConn(f)
		return err
	})
	if err != nil {
		return PingResult{}, fmt.Errorf("testenv: host %q: ping %s: open ICMP socket: %w", h.Name, dst, err)
	}

	var token [8]byte
	_, _ = rand.Read(token[:])
	base := time.Now()
	type reply struct {
		idx int
		rtt time.Duration
	}
	replies := make(chan reply, count)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		buf := make([]byte, 1500)
		seen := make([]bool, count)
		for {
			n, _, err := conn.ReadFrom(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue // an ICMP error for an earlier request, reported once
			}
			now := time.Since(base)
			// Echo reply: type, code, checksum, identifier, sequence, then
			// our payload: token, request index, send time since base.
			m := buf[:n]
			if n < 8+24 || m[0] != replyType || m[1] != 0 || [8]byte(m[8:16]) != token {
				continue
			}
			idx := binary.BigEndian.Uint64(m[16:])
			sentAt := time.Duration(binary.BigEndian.Uint64(m[24:]))
			if idx >= uint64(count) || seen[idx] || now-sentAt > timeout {
				continue
			}
			seen[idx] = true
			replies <- reply{int(idx), now - sentAt}
		}
	}()

	var (
		res      PingResult
		sendErr  error
		lastSend = base
		msg      = make([]byte, 8+pingPayload)
	)
	for i := 0; i < count; i++ {
		if i > 0 {
			time.Sleep(time.Until(base.Add(time.Duration(i) * interval)))
		}
		// The kernel fills in the identifier and the checksum.
		msg[0], msg[1] = reqType, 0
		binary.BigEndian.PutUint16(msg[6:], uint16(i))
		copy(msg[8:], token[:])
		binary.BigEndian.PutUint64(msg[16:], uint64(i))
		binary.BigEndian.PutUint64(msg[24:], uint64(time.Since(base)))
		_, err := conn.WriteTo(msg, to)
		lastSend = time.Now()
		if err != nil {
			if errors.Is(err, unix.EHOSTUNREACH) || errors.Is(err, unix.EHOSTDOWN) || errors.Is(err, unix.ECONNREFUSED) {
				continue
			}
			sendErr = fmt.Errorf("testenv: host %q: ping %s: %w", h.Name, dst, err)
			break
		}
		res.Sent++
	}

	rtts := make([]time.Duration, count)
	got := make([]bool, count)
	if sendErr == nil {
		timer := time.NewTimer(time.Until(lastSend.Add(timeout)))
	wait:
		for res.Received < res.Sent {
			select {
			case r := <-replies:
				rtts[r.idx], got[r.idx] = r.rtt, true
				res.Received++
			case <-timer.C:
				break wait
			}
		}
		timer.Stop()
	}
	_ = conn.Close()
	<-readerDone
	for i := range count {
		if got[i] {
			res.RTTs = append(res.RTTs, rtts[i])
		}
	}
	return res, sendErr
}
