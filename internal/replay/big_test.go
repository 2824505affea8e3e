package replay_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/snoopswitch/snoopswitch/internal/replay"
)

var bigCapture = flag.String("big-capture", "", "keep the big capture TestBigCaptureInConstantMemory generates at this path (for `snoopswitch replay --router-port r PATH`)")

// Big captures: 64 groups, 16 joined by each of h1-h4, and a source that
// sends to them in turn.
const (
	bigGroups = 64
	bigHosts  = 4
)

// writeBigCapture streams a pcapng capture of frames frames to path:
// the router's query, the hosts' joins, then data frames 10 µs apart. It
// returns the file's size.
func writeBigCapture(t testing.TB, path string, frames int) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	iface := func(name string) pcapgo.NgInterface {
		return pcapgo.NgInterface{Name: name, LinkType: layers.LinkTypeEthernet, TimestampResolution: 9}
	}
	w, err := pcapgo.NewNgWriterInterface(bw, iface("r"), pcapgo.NgWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"h1", "h2", "h3", "h4", "src"} {
		if _, err := w.AddInterface(iface(name)); err != nil {
			t.Fatal(err)
		}
	}
	group := func(i int) string { return fmt.Sprintf("239.10.0.%d", i+1) }
	at := captureStart
	write := func(id int, data []byte) {
		ci := gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(data), Length: len(data), InterfaceIndex: id}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
		at = at.Add(10 * time.Microsecond)
	}
	write(0, igmpV3Query(t, hostMAC(1), addr("10.0.0.1"), addr("0.0.0.0"), 100))
	for h := range bigHosts {
		for g := h; g < bigGroups; g += bigHosts {
			write(1+h, igmpV3Report(t, hostMAC(byte(0x11+h)), addr(fmt.Sprintf("10.0.0.%d", 11+h)), 2, addr(group(g))))
		}
	}
	data := make([][]byte, bigGroups)
	for g := range data {
		data[g] = udpData(t, hostMAC(9), addr("10.0.0.9"), addr(group(g)), "a big capture's payload, 64 bytes of it, to make a frame of 128")
	}
	for i := 1 + bigGroups; i < frames; i++ {
		write(5, data[i%bigGroups])
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// The replay streams: its heap stays small however big the capture. A
// goroutine samples the heap while the replay runs.
func TestBigCaptureInConstantMemory(t *testing.T) {
	frames := 300_000
	if testing.Short() {
		frames = 50_000
	}
	path := filepath.Join(t.TempDir(), "big.pcapng")
	if *bigCapture != "" {
		path = *bigCapture
	}
	size := writeBigCapture(t, path, frames)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	rep := mustReplay(t, replay.Options{Capture: path, RouterPorts: []string{"r"}, Timing: true})
	close(done)
	wg.Wait()

	if rep.Frames != uint64(frames) {
		t.Errorf("replayed %d frames, want %d", rep.Frames, frames)
	}
	if p := portReport(t, rep, "h1"); p.TxFrames < uint64(frames/bigHosts)-bigGroups {
		t.Errorf("h1 was sent %d frames, want its quarter of %d", p.TxFrames, frames)
	}
	const limit = 16 << 20
	grown := int64(peak) - int64(before.HeapInuse)
	t.Logf("%d frames, %d MB of capture: heap in use %d MB before, at most %d MB during; engine %.0f ns/frame",
		frames, size>>20, before.HeapInuse>>20, peak>>20, rep.Engine.NsPerFrame)
	if grown > limit || (!testing.Short() && grown > size/2) {
		t.Errorf("the heap grew by %d MB replaying %d MB of capture; want at most %d MB: the replay must stream", grown>>20, size>>20, limit>>20)
	}
}

// BenchmarkReplay replays a 100 000-frame capture (multicast data to 64
// groups, one member and the router port each): ns/frame is the engine's
// work only, as `snoopswitch replay` prints it.
func BenchmarkReplay(b *testing.B) {
	path := filepath.Join(b.TempDir(), "big.pcapng")
	writeBigCapture(b, path, 100_000)
	var ns float64
	for b.Loop() {
		rep, err := replay.Run(context.Background(), replay.Options{Capture: path, RouterPorts: []string{"r"}, Timing: true})
		if err != nil {
			b.Fatal(err)
		}
		ns = rep.Engine.NsPerFrame
	}
	b.ReportMetric(ns, "engine-ns/frame")
}
