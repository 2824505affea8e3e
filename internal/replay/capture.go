package replay

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// CaptureError is a capture that could not be read from a frame on: the
// frames before it were replayed.
type CaptureError struct {
	Path  string
	Frame int // the frame that could not be read, from 1
	Err   error
}

func (e *CaptureError) Error() string {
	if errors.Is(e.Err, io.ErrUnexpectedEOF) {
		return fmt.Sprintf("replay: %s: frame %d is cut short: the file ends inside it (a truncated capture); the replay covers the frames before it", e.Path, e.Frame)
	}
	return fmt.Sprintf("replay: %s: frame %d: the capture is corrupt: %v; the replay covers the frames before it", e.Path, e.Frame, e.Err)
}

func (e *CaptureError) Unwrap() error { return e.Err }

// capture is one capture file read a frame at a time, in constant memory:
// the frame it holds is valid until the next call to next.
type capture struct {
	name string
	// port names the port every frame arrives on (--port NAME=FILE); ""
	// takes it from the frame's interface.
	port   string
	closer io.Closer
	pcap   *pcapgo.Reader // a pcap file, or
	ng     *pcapgo.NgReader
	// ifaces caches the current pcapng section's interfaces, by id.
	ifaces []iface

	frames int // frames read so far
	// The current frame.
	data    []byte
	at      time.Time
	wireLen int
	iface   int // its pcapng interface id; 0 in a pcap file
}

// iface is a pcapng interface as the replay needs it: the port its frames
// arrive on (when not mapped otherwise).
type iface struct {
	port string
	ok   bool
}

// Magic numbers of the two formats (the pcapng one is its section header
// block's type, the same in either byte order).
const (
	pcapngMagic     = 0x0a0d0d0a
	pcapMicros      = 0xa1b2c3d4
	pcapNanos       = 0xa1b23c4d
	pcapMicrosSwapd = 0xd4c3b2a1
	pcapNanosSwapd  = 0x4d3cb2a1
)

// openCapture opens the capture at path (pcap or pcapng, gzipped or not).
func openCapture(path, port string) (*capture, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	c, err := newCapture(path, f, port)
	if err != nil {
		f.Close()
		return nil, err
	}
	c.closer = f
	return c, nil
}

// newCapture reads the header of the capture in r, named name.
func newCapture(name string, r io.Reader, port string) (*capture, error) {
	c := &capture{name: name, port: port}
	br := bufio.NewReaderSize(r, 1<<16)
	if b, _ := br.Peek(2); len(b) == 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("replay: %s: a gzip file that cannot be read: %v", name, err)
		}
		br = bufio.NewReaderSize(zr, 1<<16)
	}
	b, err := br.Peek(4)
	if len(b) == 0 {
		return nil, fmt.Errorf("replay: %s is empty; give a pcap or pcapng capture", name)
	}
	if err != nil {
		return nil, fmt.Errorf("replay: %s is too short to be a capture (%d bytes)", name, len(b))
	}
	switch magic := binary.LittleEndian.Uint32(b); magic {
	case pcapngMagic:
		opts := pcapgo.NgReaderOptions{
			// Every interface's link type is checked here rather than
			// frames of another type being skipped without a word.
			WantMixedLinkType:  true,
			SectionEndCallback: func([]pcapgo.NgInterface, pcapgo.NgSectionInfo) { c.ifaces = c.ifaces[:0] },
		}
		if c.ng, err = pcapgo.NewNgReader(br, opts); err != nil {
			return nil, fmt.Errorf("replay: %s: a pcapng file whose header cannot be read: %v", name, err)
		}
	case pcapMicros, pcapNanos, pcapMicrosSwapd, pcapNanosSwapd:
		if c.pcap, err = pcapgo.NewReader(br); err != nil {
			return nil, fmt.Errorf("replay: %s: a pcap file whose header cannot be read: %v", name, err)
		}
		if err := checkLinkType(c.pcap.LinkType()); err != nil {
			return nil, fmt.Errorf("replay: %s: %v", name, err)
		}
	default:
		return nil, fmt.Errorf("replay: %s is not a pcap or pcapng capture (it starts with %x); save it as pcap or pcapng, e.g. with tcpdump -w or dumpcap", name, b)
	}
	return c, nil
}

// checkLinkType accepts Ethernet, the only link type the switch forwards.
func checkLinkType(t layers.LinkType) error {
	if t == layers.LinkTypeEthernet {
		return nil
	}
	name, ok := linkTypeNames[t]
	if !ok {
		name = t.String()
	}
	return fmt.Errorf("link type %d (%s) is not Ethernet: the switch forwards Ethernet frames; give each frame an Ethernet header first (tcprewrite --dlt=enet --enet-smac=MAC --enet-dmac=MAC does it for raw IP), or capture on an Ethernet interface", uint16(t), name)
}

// linkTypeNames names the link types most often met instead of Ethernet
// (from the tcpdump.org list), which gopacket does not all name.
var linkTypeNames = map[layers.LinkType]string{
	0:   "BSD loopback",
	101: "raw IP, no Ethernet header",
	105: "IEEE 802.11",
	113: "Linux cooked capture (tcpdump -i any)",
	127: "IEEE 802.11 radiotap",
	228: "raw IPv4, no Ethernet header",
	229: "raw IPv6, no Ethernet header",
	276: "Linux cooked capture v2 (tcpdump -i any)",
}

// next reads the next frame. It returns io.EOF at the end of the file, and
// a *CaptureError for a frame that cannot be read.
func (c *capture) next() error {
	var err error
	if c.ng != nil {
		err = c.nextNg()
	} else {
		err = c.nextPcap()
	}
	if err == io.EOF {
		return err
	}
	c.frames++
	if err != nil {
		return &CaptureError{Path: c.name, Frame: c.frames, Err: err}
	}
	return nil
}

func (c *capture) nextPcap() error {
	data, ci, err := c.pcap.ZeroCopyReadPacketData()
	if err == io.EOF && ci.CaptureLength > 0 {
		// The record's header was there, its bytes were not.
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return err
	}
	c.data, c.at, c.wireLen, c.iface = data, ci.Timestamp, ci.Length, 0
	return nil
}

func (c *capture) nextNg() error {
	data, ci, err := c.ng.ZeroCopyReadPacketData()
	if err != nil {
		return err
	}
	id := ci.InterfaceIndex
	if id >= len(c.ifaces) || !c.ifaces[id].ok {
		in, err := c.ng.Interface(id)
		if err != nil {
			return err
		}
		if err := checkLinkType(in.LinkType); err != nil {
			return fmt.Errorf("interface %d (%s): %v", id, interfaceName(id, in.Name), err)
		}
		for len(c.ifaces) <= id {
			c.ifaces = append(c.ifaces, iface{})
		}
		c.ifaces[id] = iface{port: interfaceName(id, in.Name), ok: true}
	}
	c.data, c.at, c.wireLen, c.iface = data, ci.Timestamp, ci.Length, id
	return nil
}

// interfaceName is the port a pcapng interface's frames arrive on: its
// name, or if<id> for one without a name.
func interfaceName(id int, name string) string {
	if name == "" {
		return "if" + strconv.Itoa(id)
	}
	return name
}

// portName returns the name of the port the current frame arrives on,
// unless its source MAC maps it elsewhere.
func (c *capture) portName() string {
	switch {
	case c.port != "":
		return c.port
	case c.ng != nil:
		return c.ifaces[c.iface].port
	}
	return "if0"
}

// interfaces returns the ports of the interfaces known so far: those the
// pcapng file declared before the frame it holds (all of them, in most
// files), or if0 for a pcap file.
func (c *capture) interfaces() []string {
	if c.ng == nil {
		return []string{"if0"}
	}
	var names []string
	for id := range c.ng.NInterfaces() {
		// Another link type fails once a frame of it comes.
		if in, err := c.ng.Interface(id); err == nil && in.LinkType == layers.LinkTypeEthernet {
			names = append(names, interfaceName(id, in.Name))
		}
	}
	return names
}

func (c *capture) close() error {
	if c.closer == nil {
		return nil
	}
	return c.closer.Close()
}
