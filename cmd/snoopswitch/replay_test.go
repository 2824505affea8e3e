package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/replay"
)

// igmpV1Capture is a real capture (see internal/replay/testdata/README.md):
// a router's IGMPv1 queries and a host's IGMPv1 reports for 239.1.1.1.
const igmpV1Capture = "../../internal/replay/testdata/multicast-igmp-version-membership-query-and-report.pcap"

var igmpV1Args = []string{"--router-port", "router", "--port", "router=fa:16:3e:e4:d3:de", "--port", "host=fa:16:3e:35:d1:43"}

func runReplay(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(append([]string{"replay"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestReplayCommand(t *testing.T) {
	code, text, stderr := runReplay(t, append(append([]string{}, igmpV1Args...), igmpV1Capture)...)
	if code != 0 {
		t.Fatalf("exit code %d, stderr %s", code, stderr)
	}
	for _, want := range []string{"16 frames, 424.683 s of capture time", "router  router  8", "igmpv1-report=8", "239.1.1.1  host  EXCLUDE", "ns/frame"} {
		if !strings.Contains(text, want) {
			t.Errorf("the report does not say %q:\n%s", want, text)
		}
	}

	// Flags may follow the capture; --json has the README's shape.
	code, doc, stderr := runReplay(t, append([]string{igmpV1Capture, "--json", "--no-timing"}, igmpV1Args...)...)
	if code != 0 {
		t.Fatalf("--json: exit code %d, stderr %s", code, stderr)
	}
	var rep replay.Report
	if err := json.Unmarshal([]byte(doc), &rep); err != nil {
		t.Fatalf("--json printed %v:\n%s", err, doc)
	}
	if rep.Frames != 16 || !rep.Complete || len(rep.Groups) != 1 || rep.Groups[0].Port != "host" || rep.Engine != nil {
		t.Errorf("--json --no-timing: %d frames, complete %v, groups %+v, engine %+v; want 16, true, 239.1.1.1 on host, none", rep.Frames, rep.Complete, rep.Groups, rep.Engine)
	}
	for _, key := range []string{`"captures"`, `"ports"`, `"rx_frames"`, `"queries_sent"`, `"drops"`, `"groups"`, `"group_timer_s"`, `"routers"`, `"querier"`} {
		if !strings.Contains(doc, key) {
			t.Errorf("--json has no %s", key)
		}
	}
}

func TestReplayCommandIsDeterministic(t *testing.T) {
	for _, format := range []string{"--json", "--json=false"} {
		args := append([]string{"--no-timing", format}, igmpV1Args...)
		args = append(args, igmpV1Capture)
		_, first, _ := runReplay(t, args...)
		_, second, _ := runReplay(t, args...)
		if first == "" || first != second {
			t.Errorf("%s: two runs printed\n%s\nand\n%s", format, first, second)
		}
	}
}

func TestReplayCommandTruncatedCapture(t *testing.T) {
	b, err := os.ReadFile(igmpV1Capture)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cut.pcap")
	// 24-byte header, then records of 16 bytes and 60 or 46 (queries,
	// reports): cut 10 bytes into the fourth frame's data.
	if err := os.WriteFile(path, b[:24+(16+60)+(16+46)+(16+60)+16+10], 0o644); err != nil {
		t.Fatal(err)
	}
	code, text, stderr := runReplay(t, append(append([]string{"--no-timing"}, igmpV1Args...), path)...)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.Contains(text, "3 frames") || !strings.Contains(text, "INCOMPLETE") {
		t.Errorf("no report of the 3 frames before the cut:\n%s", text)
	}
	if !strings.Contains(stderr, "frame 4 is cut short: the file ends inside it") {
		t.Errorf("stderr does not name frame 4: %s", stderr)
	}
}

func TestReplayCommandUsage(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"nothing to replay", nil, 2, "what to replay?"},
		{"bad mapping", []string{"--port", "h1", igmpV1Capture}, 2, `"h1" is not NAME=FILE or NAME=MAC`},
		{"multicast source", []string{"--port", "h1=01:00:5e:00:00:01", igmpV1Capture}, 2, "is a multicast address"},
		{"MAC twice", []string{"--port", "a=02:00:00:00:00:01", "--port", "b=02:00:00:00:00:01", igmpV1Capture}, 2, `mapped to port "a" already`},
		{"unknown router port", []string{"--router-port", "uplink", igmpV1Capture}, 2, `--router-port "uplink": no such port; the ports are if0`},
		{"two captures", []string{igmpV1Capture, igmpV1Capture}, 2, "unexpected argument"},
		{"missing file", []string{"nope.pcap"}, 1, "open nope.pcap: no such file or directory"},
		{"help", []string{"--help"}, 0, "NAME=MAC"},
	}
	for _, c := range cases {
		code, _, stderr := runReplay(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit code %d, stderr %q; want %d and %q", c.name, code, stderr, c.code, c.want)
		}
	}
}
