package replay

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/internal/control"
)

// Report is what a replay did. Its JSON shape is stable and documented in
// the README; everything but Engine is the same on every run over the same
// captures with the same options.
type Report struct {
	// Captures are the files replayed, the positional capture first.
	Captures []string `json:"captures"`
	// Frames is how many frames were handed to the engine.
	Frames uint64 `json:"frames"`
	// Start and End are the capture times of the first and the last frame
	// (RFC 3339, UTC); "" when there was none.
	Start    string  `json:"start"`
	End      string  `json:"end"`
	Duration float64 `json:"duration_s"`
	// OutOfOrder counts frames stamped earlier than one replayed before
	// them: the engine handled them at the later time (its clock never
	// goes back).
	OutOfOrder uint64 `json:"out_of_order"`
	// Complete: every capture was replayed to its end. Error says why
	// not.
	Complete bool   `json:"complete"`
	Error    string `json:"error,omitempty"`
	// Ports are the switch's ports, by PortID.
	Ports []Port `json:"ports"`
	// Drops sums the ports' drops by reason.
	Drops map[string]uint64 `json:"drops"`
	// Groups, Routers and Querier are the snooping state at the end of
	// the capture, as `snoopswitch show groups|routers|querier --json`
	// print it, timers counted from End.
	Groups  []control.Group        `json:"groups"`
	Routers []control.Router       `json:"routers"`
	Querier []control.QuerierState `json:"querier"`
	// Engine is the engine's speed; nil when not measured (--no-timing).
	Engine *Throughput `json:"engine,omitempty"`
}

// Port is one port's counters over the replay.
type Port struct {
	Name string `json:"name"`
	Role string `json:"role"` // host or router
	// RxFrames and RxBytes count the frames of the captures that arrived
	// on the port.
	RxFrames uint64 `json:"rx_frames"`
	RxBytes  uint64 `json:"rx_bytes"`
	// TxFrames and TxBytes count the frames sent out of the port: those
	// forwarded to it and the switch's own queries.
	TxFrames uint64 `json:"tx_frames"`
	TxBytes  uint64 `json:"tx_bytes"`
	// Queries counts the switch's own queries among TxFrames.
	Queries uint64 `json:"queries_sent"`
	// Drops counts the frames that arrived on the port and were not
	// forwarded, by reason; Events what else happened to them (see
	// `snoopswitch show counters`).
	Drops  map[string]uint64 `json:"drops"`
	Events map[string]uint64 `json:"events"`
	// Control counts IGMP/MLD/PIM/MRD packets by type; ParseErrors the
	// rejected ones by reason.
	Control     map[string]uint64 `json:"control"`
	ParseErrors map[string]uint64 `json:"parse_errors"`
	// File is the pcap written with the frames sent out of the port, in
	// the --write-dir directory; "" without one.
	File string `json:"file,omitempty"`
}

// Throughput is the engine's speed over the replay, in wall time of its
// work alone: not reading the captures, not writing pcaps. The frames are
// handed to it one at a time, so that each sees its own time and the state
// the frames before it left.
type Throughput struct {
	Frames uint64 `json:"frames"`
	// Seconds is the time the per-frame pipeline took (classify, guard,
	// learn, look up, send; applying control packets): what FramesPerSecond
	// and NsPerFrame measure.
	Seconds         float64 `json:"seconds"`
	FramesPerSecond float64 `json:"frames_per_s"`
	NsPerFrame      float64 `json:"ns_per_frame"`
	// TimerSeconds is the time the control plane took besides, over Ticks
	// runs (timers, the querier): it follows the capture's duration more
	// than its frames.
	TimerSeconds float64 `json:"timer_seconds"`
	Ticks        uint64  `json:"ticks"`
}

// report builds the report of the run so far; err ended it early.
func (r *run) report(err error) *Report {
	rep := &Report{Frames: r.frames, OutOfOrder: r.late, Complete: err == nil, Drops: map[string]uint64{},
		Groups: []control.Group{}, Routers: []control.Router{}, Querier: []control.QuerierState{}}
	if err != nil {
		rep.Error = err.Error()
	}
	for _, s := range r.sources {
		rep.Captures = append(rep.Captures, s.name)
	}
	if r.frames > 0 {
		rep.Start, rep.End = r.first.Format(time.RFC3339Nano), r.last.Format(time.RFC3339Nano)
		rep.Duration = r.last.Sub(r.first).Seconds()
	}
	e := r.off.Engine()
	for i, st := range e.Stats() {
		id := fdb.PortID(i)
		p := r.ports[i]
		role := config.RoleHost
		if c := r.cfg.Port(st.Name); c != nil {
			role = c.Role
		}
		rp := Port{Name: st.Name, Role: role.String(), RxFrames: st.RxFrames, RxBytes: st.RxBytes, TxFrames: p.frames, TxBytes: p.bytes,
			Queries: r.off.QueriesSent(id), Drops: st.Drops, Events: st.Events, Control: map[string]uint64{}, ParseErrors: map[string]uint64{}, File: p.file}
		if s := e.Snooper(); s != nil {
			rp.Control, rp.ParseErrors = s.Counters(id)
		}
		for k, n := range st.Drops {
			rep.Drops[k] += n
		}
		rep.Ports = append(rep.Ports, rp)
	}
	now := r.off.Now()
	rep.Groups = control.GroupsReport(e, now)
	rep.Routers = control.RoutersReport(e, now)
	// Static and learned entries of one port share its VLAN 0 slot.
	slices.SortStableFunc(rep.Routers, func(a, b control.Router) int {
		return cmp.Or(cmp.Compare(a.VLAN, b.VLAN), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Source, b.Source))
	})
	rep.Querier = control.QuerierReport(e, now)
	return rep
}

// setThroughput records the engine's speed: frames handled in elapsed, of
// which the control plane took timers over ticks runs.
func (rep *Report) setThroughput(frames uint64, elapsed, timers time.Duration, ticks uint64) {
	forwarding := elapsed - timers
	t := &Throughput{Frames: frames, Seconds: forwarding.Seconds(), TimerSeconds: timers.Seconds(), Ticks: ticks}
	if frames > 0 && forwarding > 0 {
		t.FramesPerSecond = float64(frames) / forwarding.Seconds()
		t.NsPerFrame = float64(forwarding.Nanoseconds()) / float64(frames)
	}
	rep.Engine = t
}

// WriteJSON writes the report as one JSON document.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteText writes the report as tables.
func (rep *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "replay of %s: %d frames", strings.Join(rep.Captures, ", "), rep.Frames)
	if rep.Frames > 0 {
		fmt.Fprintf(tw, ", %.3f s of capture time from %s", rep.Duration, rep.Start)
	}
	fmt.Fprintln(tw)
	if rep.OutOfOrder > 0 {
		fmt.Fprintf(tw, "%d frames were stamped earlier than a frame before them and were replayed at its time\n", rep.OutOfOrder)
	}
	if !rep.Complete {
		fmt.Fprintf(tw, "INCOMPLETE: %s\n", rep.Error)
	}

	fmt.Fprintln(tw, "\nPORT\tROLE\tRX FRAMES\tRX BYTES\tTX FRAMES\tTX BYTES\tQUERIES SENT\tDROPS\tEVENTS\tCONTROL\tPARSE ERRORS")
	for _, p := range rep.Ports {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", p.Name, p.Role, p.RxFrames, p.RxBytes, p.TxFrames, p.TxBytes, p.Queries,
			control.FormatCounts(p.Drops), control.FormatCounts(p.Events), control.FormatCounts(p.Control), control.FormatCounts(p.ParseErrors))
	}
	fmt.Fprintf(tw, "\nDROPS (all ports)\t%s\n", control.FormatCounts(rep.Drops))
	if err := tw.Flush(); err != nil {
		return err
	}
	// The snooping state, in the tables of snoopswitch show.
	fmt.Fprintln(w, "\nGROUPS at the end")
	if err := control.WriteGroups(w, rep.Groups); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nROUTER PORTS at the end")
	if err := control.WriteRouters(w, rep.Routers); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nQUERIER at the end")
	if err := control.WriteQuerier(w, rep.Querier); err != nil {
		return err
	}
	if t := rep.Engine; t != nil {
		_, err := fmt.Fprintf(w, "\nENGINE  %d frames in %.6f s: %.0f frames/s, %.0f ns/frame; timers %.6f s over %d ticks\n",
			t.Frames, t.Seconds, t.FramesPerSecond, t.NsPerFrame, t.TimerSeconds, t.Ticks)
		return err
	}
	return nil
}
