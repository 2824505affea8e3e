package scenario

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/snoopswitch/snoopswitch/snoop"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// A Device is the switch between a lab's hosts that a scenario runs on.
type Device interface {
	// Name is how reports call the device.
	Name() string
	// Snoops reports whether the device keeps membership state for group
	// at all; the runner waits for state only where it will come.
	Snoops(group netip.Addr) bool
	// Registered reports whether the device holds membership state for
	// group on the switch port of host h.
	Registered(h *testenv.Host, group netip.Addr) (bool, error)
}

// Timing of the runner.
const (
	// sendGap spaces the datagrams of a stream.
	sendGap = 5 * time.Millisecond
	// settle lets the last frames of the steps reach the captures.
	settle = 150 * time.Millisecond
	// joinWait is how long a join may take to reach the device's table.
	joinWait = 3 * time.Second
	// leaveWait is how long a leave may take to empty the leaver's port:
	// the last member query time is 2 x 1 s on both devices, and the
	// IGMPv2 and MLDv1 hosts' leave goes out at once.
	leaveWait = 5 * time.Second
	// pollEvery is how often the runner looks at the device's table.
	pollEvery = 20 * time.Millisecond
)

// A Runner runs scenarios on a lab whose hosts are joined by Device. The lab
// must have at least MaxHosts hosts; a scenario's i-th host is the lab's i-th.
type Runner struct {
	Lab    *testenv.Lab
	Device Device
	// Hosts, if not nil, are the hosts in place of Lab's (Lab may then be
	// nil): those of a fabric, on several machines' labs.
	Hosts []*testenv.Host
}

// hosts returns the hosts the scenario's hosts are, in order.
func (r *Runner) hosts() []*testenv.Host {
	if r.Hosts != nil {
		return r.Hosts
	}
	return r.Lab.Hosts()
}

// A Result is what the hosts of one scenario received on one device.
type Result struct {
	Scenario *Scenario
	// Got holds, for each of the scenario's expectations, the frames
	// counted.
	Got []int
	// Notes are what went other than planned without making the run
	// meaningless: a join the device did not register in time, a leave it
	// did not apply.
	Notes []string

	streams map[string]streamID // by Step.Stream
}

// StreamMatch returns a match for testenv.Capture.Count: the frames of
// the stream named name (a Send step's Stream) of this run, wherever they
// are captured (a fabric's tunnels too). It matches nothing for a stream
// the run did not send.
func (r *Result) StreamMatch(name string) func([]byte) bool {
	id, ok := r.streams[name]
	if !ok {
		return func([]byte) bool { return false }
	}
	return id.match
}

// Met reports whether the i-th expectation was met.
func (r *Result) Met(i int) bool { return r.Scenario.Expect[i].Want.Met(r.Got[i]) }

// Run runs s: it sets the hosts' protocol versions, starts a capture at each
// of them, runs the steps, counts what every host received once the last
// frames have landed, and ends the scenario's memberships. An error means
// the lab failed (a socket, a sysctl), not that an expectation was missed.
func (r *Runner) Run(s *Scenario) (*Result, error) {
	return r.RunContext(context.Background(), s)
}

// RunContext is Run, stopped with ctx's error between two steps or two
// datagrams once ctx is done.
func (r *Runner) RunContext(ctx context.Context, s *Scenario) (*Result, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	labHosts := r.hosts()
	if len(labHosts) < len(s.Hosts) {
		return nil, fmt.Errorf("scenario %q: needs %d hosts, the lab has %d", s.Name, len(s.Hosts), len(labHosts))
	}
	hosts := make(map[string]*testenv.Host)
	for i, h := range labHosts {
		igmp, mld := 0, 0
		if i < len(s.Hosts) {
			hosts[s.Hosts[i].Name] = h
			igmp, mld = s.Hosts[i].IGMP, s.Hosts[i].MLD
		}
		// Every lab host, so that none keeps the version an earlier
		// scenario forced.
		if err := h.ForceIGMPVersion(igmp); err != nil {
			return nil, err
		}
		if err := h.ForceMLDVersion(mld); err != nil {
			return nil, err
		}
	}
	caps := make(map[string]*testenv.Capture)
	defer func() {
		for _, c := range caps {
			c.Close()
		}
	}()
	for _, h := range s.Hosts {
		c, err := hosts[h.Name].Capture()
		if err != nil {
			return nil, err
		}
		caps[h.Name] = c
	}

	res := &Result{Scenario: s, streams: make(map[string]streamID)}
	memberships := make(map[string]*testenv.Membership) // by host and group
	defer func() {
		for _, m := range memberships {
			m.Leave()
		}
	}()
	streams := res.streams
	for i, st := range s.Steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h := hosts[st.Host]
		key := st.Host + " " + st.Group.String()
		switch st.Action {
		case Join, JoinSource, JoinExclude:
			if memberships[key] != nil {
				return nil, fmt.Errorf("scenario %q: step %d: %s already joined %s", s.Name, i+1, st.Host, st.Group)
			}
			var m *testenv.Membership
			var err error
			switch st.Action {
			case Join:
				m, err = h.Join(st.Group)
			case JoinSource:
				m, err = h.JoinSource(st.Group, hostAddr(hosts[st.Source], st.Group))
			case JoinExclude:
				m, err = h.JoinExclude(st.Group, hostAddr(hosts[st.Source], st.Group))
			}
			if err != nil {
				return nil, err
			}
			memberships[key] = m
			if st.Ignored {
				time.Sleep(settle)
				continue
			}
			if note, err := r.waitRegistered(h, st.Group, true, joinWait); err != nil {
				return nil, err
			} else if note != "" {
				res.Notes = append(res.Notes, fmt.Sprintf("step %d: %s %s: %s", i+1, st.Host, st.Action, note))
			}
		case Leave:
			m := memberships[key]
			if m == nil {
				return nil, fmt.Errorf("scenario %q: step %d: %s leaves %s, which it did not join", s.Name, i+1, st.Host, st.Group)
			}
			if err := m.Leave(); err != nil {
				return nil, err
			}
			delete(memberships, key)
			if sharesPort(labHosts, h) {
				// Other hosts behind h's port may still want the group:
				// the port keeps it. Let the leave arrive.
				time.Sleep(settle)
				continue
			}
			if note, err := r.waitRegistered(h, st.Group, false, leaveWait); err != nil {
				return nil, err
			} else if note != "" {
				res.Notes = append(res.Notes, fmt.Sprintf("step %d: %s leave: %s", i+1, st.Host, note))
			}
		case Send:
			id, ok := streams[st.Stream]
			if !ok {
				id = streamID{group: st.Group, port: streamPortBase + len(streams), tag: s.Name + "/" + st.Stream}
				streams[st.Stream] = id
			}
			for n := range st.Count {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				if err := h.SendUDP(st.Group, id.port, id.payload(n)); err != nil {
					return nil, fmt.Errorf("scenario %q: step %d: %s sends to %s: %w", s.Name, i+1, st.Host, st.Group, err)
				}
				time.Sleep(sendGap)
			}
		case Wait:
			time.Sleep(st.For)
		}
	}
	time.Sleep(settle)
	for _, e := range s.Expect {
		var match func([]byte) bool
		if e.Control != 0 {
			match = isControlAbout(e.Control, e.Group)
		} else {
			match = streams[e.Stream].match
		}
		res.Got = append(res.Got, caps[e.Host].Count(match))
	}
	return res, nil
}

// sharesPort reports whether another of hosts is behind h's switch port
// (testenv.Lab.AddHostsBehindPort).
func sharesPort(hosts []*testenv.Host, h *testenv.Host) bool {
	for _, o := range hosts {
		if o != h && o.SwitchPort == h.SwitchPort {
			return true
		}
	}
	return false
}

// waitRegistered waits until the device holds (want) or no longer holds
// (!want) group on h's port. It returns a note when it gave up after timeout.
func (r *Runner) waitRegistered(h *testenv.Host, group netip.Addr, want bool, timeout time.Duration) (string, error) {
	if !r.Device.Snoops(group) {
		return "", nil
	}
	deadline := time.Now().Add(timeout)
	for {
		got, err := r.Device.Registered(h, group)
		if err != nil {
			return "", err
		}
		if got == want {
			return "", nil
		}
		if time.Now().After(deadline) {
			if want {
				return fmt.Sprintf("%s did not register %s on %s's port within %v", r.Device.Name(), group, h.Name, timeout), nil
			}
			return fmt.Sprintf("%s still had %s on %s's port %v after the leave", r.Device.Name(), group, h.Name, timeout), nil
		}
		time.Sleep(pollEvery)
	}
}

// Ready waits until the device forwards multicast by membership for both
// IPv4 and IPv6: the lab's second host joins a probe group of each family,
// the first sends to them, and the device is ready once a datagram reaches
// the member and not the third host. It returns how long after the call the
// datagram that showed it (the last family's) was sent.
//
// The Linux bridge floods all multicast until its querier has been on for
// the query response interval (10 s), and for IPv6 only if the bridge has an
// IPv6 address to query from; snoopswitch is ready at once.
func (r *Runner) Ready(timeout time.Duration) (time.Duration, error) {
	hosts := r.hosts()
	if len(hosts) < 3 {
		return 0, fmt.Errorf("scenario: the readiness probe needs 3 hosts, the lab has %d", len(hosts))
	}
	src, member, other := hosts[0], hosts[1], hosts[2]
	for _, h := range hosts {
		if err := errors.Join(h.ForceIGMPVersion(0), h.ForceMLDVersion(0)); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	var caps []*testenv.Capture
	defer func() {
		for _, c := range caps {
			c.Close()
		}
	}()
	for _, h := range []*testenv.Host{member, other} {
		c, err := h.Capture()
		if err != nil {
			return 0, err
		}
		caps = append(caps, c)
	}
	ready := make(map[netip.Addr]bool)
	var readyAt time.Time // when the last family's first constrained datagram left
	for _, g := range []netip.Addr{probeGroup4, probeGroup6} {
		m, err := member.Join(g)
		if err != nil {
			return 0, err
		}
		defer m.Leave()
		if note, err := r.waitRegistered(member, g, true, joinWait); err != nil {
			return 0, err
		} else if note != "" {
			return 0, errors.New("scenario: readiness probe: " + note)
		}
	}
	for n := 0; ; n++ {
		for _, g := range []netip.Addr{probeGroup4, probeGroup6} {
			if ready[g] {
				continue
			}
			id := streamID{group: g, port: probePort, tag: fmt.Sprintf("probe %d", n)}
			sent := time.Now()
			if err := src.SendUDP(g, id.port, id.payload(0)); err != nil {
				return 0, err
			}
			// The copies to the member and to the other host leave the
			// device together; give the other's the time to land too.
			if caps[0].WaitFor(id.match, 1, time.Second) {
				time.Sleep(settle)
				if caps[1].Count(id.match) == 0 {
					ready[g] = true
					readyAt = sent
				}
			}
		}
		if len(ready) == 2 {
			return readyAt.Sub(start), nil
		}
		if time.Since(start) > timeout {
			var not []string
			for _, g := range []netip.Addr{probeGroup4, probeGroup6} {
				if !ready[g] {
					not = append(not, g.String())
				}
			}
			return 0, fmt.Errorf("scenario: %s still floods multicast to non-members after %v (probe groups %s)",
				r.Device.Name(), timeout, strings.Join(not, ", "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// UDP ports of the streams: a scenario's n-th stream uses streamPortBase+n.
const (
	streamPortBase = 20000
	probePort      = 19999
)

// A streamID identifies the datagrams of one stream: group, port, and a
// payload that starts with the scenario's and stream's names, so that a late
// datagram of another scenario is never counted.
type streamID struct {
	group netip.Addr
	port  int
	tag   string
}

func (id streamID) match(f []byte) bool {
	payload, ok := udpPayload(f, id.group, id.port)
	return ok && strings.HasPrefix(string(payload), id.tag+" ")
}

// payload returns the payload of the stream's n-th datagram.
func (id streamID) payload(n int) []byte { return fmt.Appendf(nil, "%s %d", id.tag, n) }

// udpPayload returns the payload of a frame carrying UDP to group:port
// (IPv4, or IPv6 without extension headers, as hosts send datagrams).
func udpPayload(f []byte, group netip.Addr, port int) ([]byte, bool) {
	if len(f) < 14 {
		return nil, false
	}
	ip := f[14:]
	var udp []byte
	switch binary.BigEndian.Uint16(f[12:14]) {
	case 0x0800:
		if len(ip) < 20 || ip[9] != 17 || netip.AddrFrom4([4]byte(ip[16:20])) != group {
			return nil, false
		}
		ihl := int(ip[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(ip[2:4]))
		if ihl < 20 || total < ihl+8 || total > len(ip) {
			return nil, false
		}
		udp = ip[ihl:total]
	case 0x86dd:
		if len(ip) < 48 || ip[6] != 17 || netip.AddrFrom16([16]byte(ip[24:40])) != group {
			return nil, false
		}
		plen := int(binary.BigEndian.Uint16(ip[4:6]))
		if plen < 8 || 40+plen > len(ip) {
			return nil, false
		}
		udp = ip[40 : 40+plen]
	default:
		return nil, false
	}
	if int(binary.BigEndian.Uint16(udp[2:4])) != port {
		return nil, false
	}
	return udp[8:], true
}

// isControlAbout matches the IGMP and MLD messages of kind what (any
// version) that name group, alone or in one of their records.
func isControlAbout(what Control, group netip.Addr) func([]byte) bool {
	return func(f []byte) bool {
		if len(f) < 14 {
			return false
		}
		var m snoop.Message
		if snoop.Parse(binary.BigEndian.Uint16(f[12:14]), f[14:], &m) != nil {
			return false
		}
		switch m.Type {
		case snoop.MsgIGMPv1Report, snoop.MsgIGMPv2Report, snoop.MsgMLDv1Report:
			return what == Reports && m.Group == group
		case snoop.MsgIGMPv2Leave, snoop.MsgMLDv1Done:
			return what == Leaves && m.Group == group
		case snoop.MsgIGMPv3Report, snoop.MsgMLDv2Report:
			for _, rec := range m.Records {
				if rec.Group == group {
					return what == Reports
				}
			}
		}
		return false
	}
}

// hostAddr returns h's address of group's family.
func hostAddr(h *testenv.Host, group netip.Addr) netip.Addr {
	if group.Is4() {
		return h.IPv4.Addr()
	}
	return h.IPv6.Addr()
}
