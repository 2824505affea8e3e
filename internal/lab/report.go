package lab

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/snoopswitch/snoopswitch/snoop"
)

// A Report is what one run of a lab counted at its hosts.
type Report struct {
	Topology *Topology
	// Hosts are the lab's hosts, in topology order.
	Hosts []HostInfo
	// Querier says which querier the hosts answer to.
	Querier string
	Pings   PingSummary
	// Received[i][j] is how many datagrams of Topology.Streams[i] host j's
	// eth0 received; -1 for the stream's own sender.
	Received [][]int
	Attacks  []AttackResult
	// Notes are what went other than planned without deciding the result,
	// such as a join the switch took long to register.
	Notes []string
}

// HostInfo is what the report shows of a lab host.
type HostInfo struct {
	Name       string
	SwitchPort string
	IPv4       netip.Prefix
	IPv6       netip.Prefix
	LinkLocal  netip.Addr
}

// PingSummary sums the echo requests from every host to the next.
type PingSummary struct {
	Sent, Received int
	Median, Max    time.Duration
}

// An AttackResult is what an attack achieved.
type AttackResult struct {
	Attack Attack
	// Sources are the addresses the attack's frames came from.
	Sources []netip.Addr
	// Sent counts the frames the attacker sent.
	Sent int
	// Drops are the switch's drops on the attacker's port during the
	// attack, by reason.
	Drops map[string]uint64
	// Reached counts, by host name, the attack's frames that host's eth0
	// received.
	Reached map[string]int
	// Before and After are the querier election as the attack began and
	// once it was over.
	Before, After []snoop.QuerierStatus
}

// wants reports whether host j should receive stream s (Topology.Wants).
func (r *Report) wants(j int, s Stream) bool { return r.Topology.Wants(j, s) }

// Failures lists what the counts show went wrong: a host that missed a
// datagram it asked for or got one it did not, an attack frame that got
// through or went uncounted, a querier election the attack changed, lost
// pings. Empty means the lab showed what it should.
func (r *Report) Failures() []string {
	var out []string
	if r.Pings.Received < r.Pings.Sent {
		out = append(out, fmt.Sprintf("unicast: %d of %d echo requests got no reply", r.Pings.Sent-r.Pings.Received, r.Pings.Sent))
	}
	for i, s := range r.Topology.Streams {
		for j, h := range r.Topology.Hosts {
			got := r.Received[i][j]
			switch {
			case got < 0:
			case r.wants(j, s) && got != s.Count:
				out = append(out, fmt.Sprintf("%s got %d of the %d datagrams to %s, and it should get every one", h.Name, got, s.Count, s.Name()))
			case !r.wants(j, s) && got != 0:
				out = append(out, fmt.Sprintf("%s got %d datagrams to %s, and it did not ask for them", h.Name, got, s.Name()))
			}
		}
	}
	for _, a := range r.Attacks {
		for _, h := range r.Hosts {
			if n := a.Reached[h.Name]; n > 0 {
				out = append(out, fmt.Sprintf("%s: %d of %s's queries reached %s", a.Attack.Kind, n, a.Attack.From, h.Name))
			}
		}
		if d := sum(a.Drops); d != uint64(a.Sent) {
			out = append(out, fmt.Sprintf("%s: the switch counted %d drops on %s's port for the %d queries it sent", a.Attack.Kind, d, a.Attack.From, a.Sent))
		}
		for _, after := range a.After {
			if before := findElection(a.Before, after); before == nil || before.Querier != after.Querier {
				out = append(out, fmt.Sprintf("%s: the %s querier changed to %s during the attack", a.Attack.Kind, familyName(after.Family), after.Querier))
			}
		}
	}
	return out
}

func findElection(list []snoop.QuerierStatus, st snoop.QuerierStatus) *snoop.QuerierStatus {
	for i := range list {
		if list[i].VLAN == st.VLAN && list[i].Family == st.Family {
			return &list[i]
		}
	}
	return nil
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

func familyName(family int) string {
	if family == 6 {
		return "MLD"
	}
	return "IGMP"
}

// Write prints the report: the hosts, the datagrams each received against
// what a MAC-based and a flooding switch would have delivered, the groups
// that share a MAC, the attacks, and the verdict.
func (r *Report) Write(w io.Writer) {
	t := r.Topology
	fmt.Fprintf(w, "Hosts (%s), each in a namespace behind a switch port:\n", t.Name)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  HOST\tSWITCH PORT\tPORT\tIPv4\tIPv6\tJOINS, BY ITS KERNEL")
	for j, h := range r.Hosts {
		role := "host"
		if t.Hosts[j].Router {
			role = "router"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", h.Name, h.SwitchPort, role, h.IPv4.Addr(), h.IPv6.Addr(), r.joins(j))
	}
	tw.Flush()
	fmt.Fprintf(w, "Querier: %s", r.Querier)
	var routers []string
	for _, h := range t.Hosts {
		if h.Router {
			routers = append(routers, h.Name)
		}
	}
	if len(routers) > 0 {
		// A user could take the router namespace for the querier.
		fmt.Fprintf(w, ";\n%s, on a router port, runs no multicast routing daemon: it sends and receives streams", strings.Join(routers, ", "))
	}
	fmt.Fprintln(w, ".")
	p := r.Pings
	fmt.Fprintf(w, "Unicast: %d/%d echo replies, each host to the next over IPv4 and IPv6 (RTT median %s, max %s).\n",
		p.Received, p.Sent, fmtRTT(p.Median), fmtRTT(p.Max))

	r.writeStreams(w)
	r.writeSharedMACs(w)
	for _, a := range r.Attacks {
		r.writeAttack(w, a)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\nNote: %s\n", n)
	}
}

// joins describes host j's joins: "224.1.1.1 (IGMPv2)", "232.1.1.1 from
// router (IGMPv3 INCLUDE)".
func (r *Report) joins(j int) string {
	h := &r.Topology.Hosts[j]
	var parts []string
	for _, jn := range h.Joins {
		// A host that follows the querier speaks what it speaks: IGMPv3
		// and MLDv2.
		proto := fmt.Sprintf("IGMPv%d", orDefault(h.IGMP, 3))
		if jn.Group.Is6() {
			proto = fmt.Sprintf("MLDv%d", orDefault(h.MLD, 2))
		}
		part := fmt.Sprintf("%s (%s)", jn.Group, proto)
		if jn.Source != "" {
			part = fmt.Sprintf("%s from %s (%s INCLUDE)", jn.Group, jn.Source, proto)
		}
		if jn.Leave {
			part += " then left"
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// orDefault returns v, or def when v is 0.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// macBased reports whether a snooping switch that forwards by MAC address
// would send stream s to host j: j, or a host behind its shared port,
// joined a group of the same MAC and stayed (for any source: such a switch
// has no sources), or j is a router port.
func (r *Report) macBased(j int, s Stream) bool {
	h := &r.Topology.Hosts[j]
	if h.Router {
		return true
	}
	mac := snoop.MulticastMAC(s.Group)
	for _, o := range r.Topology.Hosts {
		// A host behind a shared port gets what its port gets.
		if o.Name != h.Name && (h.Port == "" || o.Port != h.Port) {
			continue
		}
		if o.Name != h.Name && o.Name == s.From {
			return true
		}
		for _, jn := range o.Joins {
			if !jn.Leave && snoop.MulticastMAC(jn.Group) == mac {
				return true
			}
		}
	}
	return false
}

func (r *Report) writeStreams(w io.Writer) {
	t := r.Topology
	fmt.Fprintln(w, "\nMulticast datagrams each host received, counted at its eth0")
	fmt.Fprintln(w, "(* = it asked for them, or a host behind its shared port did, or it is on a router port;")
	fmt.Fprintln(w, "- = it sent them):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "  STREAM\tSENT")
	for _, h := range r.Hosts {
		fmt.Fprintf(tw, "\t%s", h.Name)
	}
	fmt.Fprintln(tw)
	n := len(r.Hosts)
	got, macBased, flooded := make([]int, n), make([]int, n), make([]int, n)
	for i, s := range t.Streams {
		fmt.Fprintf(tw, "  %s\t%d", s.Name(), s.Count)
		for j := range r.Hosts {
			c := r.Received[i][j]
			switch {
			case c < 0:
				fmt.Fprint(tw, "\t-")
				continue
			case r.wants(j, s):
				fmt.Fprintf(tw, "\t%d*", c)
			default:
				fmt.Fprintf(tw, "\t%d", c)
			}
			got[j] += c
			flooded[j] += s.Count
			if r.macBased(j, s) {
				macBased[j] += s.Count
			}
		}
		fmt.Fprintln(tw)
	}
	row := func(name string, counts []int) int {
		total := 0
		fmt.Fprintf(tw, "  %s\t", name)
		for _, c := range counts {
			fmt.Fprintf(tw, "\t%d", c)
			total += c
		}
		fmt.Fprintf(tw, "\t= %d\n", total)
		return total
	}
	delivered := row("snoopswitch delivered", got)
	mac := row("a MAC-based switch would have", macBased)
	flood := row("a flooding switch would have", flooded)
	tw.Flush()
	if flood > 0 {
		fmt.Fprintf(w, "Frames saved: %d of %d against flooding (%.0f%%), %d against a MAC-based snooping switch.\n",
			flood-delivered, flood, 100*float64(flood-delivered)/float64(flood), mac-delivered)
	}
}

// writeSharedMACs shows, for each set of streamed groups that share a MAC,
// what each member of one of them received of the others.
func (r *Report) writeSharedMACs(w io.Writer) {
	t := r.Topology
	for _, groups := range SharedMACGroups(t) {
		mac := snoop.MulticastMAC(groups[0])
		names := make([]string, len(groups))
		for i, g := range groups {
			names[i] = g.String()
		}
		last := len(names) - 1
		fmt.Fprintf(w, "\n32 groups, one MAC: %s and %s all map to %s.\n", strings.Join(names[:last], ", "), names[last], net.HardwareAddr(mac[:]))
		fmt.Fprintf(w, "A switch that forwards by MAC gives each member all %d; snoopswitch forwards by group and source:\n", len(names))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  HOST\tJOINED\tUNWANTED, MAC-BASED SWITCH\tUNWANTED, SNOOPSWITCH")
		for j, h := range t.Hosts {
			if h.Router {
				continue
			}
			var joined []string
			for _, jn := range h.Joins {
				if slices.Contains(groups, jn.Group) {
					joined = append(joined, jn.Group.String())
				}
			}
			if len(joined) == 0 {
				continue
			}
			leak, sent := 0, 0
			for i, s := range t.Streams {
				if !slices.Contains(groups, s.Group) || r.wants(j, s) || r.Received[i][j] < 0 {
					continue
				}
				leak += s.Count
				sent += r.Received[i][j]
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\n", h.Name, strings.Join(joined, ", "), leak, sent)
		}
		tw.Flush()
	}
}

func (r *Report) writeAttack(w io.Writer, a AttackResult) {
	var srcs []string
	for _, s := range a.Sources {
		srcs = append(srcs, s.String())
	}
	fmt.Fprintf(w, "\nRogue querier: %s sent %d IGMPv3 and %d MLDv2 general queries during the streams, from\n",
		a.Attack.From, a.Attack.Count, a.Attack.Count)
	fmt.Fprintf(w, "%s, to take the querier role (any address beats snoopswitch's 0.0.0.0):\n", strings.Join(srcs, " and "))
	var drops []string
	for _, reason := range sortedKeys(a.Drops) {
		if a.Drops[reason] > 0 {
			drops = append(drops, fmt.Sprintf("%s=%d", reason, a.Drops[reason]))
		}
	}
	if len(drops) == 0 {
		drops = append(drops, "none")
	}
	port := a.Attack.From
	for _, h := range r.Hosts {
		if h.Name == a.Attack.From {
			port = h.SwitchPort
		}
	}
	fmt.Fprintf(w, "  guard drops on port %s: %s (of %d sent)\n", port, strings.Join(drops, " "), a.Sent)
	reached, others := 0, 0
	for _, h := range r.Hosts {
		if h.Name != a.Attack.From {
			reached += a.Reached[h.Name]
			others++
		}
	}
	fmt.Fprintf(w, "  queries that reached the other hosts: %d (a flooding switch: %d, all %d to each of %d)\n", reached, a.Sent*others, a.Sent, others)
	for _, after := range a.After {
		verdict := "still elected"
		if before := findElection(a.Before, after); before == nil || before.Querier != after.Querier {
			verdict = "CHANGED"
		}
		fmt.Fprintf(w, "  %s querier: %s, %s\n", familyName(after.Family), r.querierName(after), verdict)
	}
}

// querierName says who the elected querier is: snoopswitch itself, or the
// host that has its address.
func (r *Report) querierName(st snoop.QuerierStatus) string {
	if st.SelfQuerier {
		return fmt.Sprintf("snoopswitch (%s)", st.Querier)
	}
	for _, h := range r.Hosts {
		if st.Querier == h.IPv4.Addr() || st.Querier == h.LinkLocal || st.Querier == h.IPv6.Addr() {
			return fmt.Sprintf("%s (%s)", h.Name, st.Querier)
		}
	}
	return st.Querier.String()
}

func sortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func fmtRTT(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(time.Microsecond).String()
}
