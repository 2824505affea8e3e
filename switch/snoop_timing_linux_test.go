package switching_test

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// How long a join takes to bring a group's traffic to a host, and a leave
// to stop it, through a snooping switch in the namespace lab, with the
// default timers. BENCHMARKS.md ("Multicast snooping") has the figures of
// five runs:
//
//	sudo go test -run TestSnoopTimingLinux -count 5 -v ./switch/
//
// The test logs the figures and checks only loose bounds (the first datagram
// within 1 s of the join; the last within the last member query time plus
// 1 s of the leave), never speed goals.

// timingPort is the UDP port of the timed streams.
const timingPort = 5999

// timingSeq returns the sequence number of a datagram of the timed stream
// to group, and whether frame is one: IPv4, UDP to group:timingPort, with
// the 8-byte sequence number as payload.
func timingSeq(group netip.Addr, frame []byte) (uint64, bool) {
	if len(frame) < 14+20 || binary.BigEndian.Uint16(frame[12:14]) != 0x0800 {
		return 0, false
	}
	ip := frame[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 || ip[9] != 17 || netip.AddrFrom4([4]byte(ip[16:20])) != group {
		return 0, false
	}
	udp := ip[ihl:]
	if len(udp) < 8+8 || binary.BigEndian.Uint16(udp[2:4]) != timingPort {
		return 0, false
	}
	return binary.BigEndian.Uint64(udp[8:16]), true
}

// timingSeqs returns the sequence numbers of the stream to group that c
// captured, from sequence number from on, in arrival order.
func timingSeqs(c *testenv.Capture, group netip.Addr, from uint64) []uint64 {
	var seqs []uint64
	for _, f := range c.Frames() {
		if seq, ok := timingSeq(group, f); ok && seq >= from {
			seqs = append(seqs, seq)
		}
	}
	return seqs
}

// timingStream sends datagram after datagram to group from a host, one per
// millisecond tick, each carrying its sequence number, and records when
// each send returned.
type timingStream struct {
	mu    sync.Mutex
	sent  []time.Time // by sequence number: when SendUDP returned
	errs  int
	first error
	stop  chan struct{}
	done  chan struct{}
}

func startTimingStream(from *testenv.Host, group netip.Addr) *timingStream {
	s := &timingStream{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		payload := make([]byte, 8)
		for seq := uint64(0); ; seq++ {
			binary.BigEndian.PutUint64(payload, seq)
			err := from.SendUDP(group, timingPort, payload)
			now := time.Now()
			s.mu.Lock()
			s.sent = append(s.sent, now)
			if err != nil {
				if s.errs++; s.first == nil {
					s.first = err
				}
			}
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// count returns how many datagrams have been sent so far.
func (s *timingStream) count() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return uint64(len(s.sent))
}

// end stops the stream and returns the send times, the number of failed
// sends and the first failure.
func (s *timingStream) end() ([]time.Time, int, error) {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent, s.errs, s.first
}

// timingWatch polls the switch's group table from now on until port's
// membership of group is present (or, with present false, gone), and sends
// when it saw that on the returned channel; the zero time after timeout.
func timingWatch(sn *snoop.Snooper, group netip.Addr, port fdb.PortID, present bool, timeout time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	go func() {
		deadline := time.Now().Add(timeout)
		for time.Now().Before(deadline) {
			if _, ok := sn.Groups().Get(0, group, port); ok == present {
				c <- time.Now()
				return
			}
			time.Sleep(100 * time.Microsecond)
		}
		c <- time.Time{}
	}()
	return c
}

// TestSnoopTimingLinux measures join-to-first-packet and
// leave-to-last-packet on one switch: first with the default leave (the
// switch, the querier, asks with group-specific queries for the last member
// query time), then with fast leave on the receiver's port, each on a group
// of its own.
func TestSnoopTimingLinux(t *testing.T) {
	var fast atomic.Bool
	l := newTimingLab(t, "", &fast)
	t.Run("querier-leave", func(t *testing.T) { l.cycle(t, netip.MustParseAddr("239.1.2.3"), false) })
	fast.Store(true)
	t.Run("fast-leave", func(t *testing.T) { l.cycle(t, netip.MustParseAddr("239.1.2.4"), true) })
}

// newTimingLab starts a timingLab on datapath d (testenv.SwitchConfig's),
// with fast leave on the receiver's port while fast holds true.
func newTimingLab(t *testing.T, d string, fast *atomic.Bool) *timingLab {
	t.Helper()
	lab := testenv.New(t)
	var hosts []*testenv.Host
	for _, n := range []string{"src", "rx", "idle"} {
		h, err := lab.AddHost(n, testenv.HostOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	const rxPort fdb.PortID = 1 // ports are in host order
	cfg := snoop.Config{}
	cfg.Membership.FastLeave = func(p fdb.PortID) bool { return p == rxPort && fast.Load() }
	started := time.Now()
	sw := testenv.StartSwitch(t, lab, testenv.SwitchConfig{Engine: switching.Config{Snooping: &cfg}, Datapath: d})
	if id, ok := sw.Engine.PortID(hosts[1].SwitchPort); !ok || id != rxPort {
		t.Fatalf("the receiver is on port %d (%v), want %d", id, ok, rxPort)
	}
	return &timingLab{src: hosts[0], rx: hosts[1], idle: hosts[2], rxPort: rxPort, sn: sw.Engine.Snooper(), sw: sw, started: started}
}

// timingLab is a snooping switch with the default timers, which is the
// querier (nobody else queries), and a sender, a receiver and an idle host.
type timingLab struct {
	src, rx, idle *testenv.Host
	rxPort        fdb.PortID
	sn            *snoop.Snooper
	sw            *testenv.Switch
	started       time.Time // when the switch was started
}

// cycle: the sender streams to group about every millisecond; once the
// stream reaches no host, the receiver joins, stays half a second and
// leaves; the idle host stays out. A leave ends after the last member query
// time (2 x 1 s), or, with fastLeave, as soon as the switch hears it. It
// returns leave-to-last-packet: from the leave to the send of the last
// datagram the receiver got (-1 if it failed before it could say).
func (l *timingLab) cycle(t *testing.T, group netip.Addr, fastLeave bool) time.Duration {
	sn := l.sn
	lmqt := sn.Membership().Timers(0, 4).LastMemberQueryTime()
	limit := lmqt + time.Second
	if fastLeave {
		limit = time.Second
	}
	rxCap, err := l.rx.Capture()
	if err != nil {
		t.Fatal(err)
	}
	defer rxCap.Close()
	idleCap, err := l.idle.Capture()
	if err != nil {
		t.Fatal(err)
	}
	defer idleCap.Close()
	isStream := func(f []byte) bool { _, ok := timingSeq(group, f); return ok }
	stream := startTimingStream(l.src, group)
	defer stream.end()

	// Nobody joined the group: wait until 200 ms pass without a datagram of
	// the stream at either host (a switch may flood unregistered groups
	// while it learns who listens), then 200 ms more. Only datagrams from
	// quiet on count.
	var quiet uint64
	flooded := 0
	for deadline := time.Now().Add(30 * time.Second); ; {
		n := rxCap.Count(isStream) + idleCap.Count(isStream)
		mark := stream.count()
		time.Sleep(200 * time.Millisecond)
		if rxCap.Count(isStream)+idleCap.Count(isStream) == n {
			quiet, flooded = mark, n
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream to %s, which nobody joined, still reached the hosts after 30 s", group)
		}
	}
	if flooded > 0 {
		t.Logf("the stream to the group nobody joined reached the hosts (%d datagrams) until %.1f-%.1f s after the switch started",
			flooded, time.Since(l.started).Seconds()-0.4, time.Since(l.started).Seconds()-0.2)
	}
	time.Sleep(200 * time.Millisecond)

	if !sn.Querier().IsQuerier(0, 4, time.Now()) {
		t.Error("the switch is not the IGMP querier; the leave timing assumes it is")
	}
	installed := timingWatch(sn, group, l.rxPort, true, time.Second)
	joinAt := time.Now()
	m, err := l.rx.Join(group)
	joined := time.Since(joinAt)
	if err != nil {
		t.Fatal(err)
	}
	seen := rxCap.WaitFor(func(f []byte) bool { seq, ok := timingSeq(group, f); return ok && seq >= quiet }, 1, time.Second)
	seenAt := time.Now()
	installedAt := <-installed
	time.Sleep(500 * time.Millisecond)

	removed := timingWatch(sn, group, l.rxPort, false, limit)
	leaveAt := time.Now()
	if err := m.Leave(); err != nil {
		t.Fatal(err)
	}
	left := time.Since(leaveAt)
	removedAt := <-removed
	time.Sleep(500 * time.Millisecond)
	sent, sendErrs, sendErr := stream.end()
	time.Sleep(100 * time.Millisecond) // the last frames land

	if sendErrs > 0 {
		t.Fatalf("%d of %d sends failed, the first: %v", sendErrs, len(sent), sendErr)
	}
	if !seen {
		t.Fatalf("no datagram reached the receiver within 1 s of its join (%d sent)", len(sent))
	}
	if n := len(timingSeqs(idleCap, group, quiet)); n != 0 {
		t.Errorf("the idle host received %d datagrams of the stream, want 0", n)
	}
	seqs := timingSeqs(rxCap, group, quiet)
	if len(seqs) == 0 {
		t.Fatal("the receiver captured none of the stream")
	}
	slices.Sort(seqs)
	if d := len(seqs) - len(slices.Compact(seqs)); d > 0 {
		t.Errorf("%d datagrams arrived twice", d)
	}
	seqs = slices.Compact(seqs)
	first, last := seqs[0], seqs[len(seqs)-1]
	if last >= uint64(len(sent)) {
		t.Fatalf("captured datagram %d, but only %d were sent", last, len(sent))
	}
	if sent[first].Before(joinAt) {
		t.Errorf("datagram %d, sent %v before the join, reached the receiver", first, joinAt.Sub(sent[first]))
	}
	missing := int(last-first+1) - len(seqs)
	if missing*100 > len(seqs) {
		t.Errorf("%d of the %d datagrams between the first and the last received went missing", missing, last-first+1)
	}

	// sent[first] is when the send of the first datagram forwarded
	// returned; the one before it, sent[first-1], was not forwarded. The
	// switch began forwarding in between: the figures are good to the
	// stream's spacing. Likewise for the last.
	joinToFirst := sent[first].Sub(joinAt)
	leaveToLast := sent[last].Sub(leaveAt)
	joinLow := sent[first-1].Sub(joinAt) // first > quiet > 0
	var leaveHigh time.Duration = -1
	if int(last)+1 < len(sent) {
		leaveHigh = sent[last+1].Sub(leaveAt)
	}
	gaps := make([]time.Duration, 0, len(sent))
	for i := int(quiet) + 1; i < len(sent); i++ {
		gaps = append(gaps, sent[i].Sub(sent[i-1]))
	}
	slices.Sort(gaps)
	t.Logf("fast leave %v, last member query time %v, %d datagrams sent after the quiet start (spacing median %v, max %v), %d received, %d missing",
		fastLeave, lmqt, len(sent)-int(quiet), gaps[len(gaps)/2], gaps[len(gaps)-1], len(seqs), missing)
	t.Logf("join-to-first-packet: %.1f ms (Join returned at %.1f ms; the switch held the membership at %.1f ms; "+
		"datagram %d was the first forwarded, the one before it, sent at %.1f ms, was not; the receiver's capture saw it at %.1f ms)",
		timingMS(joinToFirst), timingMS(joined), timingMS(timingSince(installedAt, joinAt)), first, timingMS(joinLow), timingMS(seenAt.Sub(joinAt)))
	t.Logf("leave-to-last-packet: %.1f ms (Leave returned at %.1f ms; the switch dropped the membership at %.1f ms; "+
		"datagram %d was the last forwarded, the next, sent at %.1f ms, was not)",
		timingMS(leaveToLast), timingMS(left), timingMS(timingSince(removedAt, leaveAt)), last, timingMS(leaveHigh))

	if joinToFirst > time.Second {
		t.Errorf("join-to-first-packet %v, want within 1 s", joinToFirst)
	}
	if leaveToLast > limit {
		t.Errorf("leave-to-last-packet %v, want within %v", leaveToLast, limit)
	}
	if int(last)+1 >= len(sent) || sent[len(sent)-1].Sub(sent[last]) < 400*time.Millisecond {
		t.Errorf("the receiver still got the stream %v after its leave: datagram %d of %d", sent[len(sent)-1].Sub(leaveAt), last, len(sent))
	}
	return leaveToLast
}

func timingMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// timingSince returns t - from, or -1 if t is zero (never seen).
func timingSince(t, from time.Time) time.Duration {
	if t.IsZero() {
		return -1
	}
	return t.Sub(from)
}
