package replay_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/replay"
)

// FuzzReplay replays any bytes as a capture. Whatever they are, the
// replay does not panic or hang; it refuses them with an error before the
// first frame, or reports the frames it handed the engine (all of them, or
// those before a frame it names in a *CaptureError).
func FuzzReplay(f *testing.F) {
	// Real captures: pcap, microsecond timestamps, little-endian.
	for _, name := range []string{"igmp.pcap", "home-multicast-short.pcap", "multicast-igmp-version-membership-query-and-report.pcap", "icmp6-mldv1.pcap"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// A raw IPv6 capture: refused for its link type.
	raw, err := os.ReadFile("testdata/icmp6-mld-query.pcap")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	// The golden scenario as pcapng: interfaces named, nanosecond times.
	dir := f.TempDir()
	ng := filepath.Join(dir, "golden.pcapng")
	writePcapng(f, ng, goldenPorts, goldenFrames(f))
	ngBytes, err := os.ReadFile(ng)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ngBytes)
	// The same, cut inside a frame.
	f.Add(ngBytes[:len(ngBytes)-30])
	// A pcap whose first record claims 4 GiB.
	huge, err := os.ReadFile("testdata/igmp.pcap")
	if err != nil {
		f.Fatal(err)
	}
	binary.LittleEndian.PutUint32(huge[24+8:], 0xffffffff)
	f.Add(huge)
	// A pcapng section header and nothing else.
	f.Add(ngBytes[:28])

	f.Fuzz(func(t *testing.T, capture []byte) {
		path := filepath.Join(t.TempDir(), "fuzz.cap")
		if err := os.WriteFile(path, capture, 0o644); err != nil {
			t.Fatal(err)
		}
		rep, err := replay.Run(context.Background(), replay.Options{Capture: path})
		if rep == nil {
			if err == nil {
				t.Fatal("no report and no error")
			}
			return
		}
		var ce *replay.CaptureError
		if err != nil && (!errors.As(err, &ce) || rep.Complete || rep.Error != err.Error()) {
			t.Fatalf("report %+v with error %v: want a CaptureError and an incomplete report", rep, err)
		}
		var rx uint64
		for _, p := range rep.Ports {
			rx += p.RxFrames
		}
		if rx != rep.Frames {
			t.Fatalf("the ports received %d frames, the report says %d were replayed", rx, rep.Frames)
		}
		var out bytes.Buffer
		if err := rep.WriteText(&out); err != nil {
			t.Fatal(err)
		}
		if err := rep.WriteJSON(&out); err != nil {
			t.Fatal(err)
		}
	})
}
