package replay_test

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/replay"
)

// replayMAC is the source of the switch's own queries in a replay.
var replayMAC = net.HardwareAddr{0x02, 0x73, 0x6e, 0x6f, 0x6f, 0x70}

func TestWriteDirHasWhatEachPortWasSent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "golden.pcapng")
	writePcapng(t, path, goldenPorts, goldenFrames(t))
	out := filepath.Join(dir, "out")
	rep := mustReplay(t, replay.Options{Capture: path, RouterPorts: []string{"r"}, WriteDir: out})
	checkGolden(t, rep)

	for _, p := range rep.Ports {
		if p.File != p.Name+".pcap" {
			t.Errorf("port %s: written to %q, want %s.pcap", p.Name, p.File, p.Name)
		}
		frames, _ := readPcap(t, filepath.Join(out, p.File))
		if uint64(len(frames)) != p.TxFrames {
			t.Errorf("%s: %d frames, the report says %d were sent", p.File, len(frames), p.TxFrames)
		}
	}

	// h3 is sent r's two queries, the data to 225.1.1.1 (not that to
	// 239.1.1.1 or 224.1.1.1 on the same MAC) and the switch's queries,
	// unchanged and at the capture's times.
	in := goldenFrames(t)
	frames, times := readPcap(t, filepath.Join(out, "h3.pcap"))
	ms := time.Millisecond
	wantAt := []time.Duration{0, 100 * ms, 12001 * ms, 14100 * ms, 31400 * ms, 156400 * ms, 255000 * ms, 281400 * ms, 286300 * ms}
	var gotAt []time.Duration
	for _, at := range times {
		gotAt = append(gotAt, at.Sub(captureStart))
	}
	if !slices.Equal(gotAt, wantAt) {
		t.Fatalf("h3.pcap has frames at %v, want %v", gotAt, wantAt)
	}
	for i, want := range map[int][]byte{0: in[0].data, 2: in[5].data, 3: in[12].data} {
		if !bytes.Equal(frames[i], want) {
			t.Errorf("h3.pcap frame %d:\n% x\nwant the captured frame\n% x", i+1, frames[i], want)
		}
	}
	for _, i := range []int{1, 4, 5, 6, 7, 8} {
		f := frames[i]
		kind := "MLD"
		if gotAt[i] == 255*time.Second || gotAt[i] == 286300*ms {
			kind = "IGMP"
		}
		isIGMP := f[12] == 0x08 && f[13] == 0x00 && bytes.Equal(f[0:6], []byte{0x01, 0x00, 0x5e, 0, 0, 1})
		isMLD := f[12] == 0x86 && f[13] == 0xdd && bytes.Equal(f[0:6], []byte{0x33, 0x33, 0, 0, 0, 1})
		if !bytes.Equal(f[6:12], replayMAC) || (kind == "IGMP") != isIGMP || (kind == "MLD") != isMLD {
			t.Errorf("h3.pcap frame %d at %v is not the switch's %s general query:\n% x", i+1, gotAt[i], kind, f)
		}
	}
}

func TestDeterministic(t *testing.T) {
	dir := t.TempDir()
	golden := filepath.Join(dir, "golden.pcapng")
	writePcapng(t, golden, goldenPorts, goldenFrames(t))
	cases := []struct {
		name string
		opts replay.Options
	}{
		{"golden", replay.Options{Capture: golden, RouterPorts: []string{"r"}}},
		{"many groups", replay.Options{Capture: "testdata/igmp-many-groups.pcap", Ports: []replay.Mapping{
			macPort(t, "h1", "00:11:22:00:00:00"), macPort(t, "h2", "00:11:22:00:00:01")}}},
		{"home", replay.Options{Capture: "testdata/home-multicast-short.pcap", RouterPorts: []string{"router"},
			Ports: []replay.Mapping{macPort(t, "router", "98:da:c4:c9:80:a8")}}},
	}
	for _, c := range cases {
		var texts, docs [2]bytes.Buffer
		var outs [2]string
		for i := range 2 {
			o := c.opts
			o.Timing = true
			o.WriteDir = filepath.Join(dir, c.name, string(rune('a'+i)))
			outs[i] = o.WriteDir
			rep := mustReplay(t, o)
			if rep.Engine == nil || rep.Engine.Frames != rep.Frames {
				t.Errorf("%s: engine throughput %+v, want one measured over the %d frames", c.name, rep.Engine, rep.Frames)
			}
			rep.Engine = nil // the one part that differs
			rep.WriteText(&texts[i])
			rep.WriteJSON(&docs[i])
		}
		if texts[0].String() != texts[1].String() {
			t.Errorf("%s: two runs printed different reports:\n%s\n%s", c.name, texts[0].String(), texts[1].String())
		}
		if docs[0].String() != docs[1].String() {
			t.Errorf("%s: two runs gave different JSON:\n%s\n%s", c.name, docs[0].String(), docs[1].String())
		}
		files, _ := filepath.Glob(filepath.Join(outs[0], "*.pcap"))
		if len(files) == 0 {
			t.Errorf("%s: no pcap written", c.name)
		}
		for _, f := range files {
			a, _ := os.ReadFile(f)
			b, err := os.ReadFile(filepath.Join(outs[1], filepath.Base(f)))
			if err != nil || !bytes.Equal(a, b) {
				t.Errorf("%s: %s differs between two runs (%v)", c.name, filepath.Base(f), err)
			}
		}
	}
}
