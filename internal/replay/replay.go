package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/internal/config"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

// Options say what to replay and how.
type Options struct {
	// Capture is a capture whose frames arrive on the ports named after
	// their pcapng interfaces (if<id> for an interface without a name,
	// if0 for every frame of a pcap file); "" for none.
	Capture string
	// Ports map files and source MAC addresses to ports, in the order the
	// ports are numbered.
	Ports []Mapping
	// RouterPorts are static multicast router ports, by name: a port the
	// configuration lists, a mapping names or the capture's interfaces
	// give.
	RouterPorts []string
	// Config is the switch's configuration (the --config file); nil for
	// the defaults. Its ports keep their settings; the replay adds the
	// other ports to it, as host ports.
	Config *config.Config
	// WriteDir, if set, is a directory that gets one pcap per port with
	// the frames sent out of it, stamped with the capture's time.
	WriteDir string
	// Timing measures the engine's speed (Report.Engine): the one part of
	// the report that differs from run to run.
	Timing bool
	// Logger receives the engine's logs (the guard's drops, ...); nil
	// discards them.
	Logger *slog.Logger
}

// Mapping is one --port NAME=FILE or NAME=MAC.
type Mapping struct {
	Port string
	// File is a capture whose frames all arrive on Port (unless MAC
	// mappings say otherwise), merged with the others by timestamp.
	File string
	// MAC: frames from this source address arrive on Port, whichever
	// capture or interface they come from. Valid iff File is "".
	MAC fdb.MAC
}

// ErrUnknownPort is returned (wrapped) for a router port that is no port
// of the replay.
var ErrUnknownPort = errors.New("no such port")

// replayMAC is the switch's own address in a replay, the source of its
// queries: fixed, so that a replay writes the same frames on any machine.
var replayMAC = fdb.MAC{0x02, 0x73, 0x6e, 0x6f, 0x6f, 0x70} // "\x02snoop"

// maxGap is the longest silence between two frames the replay takes:
// longer is a corrupt timestamp. A week of silence costs a few thousand
// ticks of the control plane (the querier's queries); a clock that jumps a
// century would cost tens of millions.
const maxGap = 7 * 24 * time.Hour

// Chunks: the frames copied out of the captures and then handed to the
// engine in one go, so that the clock is read twice per chunk rather than
// per frame.
const (
	chunkFrames = 256
	chunkBytes  = 1 << 20
)

// Run replays the captures through the engine and reports what happened.
// On a capture that cannot be read to its end (a *CaptureError), on ctx
// being done, or on a failure to write, it returns the report of what was
// replayed until then (Complete false) with the error. Before the first
// frame, it returns errors only.
func Run(ctx context.Context, o Options) (*Report, error) {
	r := &run{opts: o, logger: o.Logger}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	defer r.close()
	if err := r.open(); err != nil {
		return nil, err
	}
	if err := r.setUp(); err != nil {
		return nil, err
	}
	err := r.replay(ctx)
	if r.rec != nil {
		if cerr := r.rec.close(); err == nil {
			err = cerr
		}
		r.rec = nil
	}
	rep := r.report(err)
	if o.Timing {
		rep.setThroughput(r.frames, r.elapsed, r.timers, r.off.Ticks())
	}
	return rep, err
}

// run is one replay.
type run struct {
	opts    Options
	logger  *slog.Logger
	sources []*source
	macs    map[fdb.MAC]fdb.PortID
	cfg     *config.Config
	off     *switching.Offline
	ports   []*port // by PortID
	byName  map[string]*port
	rec     *recorder

	chunk  []chunkFrame
	arena  []byte
	batch  [1]switching.Packet
	frames uint64
	first  time.Time
	last   time.Time
	late   uint64 // frames stamped before one replayed earlier
	// elapsed is the wall time of the engine's work, timers the part of
	// it the control plane took.
	elapsed time.Duration
	timers  time.Duration
}

// source is a capture and the frame it holds, if any.
type source struct {
	*capture
	held bool // the capture holds a frame not yet replayed
}

// chunkFrame is a frame copied into run.arena.
type chunkFrame struct {
	port    fdb.PortID
	at      time.Time
	off, n  int
	wireLen int
}

// open opens the captures and reads the first frame of each, by which
// point a pcapng file has declared its interfaces (in most files, all of
// them).
func (r *run) open() error {
	if r.opts.Capture != "" {
		c, err := openCapture(r.opts.Capture, "")
		if err != nil {
			return err
		}
		r.sources = append(r.sources, &source{capture: c})
	}
	for _, m := range r.opts.Ports {
		if m.File == "" {
			continue
		}
		c, err := openCapture(m.File, m.Port)
		if err != nil {
			return err
		}
		r.sources = append(r.sources, &source{capture: c})
	}
	if len(r.sources) == 0 {
		return errors.New("replay: no capture: give one, or a file per port with --port NAME=FILE")
	}
	for _, s := range r.sources {
		if err := s.advance(); err != nil {
			// Nothing has been replayed: the first frame is the report.
			return err
		}
	}
	return nil
}

// advance reads the source's next frame; io.EOF is no error.
func (s *source) advance() error {
	err := s.next()
	s.held = err == nil
	if err == io.EOF {
		return nil
	}
	return err
}

// setUp builds the configuration and the engine with its ports: those of
// the configuration first, then those of the mappings in their order, then
// the capture's interfaces.
func (r *run) setUp() error {
	r.cfg = r.opts.Config
	if r.cfg == nil {
		r.cfg = config.Default()
	}
	names := r.cfg.PortNames()
	add := func(name string) {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	for _, m := range r.opts.Ports {
		add(m.Port)
	}
	for _, s := range r.sources {
		if s.port == "" {
			for _, name := range s.interfaces() {
				add(name)
			}
		}
	}
	for _, name := range r.opts.RouterPorts {
		if !slices.Contains(names, name) {
			return fmt.Errorf("replay: --router-port %q: %w; the ports are %s (from --config, --port and the capture's interfaces)", name, ErrUnknownPort, strings.Join(names, ", "))
		}
	}
	for _, name := range names {
		role := config.RoleHost
		if slices.Contains(r.opts.RouterPorts, name) {
			role = config.RoleRouter
		} else if p := r.cfg.Port(name); p != nil {
			role = p.Role
		}
		r.cfg.SetPort(name, role)
	}

	ec := r.cfg.Engine(r.logger)
	ec.MAC = replayMAC
	var err error
	var start time.Time // switched on at the first frame
	if s := r.earliest(); s != nil {
		start = s.at
	}
	if r.off, err = switching.NewOffline(ec, start); err != nil {
		return err
	}
	if r.opts.WriteDir != "" {
		if r.rec, err = newRecorder(r.opts.WriteDir, r.off.Now); err != nil {
			return err
		}
	}
	r.byName = make(map[string]*port)
	for _, name := range r.cfg.PortNames() {
		if _, err := r.addPort(name); err != nil {
			return err
		}
	}
	r.macs = make(map[fdb.MAC]fdb.PortID)
	for _, m := range r.opts.Ports {
		if m.File == "" {
			r.macs[m.MAC] = r.byName[m.Port].id
		}
	}
	return nil
}

// addPort adds a port to the engine (and its pcap, with --write-dir).
func (r *run) addPort(name string) (*port, error) {
	p := &port{name: name}
	id, err := r.off.AddPort(p)
	if err != nil {
		return nil, fmt.Errorf("replay: port %q: %w", name, err)
	}
	p.id = id
	if r.rec != nil {
		if err := r.rec.open(p); err != nil {
			return nil, err
		}
	}
	r.ports = append(r.ports, p)
	r.byName[name] = p
	return p, nil
}

// replay hands every frame to the engine, a chunk at a time.
func (r *run) replay(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("replay: interrupted (%w); the replay covers the frames before", err)
		}
		readErr := r.fill()
		if len(r.chunk) == 0 {
			return readErr
		}
		start := time.Now()
		for i := range r.chunk {
			f := &r.chunk[i]
			if !f.at.Before(r.off.NextTick()) {
				// The control plane is due: time it apart, as its cost
				// follows the capture's duration, not its frames.
				t := time.Now()
				r.off.Advance(f.at)
				r.timers += time.Since(t)
			}
			r.batch[0] = switching.Packet{Data: r.arena[f.off : f.off+f.n], Len: f.wireLen}
			if err := r.off.Handle(f.port, f.at, r.batch[:]); err != nil {
				return err
			}
		}
		r.elapsed += time.Since(start)
		if r.rec != nil {
			r.elapsed -= r.rec.takeSpent()
			r.rec.write()
			if r.rec.err != nil {
				return r.rec.err
			}
		}
		r.frames += uint64(len(r.chunk))
		if readErr != nil {
			return readErr
		}
	}
}

// fill copies the next frames, in timestamp order across the captures,
// into the chunk. It stops at a capture that cannot be read further, and
// returns its error with the frames before it.
func (r *run) fill() error {
	r.chunk, r.arena = r.chunk[:0], r.arena[:0]
	for len(r.chunk) < chunkFrames {
		s := r.earliest()
		if s == nil {
			return nil
		}
		if len(r.chunk) > 0 && len(r.arena)+len(s.data) > chunkBytes {
			return nil
		}
		id, err := r.ingress(s)
		if err != nil {
			return err
		}
		at := s.at
		if (r.frames > 0 || len(r.chunk) > 0) && at.Sub(r.last) > maxGap {
			return &CaptureError{Path: s.name, Frame: s.frames, Err: fmt.Errorf("it is stamped %v, %v after the frame before it, which a capture's clock does not do (split the capture there, e.g. with editcap -r)", at.Format(time.RFC3339Nano), at.Sub(r.last).Round(time.Second))}
		}
		switch {
		case r.frames == 0 && len(r.chunk) == 0:
			r.first, r.last = at, at
		case at.Before(r.last):
			r.late++
		default:
			r.last = at
		}
		off := len(r.arena)
		r.arena = append(r.arena, s.data...)
		r.chunk = append(r.chunk, chunkFrame{port: id, at: at, off: off, n: len(s.data), wireLen: s.wireLen})
		if err := s.advance(); err != nil {
			return err
		}
	}
	return nil
}

// earliest returns the source holding the earliest frame (the first such
// source on a tie), nil when every capture has ended.
func (r *run) earliest() *source {
	var best *source
	for _, s := range r.sources {
		if s.held && (best == nil || s.at.Before(best.at)) {
			best = s
		}
	}
	return best
}

// ingress returns the port the source's frame arrives on: its source
// MAC's, or its capture's, or its interface's, which becomes a new host
// port if the capture had not declared it before its first frame.
func (r *run) ingress(s *source) (fdb.PortID, error) {
	if len(r.macs) > 0 && len(s.data) >= 12 {
		if id, ok := r.macs[fdb.MAC(s.data[6:12])]; ok {
			return id, nil
		}
	}
	name := s.portName()
	if p, ok := r.byName[name]; ok {
		return p.id, nil
	}
	p, err := r.addPort(name)
	if err != nil {
		return 0, err
	}
	return p.id, nil
}

func (r *run) close() {
	for _, s := range r.sources {
		s.close()
	}
	if r.rec != nil {
		r.rec.close()
	}
}
