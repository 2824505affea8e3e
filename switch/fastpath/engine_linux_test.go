//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package fastpath_test

import (
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/internal/testutil"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/switch/fastpath"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// discardPort is a Backend whose senders discard: the engine's own
// forwarding is not what these tests look at, the kernel's is.
type discardPort struct{ name string }

func (p *discardPort) Name() string { return p.name }
func (p *discardPort) Receive(ctx context.Context, _ func([]switching.Packet)) error {
	<-ctx.Done()
	return nil
}
func (p *discardPort) NewSender() switching.Sender        { return discardSender{} }
func (p *discardPort) KernelStats() switching.KernelStats { return switching.KernelStats{} }
func (p *discardPort) Close() error                       { return nil }

type discardSender struct{}

func (discardSender) Queue(*switching.Packet) bool { return true }
func (discardSender) Flush() (int, int, error)     { return 0, 0, nil }

// igmpV2 is an IGMPv2 message (RFC 2236 s2) of type typ for group in a
// frame from srcMAC and src to dst, TTL 1 with Router Alert, checksums set.
func igmpV2(srcMAC fdb.MAC, src, dst netip.Addr, typ byte, group netip.Addr) []byte {
	msg := make([]byte, 8)
	msg[0] = typ
	g := group.As4()
	copy(msg[4:], g[:])
	binary.BigEndian.PutUint16(msg[2:], testutil.Checksum(msg))
	ip := ipv4(src, dst, 2, 1, []byte{0x94, 4, 0, 0}, msg)
	binary.BigEndian.PutUint16(ip[10:], testutil.Checksum(ip[:24]))
	return eth(groupMAC(dst), srcMAC, 0x0800, ip)
}

// TestEngineDecidesKernelRepeats: the engine with the kernel's flow cache,
// end to end but for the rings (frames are handed to the engine's worker
// and run through the tc program by hand, as arriving on port 0): a frame
// the engine forwarded is forwarded by the kernel next; a MAC move, a
// leave and a new VLAN set on the output port each make the kernel send
// the flow's next frame to the engine, before the call that changed the
// state has returned.
func TestEngineDecidesKernelRepeats(t *testing.T) {
	loadOnLo(t, 64, 3, func(d *fastpath.Datapath, _ []*testenv.Host) {
		in := fastpath.NewInstaller(d, 64)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go in.Run(ctx)
		e, err := switching.New(switching.Config{
			FlowCache: fastpath.NewCache(d, in, nil),
			Snooping:  &snoop.Config{Membership: snoop.MembershipConfig{FastLeave: func(fdb.PortID) bool { return true }}},
		})
		if err != nil {
			t.Fatal(err)
		}
		ws := make([]*switching.Worker, 4)
		for i := range ws {
			if _, err := e.AddPort(&discardPort{name: string(rune('p' + i))}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range ws {
			ws[i] = e.NewWorker(fdb.PortID(i))
		}
		host := func(i int) fdb.MAC { return fdb.MAC{2, 0, 0, 0, 1, byte(i)} }
		handle := func(port int, frame []byte) {
			ws[port].Handle([]switching.Packet{{Data: frame, Len: len(frame)}})
		}
		applied := uint64(0)
		// settle waits for the installer to apply the offers made so far.
		settle := func() {
			t.Helper()
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				s := in.Stats()
				if s.Applied+s.Dropped+s.Full+s.Failed > applied {
					applied = s.Applied + s.Dropped + s.Full + s.Failed
					return
				}
			}
			t.Fatal("the installer applied nothing")
		}
		expect := func(name string, frame []byte, want uint32) {
			t.Helper()
			if got := run(t, d, frame); got != want {
				t.Errorf("%s: the kernel's verdict %d, want %d", name, int32(got), int32(want))
			}
		}
		for i := range ws {
			handle(i, eth(bcast, host(i), 0x0806, make([]byte, 28)))
		}

		uni := eth(host(1), host(0), 0x0800, ipv4(src4, uni4, 17, 64, nil, udp))
		expect("unicast before the engine saw it", uni, fastpath.TCXNext)
		handle(0, uni)
		settle()
		expect("unicast the engine forwarded", uni, fastpath.TCXRedirect)
		handle(2, eth(bcast, host(1), 0x0806, make([]byte, 28))) // host 1 moves to port 2
		expect("unicast to a host that moved", uni, fastpath.TCXNext)
		handle(0, uni)
		settle()
		expect("unicast to the host's new port", uni, fastpath.TCXRedirect)
		if err := e.SetPortVLANs(2, []uint16{7}); err != nil {
			t.Fatal(err)
		}
		expect("unicast to a port that no longer carries the VLAN", uni, fastpath.TCXNext)

		data := eth(groupMAC(group4), host(0), 0x0800, ipv4(src4, group4, 17, 64, nil, udp))
		handle(3, igmpV2(host(3), netip.MustParseAddr("198.18.0.4"), group4, 0x16, group4))
		e.ApplyControl()
		handle(0, data)
		settle()
		expect("data to a group port 3 joined", data, fastpath.TCXRedirect)
		handle(3, igmpV2(host(3), netip.MustParseAddr("198.18.0.4"), netip.MustParseAddr("224.0.0.2"), 0x17, group4))
		e.ApplyControl() // the control plane applies the leave
		expect("data after the only member left", data, fastpath.TCXNext)

		s, err := d.Stats()
		if err != nil {
			t.Fatal(err)
		}
		st := e.Stats()
		if s.Ports[0].Frames != 3 || st[0].FlowCache == nil || st[0].FlowCache.RxFrames != 3 {
			t.Errorf("port 0: the kernel forwarded %d frames, the engine's stats say %+v; want 3", s.Ports[0].Frames, st[0].FlowCache)
		}
	})
}
