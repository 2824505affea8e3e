package replay_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/snoopswitch/snoopswitch/internal/replay"
)

// recordOffset returns where frame n (from 1) of a pcap file starts: after
// the 24-byte file header, each record is a 16-byte header and its bytes.
func recordOffset(t *testing.T, b []byte, n int) int {
	t.Helper()
	off := 24
	for range n - 1 {
		off += 16 + int(binary.LittleEndian.Uint32(b[off+8:]))
	}
	return off
}

// stoppedAt checks a replay that stopped at frame n of path: the report of
// the frames before it, and a *CaptureError naming the frame.
func stoppedAt(t *testing.T, name string, rep *replay.Report, err error, path string, n int, msg string) {
	t.Helper()
	var ce *replay.CaptureError
	if !errors.As(err, &ce) || ce.Path != path || ce.Frame != n {
		t.Fatalf("%s: error %v, want a CaptureError at frame %d of %s", name, err, n, path)
	}
	if !strings.HasPrefix(err.Error(), "replay: ") || !strings.Contains(err.Error(), msg) {
		t.Errorf("%s: error %q does not say %q after the prefix replay: ", name, err, msg)
	}
	if rep == nil {
		t.Fatalf("%s: no report of the frames before the bad one", name)
	}
	var rx uint64
	for _, p := range rep.Ports {
		rx += p.RxFrames
	}
	if rep.Complete || rep.Frames != uint64(n-1) || rx != uint64(n-1) || rep.Error != err.Error() {
		t.Errorf("%s: report of %d frames (%d received, complete %v, error %q), want the %d before frame %d", name, rep.Frames, rx, rep.Complete, rep.Error, n-1, n)
	}
}

func TestTruncatedAndCorruptCaptures(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "golden.pcap")
	writePcap(t, good, goldenFrames(t))
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		bytes func() []byte
		frame int
		msg   string
	}{
		{"cut inside frame 10", func() []byte { return b[:recordOffset(t, b, 10)+16+20] }, 10, "frame 10 is cut short: the file ends inside it"},
		{"cut after frame 10's header", func() []byte { return b[:recordOffset(t, b, 10)+16] }, 10, "frame 10 is cut short"},
		{"cut inside frame 3's header", func() []byte { return b[:recordOffset(t, b, 3)+5] }, 3, "frame 3 is cut short"},
		{"frame 5 longer than any frame", func() []byte {
			c := append([]byte(nil), b...)
			binary.LittleEndian.PutUint32(c[recordOffset(t, c, 5)+8:], 0x7fffffff)
			return c
		}, 5, "frame 5: the capture is corrupt: capture length exceeds snap length"},
	}
	for _, c := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".pcap")
		if err := os.WriteFile(path, c.bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		rep, err := replay.Run(context.Background(), replay.Options{Capture: path})
		stoppedAt(t, c.name, rep, err, path, c.frame, c.msg)
	}

	// A pcapng file cut inside its seventh frame's block.
	ng := filepath.Join(dir, "golden.pcapng")
	writePcapng(t, ng, goldenPorts, goldenFrames(t))
	nb, err := os.ReadFile(ng)
	if err != nil {
		t.Fatal(err)
	}
	cut := 0
	for off, n := 0, 0; off < len(nb); off += int(binary.LittleEndian.Uint32(nb[off+4:])) {
		if binary.LittleEndian.Uint32(nb[off:]) == 6 { // an enhanced packet block
			if n++; n == 7 {
				cut = off + 40
				break
			}
		}
	}
	short := filepath.Join(dir, "cut.pcapng")
	os.WriteFile(short, nb[:cut], 0o644)
	rep, err := replay.Run(context.Background(), replay.Options{Capture: short, RouterPorts: []string{"r"}})
	stoppedAt(t, "pcapng cut inside frame 7", rep, err, short, 7, "frame 7 is cut short")
}

func TestNotACapture(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		o    replay.Options
		msg  string
	}{
		{"missing", replay.Options{Capture: filepath.Join(dir, "nope.pcap")}, "no such file or directory"},
		{"empty", replay.Options{Capture: write("empty.pcap", nil)}, "is empty; give a pcap or pcapng capture"},
		{"text", replay.Options{Capture: write("notes.txt", []byte("hello, world\n"))}, "is not a pcap or pcapng capture (it starts with 68656c6c)"},
		{"nothing", replay.Options{}, "no capture: give one, or a file per port with --port NAME=FILE"},
		{"unknown router port", replay.Options{Capture: "testdata/igmp.pcap", RouterPorts: []string{"uplink"}},
			`--router-port "uplink": no such port; the ports are if0`},
	}
	for _, c := range cases {
		rep, err := replay.Run(context.Background(), c.o)
		if rep != nil || err == nil || !strings.HasPrefix(err.Error(), "replay: ") || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: report %v, error %v; want no report and an error saying replay: ... %q", c.name, rep, err, c.msg)
		}
	}
}

// A pcapng interface that is not Ethernet is refused when its first frame
// comes, after the report of the frames before it.
func TestPcapngInterfaceNotEthernet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mixed.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapgo.NewNgWriterInterface(f, pcapgo.NgInterface{Name: "eth0", LinkType: layers.LinkTypeEthernet}, pcapgo.NgWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddInterface(pcapgo.NgInterface{Name: "wlan0", LinkType: layers.LinkTypeIEEE80211Radio}); err != nil {
		t.Fatal(err)
	}
	fr := goldenFrames(t)[4].data
	for i, id := range []int{0, 0, 1} {
		ci := gopacket.CaptureInfo{Timestamp: captureStart.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(fr), Length: len(fr), InterfaceIndex: id}
		if err := w.WritePacket(ci, fr); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	f.Close()
	rep, err := replay.Run(context.Background(), replay.Options{Capture: path})
	stoppedAt(t, "radiotap interface", rep, err, path, 3, "interface 1 (wlan0): link type 127 (IEEE 802.11 radiotap) is not Ethernet")
}

// A clock that jumps months ahead is a corrupt timestamp, not a silence to
// run the timers through.
func TestTimestampJumpIsCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jump.pcap")
	fr := goldenFrames(t)
	writePcap(t, path, []frame{fr[0], fr[1], {fr[2].port, 30 * 24 * time.Hour, fr[2].data}})
	rep, err := replay.Run(context.Background(), replay.Options{Capture: path})
	stoppedAt(t, "jump", rep, err, path, 3, "frame 3: the capture is corrupt: it is stamped 2026-01-31T00:00:00Z, 719h59m59s after the frame before it")
}
