package switching_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	switching "github.com/snoopswitch/snoopswitch/switch"
)

// recordingPoller is a Poller that records the ports of every loop it
// serves, hands each port one frame (a broadcast from the port's own MAC),
// and idles until ctx is done.
type recordingPoller struct {
	mu    sync.Mutex
	loops [][]string // port names, one slice per Poll call
	fail  error      // returned at once by Poll when set
}

func (r *recordingPoller) Poll(ctx context.Context, ports []switching.ReceivePort) error {
	var names []string
	for _, rp := range ports {
		names = append(names, rp.Backend.Name())
		rp.Handle([]switching.Packet{ownBroadcast(rp.Backend.Name())})
	}
	r.mu.Lock()
	r.loops = append(r.loops, names)
	r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	<-ctx.Done()
	return nil
}

func (r *recordingPoller) calls() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.loops)
}

// ownBroadcast is a broadcast frame from a MAC that is the port's own
// (its name's first letter).
func ownBroadcast(name string) switching.Packet {
	b := frame(bcast, mac(name[0]), 0x88b5)
	return switching.Packet{Data: b, Len: len(b)}
}

// polledPort is a nullPort served by a shared Poller.
type polledPort struct {
	*nullPort
	poller *recordingPoller
}

func (p polledPort) Poller() switching.Poller { return p.poller }

// feedPort is a nullPort whose own Receive hands it one frame, then idles.
type feedPort struct{ *nullPort }

func (p feedPort) Receive(ctx context.Context, handle func([]switching.Packet)) error {
	handle([]switching.Packet{ownBroadcast(p.name)})
	<-ctx.Done()
	return nil
}

// TestReceiveLoopsSharePollers: the ports of one Poller are spread, in port
// order, over at most Config.ReceiveLoops loops (one by default), pollers
// of different kinds never share a loop, a backend without a Poller
// receives on its own, and every port's frames reach its own pipeline.
func TestReceiveLoopsSharePollers(t *testing.T) {
	for _, c := range []struct {
		loops     int
		ring, tap [][]string
	}{
		{0, [][]string{{"a", "b", "d", "f", "g"}}, [][]string{{"e"}}},
		{1, [][]string{{"a", "b", "d", "f", "g"}}, [][]string{{"e"}}},
		{2, [][]string{{"a", "d", "g"}, {"b", "f"}}, [][]string{{"e"}}},
		{8, [][]string{{"a"}, {"b"}, {"d"}, {"f"}, {"g"}}, [][]string{{"e"}}},
	} {
		ring, tap := &recordingPoller{}, &recordingPoller{}
		e, err := switching.New(switching.Config{ReceiveLoops: c.loops})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range "abcdefg" {
			m := &nullPort{name: string(n)}
			var b switching.Backend = polledPort{m, ring}
			switch n {
			case 'c':
				b = feedPort{m}
			case 'e':
				b = polledPort{m, tap}
			}
			if _, err := e.AddPort(b); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		deadline := time.Now().Add(5 * time.Second)
		for {
			received := 0
			for _, s := range e.Stats() {
				received += int(s.RxFrames)
			}
			if received == 7 && len(ring.calls()) == len(c.ring) && len(tap.calls()) == len(c.tap) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("loops %d: %d frames received, ring loops %v, tap loops %v", c.loops, received, ring.calls(), tap.calls())
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		for _, got := range []struct {
			kind        string
			calls, want [][]string
		}{{"ring", ring.calls(), c.ring}, {"tap", tap.calls(), c.tap}} {
			// The loops start in any order.
			slices.SortFunc(got.calls, func(x, y []string) int { return strings.Compare(x[0], y[0]) })
			if !slices.EqualFunc(got.calls, got.want, slices.Equal) {
				t.Errorf("loops %d: %s ports polled as %v, want %v", c.loops, got.kind, got.calls, got.want)
			}
		}
		for i, s := range e.Stats() {
			if s.RxFrames != 1 {
				t.Errorf("loops %d: port %s received %d frames, want its 1", c.loops, s.Name, s.RxFrames)
			}
			// The frame came from the port's own MAC, so it was
			// learned on that port and no other.
			if got, ok := e.MACTable().Lookup(0, mac(s.Name[0]), time.Now()); !ok || int(got) != i {
				t.Errorf("loops %d: the MAC behind port %s is on port %d (%v)", c.loops, s.Name, got, ok)
			}
		}
	}
}

// TestReceiveLoopErrorIsRunsError: a Poller that cannot receive hands its
// error to Run, as a Backend's Receive does.
func TestReceiveLoopErrorIsRunsError(t *testing.T) {
	broken := errors.New("poll: bad file descriptor")
	p := &recordingPoller{fail: broken}
	e, err := switching.New(switching.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range "ab" {
		if _, err := e.AddPort(polledPort{&nullPort{name: string(n)}, p}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(p.calls()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the poller was never called")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, broken) {
		t.Errorf("Run returned %v, want the poller's %v", err, broken)
	}
}
