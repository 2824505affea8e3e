package afpacket_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/snoopswitch/snoopswitch/switch/afpacket"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// dropMarker is a classic BPF socket filter that keeps from the socket the
// frames rawFrame builds with marker m and accepts every other frame.
func dropMarker(m byte) func(fd int) error {
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 12},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 3, K: 0x88b5},
		{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 14},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: uint32(m)},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0xffffffff},
	}
	return func(fd int) error {
		return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]})
	}
}

// TestRingSocketFilter: Config.SocketFilter is given every socket that
// receives for a port, the ring's and the express socket's, and what it
// keeps from them never reaches the engine, whichever of the two receives.
func TestRingSocketFilter(t *testing.T) {
	for _, c := range []struct {
		name    string
		cfg     afpacket.Config
		sockets int // per port
	}{
		{"express", afpacket.Config{}, 2},
		{"ring only", afpacket.Config{NoExpress: true}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			lab := newLab(t, 2)
			var mu sync.Mutex
			fds := make(map[int]bool)
			drop := dropMarker(7)
			c.cfg.SocketFilter = func(fd int) error {
				mu.Lock()
				fds[fd] = true
				mu.Unlock()
				return drop(fd)
			}
			testenv.StartSwitch(t, lab, testenv.SwitchConfig{Ring: c.cfg, Datapath: "ring"})
			if len(fds) != 2*c.sockets {
				t.Errorf("the filter was given %d sockets for 2 ports, want %d", len(fds), 2*c.sockets)
			}
			a, b := lab.Hosts()[0], lab.Hosts()[1]
			capB, err := b.Capture()
			if err != nil {
				t.Fatal(err)
			}
			for range 5 {
				for _, m := range []byte{7, 8} {
					if err := a.SendFrame(rawFrame(b.MAC, a.MAC, m)); err != nil {
						t.Fatal(err)
					}
				}
			}
			if !capB.WaitFor(withMarker(8), 5, 2*time.Second) {
				t.Fatalf("b received %d of the 5 frames the filter accepts", capB.Count(withMarker(8)))
			}
			time.Sleep(50 * time.Millisecond)
			if n := capB.Count(withMarker(7)); n != 0 {
				t.Errorf("b received %d frames the socket filter keeps from the switch", n)
			}
		})
	}
}

// TestRingSocketFilterError: a filter that fails fails Open with its error.
func TestRingSocketFilterError(t *testing.T) {
	lab := newLab(t, 1)
	refused := errors.New("refused by the test")
	err := lab.SwitchNS().Do(func() error {
		p, err := afpacket.Open(lab.SwitchPorts()[0], afpacket.Config{SocketFilter: func(int) error { return refused }})
		if err == nil {
			p.Close()
		}
		return err
	})
	if !errors.Is(err, refused) || !strings.Contains(err.Error(), "socket filter") {
		t.Fatalf("Open with a failing socket filter: %v, want the filter's error", err)
	}
}
