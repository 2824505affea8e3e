// Package control is the switch's control socket: a unix socket on which
// `snoopswitch run` answers `snoopswitch show` with JSON reports (one typed
// report per topic: GroupsReport, PortsReport, FDBReport, RoutersReport,
// QuerierReport), applies runtime rules (`snoopswitch rule`) and reloads
// (`snoopswitch reload`, answered with a ReloadResult), and the client side
// of each. It also serves the Prometheus metrics, and writes the reports as
// the text tables that show, the SIGUSR1 status and replay print (table.go).
//
// "Control" alone names this socket. The engine's loop that applies
// control packets and runs the timers is the control plane
// (switching's controlPlane); the guard's checks of an IGMP/MLD/PIM/MRD
// packet are Guard.ControlPacket.
package control

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

// Topics are the things `show` can show, in the order help lists them.
var Topics = []string{"groups", "ports", "fdb", "routers", "querier", "counters", "datapath", "config"}

// Daemon is what the control socket asks of the process that runs the
// engine, beyond the engine itself. A nil function answers that the switch
// cannot do it.
type Daemon struct {
	// Config returns the running configuration (show config).
	Config func() config.Document
	// Reload re-reads the configuration file and applies it (reload); an
	// error leaves the running configuration as it was.
	Reload func() (ReloadResult, error)
	// Datapath says which datapath runs and why (show datapath).
	Datapath func() DatapathReport
}

// ReloadResult is what a reload changed; its JSON is the answer of
// `snoopswitch reload --json`.
type ReloadResult struct {
	File    string   `json:"file"`
	Added   []string `json:"ports_added"`
	Removed []string `json:"ports_removed"`
	// Changed are ports whose role, fast leave, flood-unregistered, VLANs
	// or guard policy changed.
	Changed []string `json:"ports_changed"`
	// Revoked counts the memberships the new policies refused.
	Revoked  int    `json:"memberships_revoked"`
	LogLevel string `json:"log_level"`
}

// String is the reload's answer as `snoopswitch reload` prints it.
func (r ReloadResult) String() string {
	list := func(names []string) string {
		if len(names) == 0 {
			return "none"
		}
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("reloaded %s\n  ports added:   %s\n  ports removed: %s\n  ports changed: %s\n  memberships revoked: %d\n  log level: %s\n",
		r.File, list(r.Added), list(r.Removed), list(r.Changed), r.Revoked, r.LogLevel)
}

// Serve answers requests on a unix socket at path (mode 0600, its directory
// created 0700) until ctx is done, then removes the socket.
func Serve(ctx context.Context, path string, e *switching.Engine, d Daemon) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("control socket %s: another snoopswitch is listening there (pick another with --control-socket)", path)
	}
	os.Remove(path) // a stale socket of a switch that died
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("control socket: %w", err)
	}
	mux := http.NewServeMux()
	for _, t := range Topics {
		mux.HandleFunc("GET /"+t, func(w http.ResponseWriter, r *http.Request) {
			if t == "config" {
				if d.Config == nil {
					http.Error(w, "this switch has no configuration to show", http.StatusBadRequest)
					return
				}
				writeJSON(w, d.Config())
				return
			}
			if t == "datapath" {
				if d.Datapath == nil {
					http.Error(w, "this switch does not say which datapath it runs", http.StatusBadRequest)
					return
				}
				writeJSON(w, d.Datapath())
				return
			}
			writeJSON(w, topicReport(t, e, time.Now()))
		})
	}
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		if d.Reload == nil {
			http.Error(w, "this switch cannot reload its configuration", http.StatusBadRequest)
			return
		}
		res, err := d.Reload()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, res)
	})
	mux.HandleFunc("POST /rule", func(w http.ResponseWriter, r *http.Request) {
		var req RuleRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
			http.Error(w, "bad rule request: "+err.Error(), http.StatusBadRequest)
			return
		}
		res, err := ApplyRule(e, req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, res)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
		os.Remove(path)
	}()
	go srv.Serve(ln)
	return nil
}

// writeJSON answers with doc as indented JSON.
func writeJSON(w http.ResponseWriter, doc any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(doc)
}

// ErrNotRunning is returned by Fetch when nothing listens on the socket.
var ErrNotRunning = errors.New("snoopswitch is not running (no control socket); start it with `snoopswitch run`, or give --control-socket")

// Fetch asks the switch listening at path for topic and returns the JSON.
func Fetch(path, topic string) ([]byte, error) {
	return call(path, http.MethodGet, topic, nil)
}

// SendRule asks the switch listening at path to apply r and returns the
// JSON of its RuleResult.
func SendRule(path string, r RuleRequest) ([]byte, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return call(path, http.MethodPost, "rule", body)
}

// Reload asks the switch listening at path to reload its configuration
// file and returns the JSON of its answer.
func Reload(path string) ([]byte, error) {
	return call(path, http.MethodPost, "reload", nil)
}

// call makes one request on the control socket at path.
func call(path, method, endpoint string, body []byte) ([]byte, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path, ErrNotRunning)
	}
	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		}},
	}
	req, err := http.NewRequest(method, "http://snoopswitch/"+endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("control socket %s: permission denied (it is root's; use sudo)", path)
		}
		return nil, fmt.Errorf("control socket %s: %w", path, ErrNotRunning)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		if msg := bytes.TrimSpace(b); len(msg) > 0 && resp.StatusCode == http.StatusBadRequest {
			return nil, errors.New(string(msg))
		}
		return nil, fmt.Errorf("control socket %s: %s", path, resp.Status)
	}
	return b, err
}

// topicReport is the JSON document of topic, one of Topics but config and
// datapath, which the Daemon answers.
// Each topic's document is built by its own function (GroupsReport, ...),
// whose shape the README documents and keeps stable.
func topicReport(topic string, e *switching.Engine, now time.Time) any {
	switch topic {
	case "groups":
		return GroupsReport(e, now)
	case "ports", "counters":
		return PortsReport(e)
	case "fdb":
		return FDBReport(e, now)
	case "routers":
		return RoutersReport(e, now)
	case "querier":
		return QuerierReport(e, now)
	}
	return nil
}

// Group is one (VLAN, group, port) membership in the groups report.
type Group struct {
	VLAN       uint16   `json:"vlan"`
	Group      string   `json:"group"`
	Port       string   `json:"port"`
	Mode       string   `json:"mode"`               // INCLUDE or EXCLUDE
	Sources    []Source `json:"sources"`            // INCLUDE: requested; EXCLUDE: requested and excluded
	GroupTimer float64  `json:"group_timer_s"`      // EXCLUDE: seconds left; 0 in INCLUDE
	Compat     string   `json:"compat,omitempty"`   // "v1" / "v2" while an older host is present
	Reporter   string   `json:"reporter,omitempty"` // last host that reported
	// Hosts are the IGMPv3/MLDv2 hosts behind the port that reported the
	// group (explicit host tracking), by address.
	Hosts []Host `json:"hosts"`
	// Untracked: a host that reported the group is not in Hosts (the
	// port's host limit, or a report from 0.0.0.0 or ::), so fast leave
	// falls back to queries for the group.
	Untracked bool `json:"hosts_untracked,omitempty"`
}

// Host is one tracked host of a membership.
type Host struct {
	Address string   `json:"address"`
	Mode    string   `json:"mode"`    // INCLUDE or EXCLUDE
	Sources []string `json:"sources"` // INCLUDE: wanted; EXCLUDE: not wanted
	Expires float64  `json:"expires_s"`
}

// Source is one source of a membership.
type Source struct {
	Address  string  `json:"address"`
	Timer    float64 `json:"timer_s"` // seconds left; 0 for excluded sources
	Excluded bool    `json:"excluded,omitempty"`
}

func seconds(d time.Duration) float64 {
	if d < 0 {
		return 0
	}
	return float64(d.Round(time.Millisecond)) / float64(time.Second)
}

func GroupsReport(e *switching.Engine, now time.Time) []Group {
	out := []Group{}
	s := e.Snooper()
	if s == nil {
		return out
	}
	for _, g := range s.Groups().Groups() {
		ports := make([]fdb.PortID, 0, len(g.Ports))
		for p := range g.Ports {
			ports = append(ports, p)
		}
		sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
		for _, p := range ports {
			m := g.Ports[p]
			r := Group{VLAN: g.VLAN, Group: g.Group.String(), Port: e.PortName(p), Mode: m.Mode.String(), Sources: []Source{}}
			if m.Mode == fdb.ModeExclude {
				r.GroupTimer = seconds(m.GroupTimer.Sub(now))
			}
			for a, t := range m.Requested {
				r.Sources = append(r.Sources, Source{Address: a.String(), Timer: seconds(t.Sub(now))})
			}
			for a := range m.Excluded {
				r.Sources = append(r.Sources, Source{Address: a.String(), Excluded: true})
			}
			sort.Slice(r.Sources, func(i, j int) bool { return r.Sources[i].Address < r.Sources[j].Address })
			switch {
			case now.Before(m.V1HostTimer):
				r.Compat = "v1"
			case now.Before(m.V2HostTimer):
				r.Compat = "v2"
			}
			if m.Reporter.IsValid() {
				r.Reporter = m.Reporter.String()
			}
			r.Hosts = hostsReport(m.Hosts, now)
			r.Untracked = now.Before(m.UntrackedUntil)
			out = append(out, r)
		}
	}
	return out
}

// hostsReport lists hosts by address, their sources sorted.
func hostsReport(hosts map[netip.Addr]fdb.HostMembership, now time.Time) []Host {
	out := make([]Host, 0, len(hosts))
	for _, a := range slices.SortedFunc(maps.Keys(hosts), netip.Addr.Compare) {
		h := hosts[a]
		r := Host{Address: a.String(), Mode: h.Mode.String(), Sources: []string{}, Expires: seconds(h.Expires.Sub(now))}
		for _, s := range slices.SortedFunc(maps.Keys(h.Sources), netip.Addr.Compare) {
			r.Sources = append(r.Sources, s.String())
		}
		out = append(out, r)
	}
	return out
}

// Port is one port's counters.
type Port struct {
	switching.PortStats
	// Control counts IGMP/MLD/PIM/MRD packets by type; ParseErrors the
	// rejected ones by reason.
	Control     map[string]uint64 `json:"control"`
	ParseErrors map[string]uint64 `json:"parse_errors"`
}

func PortsReport(e *switching.Engine) []Port {
	var out []Port
	for i, st := range e.Stats() {
		p := Port{PortStats: st, Control: map[string]uint64{}, ParseErrors: map[string]uint64{}}
		if s := e.Snooper(); s != nil {
			p.Control, p.ParseErrors = s.Counters(fdb.PortID(i))
		}
		out = append(out, p)
	}
	return out
}

// MACEntry is one MAC table entry.
type MACEntry struct {
	VLAN   uint16  `json:"vlan"`
	MAC    string  `json:"mac"`
	Port   string  `json:"port"`
	Static bool    `json:"static"`
	Age    float64 `json:"age_s"`
}

func FDBReport(e *switching.Engine, now time.Time) []MACEntry {
	out := []MACEntry{}
	for _, en := range e.MACTable().Entries(now) {
		out = append(out, MACEntry{VLAN: en.VLAN, MAC: en.MAC.String(), Port: e.PortName(en.Port), Static: en.Static, Age: seconds(en.Age)})
	}
	return out
}

// Router is one router port.
type Router struct {
	VLAN    uint16  `json:"vlan"` // 0 for static ports, which apply to every VLAN
	Port    string  `json:"port"`
	Source  string  `json:"source"` // static, query, pim, mrd
	Address string  `json:"address,omitempty"`
	Expires float64 `json:"expires_s"` // 0 for static ports
}

func RoutersReport(e *switching.Engine, now time.Time) []Router {
	out := []Router{}
	s := e.Snooper()
	if s == nil {
		return out
	}
	for _, r := range s.RouterPorts().List(now) {
		rr := Router{VLAN: r.VLAN, Port: e.PortName(r.Port), Source: r.Source.String(), Expires: seconds(r.Expires)}
		if r.Address.IsValid() {
			rr.Address = r.Address.String()
		}
		out = append(out, rr)
	}
	return out
}

// QuerierState is the querier election of one VLAN and family, and what
// it means for data to groups nobody joined.
type QuerierState struct {
	VLAN    uint16 `json:"vlan"`
	Family  string `json:"family"` // "igmp" or "mld"
	Self    bool   `json:"self"`   // the switch is the querier
	Querier string `json:"querier"`
	// QuerierMAC is the elected querier's source MAC (the switch's own
	// when Self), which tells apart the switches of a fabric that all
	// query from 0.0.0.0; "" when not known.
	QuerierMAC   string  `json:"querier_mac,omitempty"`
	OtherPresent float64 `json:"other_present_s"`
	NextQuery    float64 `json:"next_query_s"`
	LastHeard    string  `json:"last_heard,omitempty"`
	// Unregistered is where data to groups nobody joined goes: "flooding"
	// (every port, for want of a querier), "learning" (every port, until
	// the hosts have answered the first general query: LearningLeft
	// seconds more, 0 while that query has yet to go out) or "constrained"
	// (the router ports and the flood-unregistered ports only).
	// UnregisteredReason says why, in words.
	Unregistered       string  `json:"unregistered"`
	UnregisteredReason string  `json:"unregistered_reason"`
	LearningLeft       float64 `json:"learning_left_s,omitempty"`
}

func QuerierReport(e *switching.Engine, now time.Time) []QuerierState {
	out := []QuerierState{}
	s := e.Snooper()
	if s == nil {
		return out
	}
	disabled := s.Querier().Config().Disabled
	type key struct {
		vlan   uint16
		family string
	}
	listed := map[key]bool{}
	vlans := map[uint16]bool{}
	for _, st := range s.Querier().Status(now) {
		q := QuerierState{VLAN: st.VLAN, Family: familyName(st.Family), Self: st.SelfQuerier, OtherPresent: seconds(st.OtherPresent), NextQuery: seconds(st.NextQueryIn),
			Unregistered: st.Unregistered.String(), LearningLeft: seconds(st.LearningLeft)}
		if st.Querier.IsValid() {
			q.Querier = st.Querier.String()
		}
		if !st.QuerierMAC.IsZero() {
			q.QuerierMAC = st.QuerierMAC.String()
		}
		if st.LastHeard.IsValid() {
			q.LastHeard = st.LastHeard.String()
		}
		q.UnregisteredReason = unregisteredReason(st, disabled)
		out = append(out, q)
		listed[key{q.VLAN, q.Family}], vlans[q.VLAN] = true, true
	}
	// A VLAN and family where no query was ever heard has no querier (the
	// switch queries VLAN 0 and the VLANs where it heard one): its
	// unregistered data is flooded, and the table says so for the other
	// family of a VLAN listed and for the VLANs the ports are limited to.
	for id := range e.Stats() {
		for _, v := range e.PortVLANs(fdb.PortID(id)) {
			vlans[v] = true
		}
	}
	for v := range vlans {
		for _, family := range []string{"igmp", "mld"} {
			if !listed[key{v, family}] {
				out = append(out, QuerierState{VLAN: v, Family: family, Unregistered: snoop.UnregisteredFlooding.String(),
					UnregisteredReason: "no querier: no query ever heard in this VLAN, and the switch queries only VLAN 0 and VLANs where it heard one"})
			}
		}
	}
	slices.SortFunc(out, func(a, b QuerierState) int {
		return cmp.Or(cmp.Compare(a.VLAN, b.VLAN), cmp.Compare(a.Family, b.Family))
	})
	return out
}

func familyName(family int) string {
	if family == 6 {
		return "mld"
	}
	return "igmp"
}

// unregisteredReason says in words why unregistered data of a VLAN and
// family goes where it goes.
func unregisteredReason(st snoop.QuerierStatus, disabled bool) string {
	switch st.Unregistered {
	case snoop.UnregisteredFlooding:
		if !st.LastHeard.IsValid() {
			if disabled {
				return "no querier: none heard, and the switch's querier is disabled"
			}
			return "no querier: none heard, and the switch does not query this VLAN"
		}
		return fmt.Sprintf("no querier: %s last heard %s ago, and the switch's querier is disabled", st.LastHeard, st.LastHeardAgo.Round(time.Millisecond))
	case snoop.UnregisteredLearning:
		if st.LearningLeft <= 0 {
			return "learning: waiting for the querier's first general query"
		}
		return fmt.Sprintf("learning: the hosts answer the first general query within %s", st.LearningLeft.Round(time.Millisecond))
	}
	who := "the switch"
	if !st.SelfQuerier {
		who = st.Querier.String()
	}
	return "the hosts answered a general query; " + who + " keeps them reporting"
}
