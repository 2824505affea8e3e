package daemon_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/daemon"
)

// fakeSteering is a daemon.Steering that records which ports are steered,
// refusing those named in refuse.
type fakeSteering struct {
	mu      sync.Mutex
	refuse  map[string]bool
	steered map[string]bool
	closed  int
}

func (s *fakeSteering) Steer(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse[name] {
		return errors.New("datapath.steer: port " + name + ": refused")
	}
	s.steered[name] = true
	return nil
}

func (s *fakeSteering) Restore(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.steered, name)
	return nil
}

func (s *fakeSteering) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed++
	clear(s.steered)
	return nil
}

func (s *fakeSteering) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n []string
	for k := range s.steered {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

// TestSteeringFollowsThePorts: Start steers every port after attaching the
// fast path; a reload steers the ports it adds and puts back those it
// removes; a port that cannot be steered refuses the reload that adds it
// (and is detached from the fast path again); Close puts every port back
// once.
func TestSteeringFollowsThePorts(t *testing.T) {
	r := &rig{t: t, ports: &ports{refuse: map[string]bool{}, closed: map[string]*bool{}}}
	r.file = t.TempDir() + "/snoopswitch.yaml"
	r.write(twoPorts)
	c, err := r.load()
	if err != nil {
		t.Fatal(err)
	}
	fast := newFakeFast()
	steer := &fakeSteering{refuse: map[string]bool{"d": true}, steered: map[string]bool{}}
	sw, err := daemon.Start(c, daemon.Options{Open: r.ports.open, Load: r.load, FastPath: fast, Steering: steer})
	if err != nil {
		t.Fatal(err)
	}
	r.sw = sw
	if got := steer.names(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("steered %v after the start, want [a b]", got)
	}
	r.write("ports:\n  - name: b\n  - name: c\n")
	if _, err := sw.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := steer.names(); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("steered %v after a reload that added c and removed a, want [b c]", got)
	}
	r.write("ports:\n  - name: b\n  - name: c\n  - name: d\n")
	if _, err := sw.Reload(); err == nil || !strings.Contains(err.Error(), "datapath.steer: port d") {
		t.Fatalf("Reload adding a port that cannot be steered = %v, want the steering's error", err)
	}
	if got := fast.names(); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("fast path attached to %v after the refused reload, want [b c]", got)
	}
	sw.Close()
	if steer.closed != 1 || len(steer.names()) != 0 {
		t.Errorf("Close: steering closed %d times, %v still steered; want once, none", steer.closed, steer.names())
	}

	// A failed start puts back what it steered.
	steer = &fakeSteering{refuse: map[string]bool{"b": true}, steered: map[string]bool{}}
	if _, err := daemon.Start(c, daemon.Options{Open: r.ports.open, Steering: steer}); err == nil {
		t.Fatal("Start with a port that cannot be steered: no error")
	}
	if steer.closed != 1 || len(steer.names()) != 0 {
		t.Errorf("failed start: steering closed %d times, %v still steered; want once, none", steer.closed, steer.names())
	}
}
