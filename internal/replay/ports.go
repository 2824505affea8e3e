package replay

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/snoopswitch/snoopswitch/fdb"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

// port is the Backend of one replay port. It receives nothing (the replay
// hands the engine its frames) and counts, and with a recorder keeps, what
// the engine sends out of it.
type port struct {
	name string
	id   fdb.PortID
	// file is the pcap written for the port, in the write directory; ""
	// when none is written.
	file   string
	frames uint64
	bytes  uint64
	rec    *recorder // nil: count only
}

var _ switching.Backend = (*port)(nil)

func (p *port) Name() string { return p.name }

// Receive is never called: the engine runs as a switching.Offline.
func (p *port) Receive(ctx context.Context, _ func([]switching.Packet)) error {
	<-ctx.Done()
	return nil
}

func (p *port) NewSender() switching.Sender        { return &sender{port: p} }
func (p *port) KernelStats() switching.KernelStats { return switching.KernelStats{} }
func (p *port) Close() error                       { return nil }

// senderBatch is how many frames a sender queues before the engine flushes
// it.
const senderBatch = 64

// sender counts the frames the engine sends out of its port, and hands
// them to the port's recorder if it has one. It copies nothing until then:
// the frames are valid until Flush returns.
type sender struct {
	port  *port
	n     int
	batch [senderBatch]switching.Packet
}

func (s *sender) Queue(p *switching.Packet) bool {
	if s.n == len(s.batch) {
		return false
	}
	s.batch[s.n] = *p
	s.n++
	return true
}

func (s *sender) Flush() (frames, bytes int, err error) {
	for i := range s.n {
		p := &s.batch[i]
		bytes += len(p.Data)
		if p.Tag.Present {
			bytes += 4 // put back in the frame on the way out
		}
		if s.port.rec != nil {
			s.port.rec.add(s.port.id, p)
		}
		p.Data = nil
	}
	frames, s.n = s.n, 0
	s.port.frames += uint64(frames)
	s.port.bytes += uint64(bytes)
	return frames, bytes, nil
}

// recorder keeps the frames sent out of the ports, and writes them to one
// pcap per port while the engine is not being timed.
type recorder struct {
	dir    string
	now    func() time.Time
	buf    []byte
	frames []recorded
	out    []*pcapFile // by PortID
	taken  map[string]bool
	// spent is the time writing took while the engine was being timed
	// (when the kept frames outgrew recorderLimit).
	spent time.Duration
	err   error // the first write error
}

// recorded is a frame kept in recorder.buf.
type recorded struct {
	port   fdb.PortID
	at     time.Time
	off, n int
}

// recorderLimit bounds the bytes a recorder keeps before it writes them.
const recorderLimit = 4 << 20

type pcapFile struct {
	f *os.File
	b *bufio.Writer
	w *pcapgo.Writer
}

func newRecorder(dir string, now func() time.Time) (*recorder, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("replay: --write-dir: %w", err)
	}
	return &recorder{dir: dir, now: now, taken: make(map[string]bool)}, nil
}

// open creates the pcap file of port p, named after it.
func (r *recorder) open(p *port) error {
	name := fileName(p.name)
	if r.taken[name] {
		name = fmt.Sprintf("%s-port%d", name, p.id)
	}
	r.taken[name] = true
	f, err := os.Create(filepath.Join(r.dir, name+".pcap"))
	if err != nil {
		return fmt.Errorf("replay: --write-dir: %w", err)
	}
	pf := &pcapFile{f: f, b: bufio.NewWriterSize(f, 1<<16)}
	pf.w = pcapgo.NewWriterNanos(pf.b)
	if err := pf.w.WriteFileHeader(maxFrame, layers.LinkTypeEthernet); err != nil {
		f.Close()
		return fmt.Errorf("replay: --write-dir: %s: %w", f.Name(), err)
	}
	for len(r.out) <= int(p.id) {
		r.out = append(r.out, nil)
	}
	r.out[p.id] = pf
	p.file, p.rec = name+".pcap", r
	return nil
}

// maxFrame is the snap length of the pcaps written: libpcap's largest.
const maxFrame = 262144

// fileName turns a port name into a file name: characters other than
// letters, digits, '.', '-' and '_' become '_'.
func fileName(port string) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, port)
	if strings.Trim(name, ".") == "" {
		name = "port" + strings.ReplaceAll(name, ".", "_")
	}
	return name
}

// add keeps a copy of p, sent out of port, with the engine's time, and
// puts its VLAN tag back in the frame as a port's sender would.
func (r *recorder) add(port fdb.PortID, p *switching.Packet) {
	off := len(r.buf)
	if p.Tag.Present && len(p.Data) >= 12 {
		tpid := p.Tag.TPID
		if tpid == 0 {
			tpid = 0x8100
		}
		r.buf = append(r.buf, p.Data[:12]...)
		r.buf = append(r.buf, byte(tpid>>8), byte(tpid), byte(p.Tag.TCI>>8), byte(p.Tag.TCI))
		r.buf = append(r.buf, p.Data[12:]...)
	} else {
		r.buf = append(r.buf, p.Data...)
	}
	r.frames = append(r.frames, recorded{port: port, at: r.now(), off: off, n: len(r.buf) - off})
	if len(r.buf) > recorderLimit {
		start := time.Now()
		r.write()
		r.spent += time.Since(start)
	}
}

// write writes the frames kept and forgets them.
func (r *recorder) write() {
	for _, f := range r.frames {
		if r.err != nil {
			break
		}
		data := r.buf[f.off : f.off+f.n]
		ci := gopacket.CaptureInfo{Timestamp: f.at, CaptureLength: len(data), Length: len(data)}
		if err := r.out[f.port].w.WritePacket(ci, data); err != nil {
			r.err = fmt.Errorf("replay: --write-dir: %s: %w", r.out[f.port].f.Name(), err)
		}
	}
	r.buf, r.frames = r.buf[:0], r.frames[:0]
}

// takeSpent returns the time spent writing since it was last called.
func (r *recorder) takeSpent() time.Duration {
	d := r.spent
	r.spent = 0
	return d
}

// close writes what is left and closes the files.
func (r *recorder) close() error {
	r.write()
	err := r.err
	for _, pf := range r.out {
		if pf == nil {
			continue
		}
		if e := pf.b.Flush(); e != nil && err == nil {
			err = fmt.Errorf("replay: --write-dir: %s: %w", pf.f.Name(), e)
		}
		if e := pf.f.Close(); e != nil && err == nil {
			err = fmt.Errorf("replay: --write-dir: %s: %w", pf.f.Name(), e)
		}
	}
	return err
}
