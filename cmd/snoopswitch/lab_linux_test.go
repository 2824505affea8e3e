package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/lab"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// labPrefix returns a prefix no other lab uses, and fails the test at its
// end if a namespace with it is left.
func labPrefix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 2)
	rand.Read(b)
	prefix := "lt" + hex.EncodeToString(b)
	if ns, err := namespacesWithPrefix(prefix); err != nil || len(ns) > 0 {
		t.Fatalf("namespaces %v exist before the test (%v)", ns, err)
	}
	t.Cleanup(func() {
		ns, err := namespacesWithPrefix(prefix)
		if err != nil {
			t.Error(err)
		}
		if len(ns) > 0 {
			t.Errorf("the lab left namespaces behind: %v", ns)
			for _, n := range ns {
				exec.Command("ip", "netns", "del", n).Run()
			}
		}
	})
	return prefix
}

// namespacesWithPrefix lists the named namespaces of a lab with prefix.
func namespacesWithPrefix(prefix string) ([]string, error) {
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ip netns list: %v: %s", err, out)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if name, _, _ := strings.Cut(line, " "); strings.HasPrefix(name, prefix+"-") {
			names = append(names, name)
		}
	}
	return names, nil
}

// TestLabDefaultTopology runs `snoopswitch lab` as a user does and checks
// its report: members got every datagram of their groups, non-members none
// (the groups sharing a MAC included), and the rogue querier was dropped
// while the switch stayed the querier.
func TestLabDefaultTopology(t *testing.T) {
	testenv.RequireRoot(t)
	prefix := labPrefix(t)
	var stdout, stderr bytes.Buffer
	start := time.Now()
	args := []string{"lab", "--prefix", prefix, "--pings", "1"}
	// The datapath make test's ring pass asks for; the default, auto,
	// otherwise.
	wantDatapath := `(fast|ring) by auto`
	if d := os.Getenv(testenv.DatapathEnv); d != "" {
		args, wantDatapath = append(args, "--datapath", d), d
	}
	code := run(args, &stdout, &stderr)
	out := stdout.String()
	t.Logf("snoopswitch lab took %v:\n%s", time.Since(start).Round(time.Millisecond), out)
	if code != 0 {
		t.Fatalf("exit code %d, stderr: %s", code, stderr.String())
	}

	// Who asked for each stream (*), and the sender (-), by column:
	// router h1 h2 h3 h4 attacker vm1 vm2. vm1 left its groups; vm2, behind
	// the same fast-leave port, kept them, and the hub hands vm1 a copy.
	want := map[string]string{
		"224.1.1.1 from router":   "- * . . . . . .",
		"225.1.1.1 from router":   "- . . * . . . .",
		"232.1.1.1 from router":   "- . * . . . . .",
		"232.1.1.1 from attacker": "* . . . . - . .",
		"239.1.1.1 from router":   "- . . . * . . .",
		"ff0e::1:1 from router":   "- . . . * . . .",
		"239.2.2.2 from router":   "- . . . . . * *",
		"ff0e::2:2 from router":   "- . . . . . * *",
	}
	rows := streamRows(t, out)
	for stream, marks := range want {
		cells, ok := rows[stream]
		if !ok {
			t.Errorf("no row for stream %s", stream)
			continue
		}
		for i, m := range strings.Fields(marks) {
			wantCell := map[string]string{"-": "-", "*": "50*", ".": "0"}[m]
			if cells[i] != wantCell {
				t.Errorf("stream %s, host column %d: %q, want %q", stream, i+1, cells[i], wantCell)
			}
		}
	}
	if len(rows) != len(want) {
		t.Errorf("%d stream rows, want %d", len(rows), len(want))
	}

	for _, re := range []string{
		`^snoopswitch lab: 8 hosts on snoopswitch \(running in this process, datapath ` + wantDatapath + `\), in namespaces ` + prefix + `-\*\n`,
		`(?m)^32 groups, one MAC: 224\.1\.1\.1, 225\.1\.1\.1, 232\.1\.1\.1 and 239\.1\.1\.1 all map to 01:00:5e:01:01:01\.$`,
		`(?m)^  h1 +224\.1\.1\.1 +200 +0$`,
		`(?m)^  h2 +232\.1\.1\.1 +200 +0$`,
		`(?m)^  h3 +225\.1\.1\.1 +200 +0$`,
		`(?m)^  h4 +239\.1\.1\.1 +200 +0$`,
		`(?m)^  guard drops on port ` + prefix + `attacker: router-guard=40 \(of 40 sent\)$`,
		`(?m)^  queries that reached the other hosts: 0 `,
		`(?m)^  IGMP querier: snoopswitch \(0\.0\.0\.0\), still elected$`,
		`(?m)^  MLD querier: snoopswitch \(fe80::[0-9a-f:]+\), still elected$`,
		`(?m)^Querier: snoopswitch's own`,
		`(?m)^Unicast: 16/16 echo replies`,
		`(?m)^  vm1 +` + prefix + `vmhost +host .*239\.2\.2\.2 \(IGMPv3\) then left`,
		`(?m)^  vm2 +` + prefix + `vmhost +host `,
		`(?m)^Frames saved: 2300 of 2800 against flooding \(82%\), 800 against a MAC-based snooping switch\.$`,
		`(?m)^Result: every host got exactly the datagrams it asked for`,
		`(?m)^Removed the lab \(namespaces ` + prefix + `-\*\)\.$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("the report lacks %s", re)
		}
	}
}

// streamRows reads the stream table of a lab report: the cells after SENT
// of each stream's row, by stream name ("GROUP from HOST").
func streamRows(t *testing.T, out string) map[string][]string {
	t.Helper()
	rows := make(map[string][]string)
	in := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && f[0] == "STREAM":
			in = true
		case in && len(f) > 4 && f[1] == "from":
			rows[strings.Join(f[:3], " ")] = f[4:]
		case in:
			return rows
		}
	}
	t.Fatalf("no stream table in the report:\n%s", out)
	return nil
}

// TestLabInterrupted: Ctrl-C while the lab runs removes everything it made.
func TestLabInterrupted(t *testing.T) {
	testenv.RequireRoot(t)
	prefix := labPrefix(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Once the lab is built: its namespaces exist.
		for range 500 {
			if ns, _ := namespacesWithPrefix(prefix); len(ns) >= 7 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	var stdout bytes.Buffer
	err := runLab(ctx, lab.Default(), labOptions{pings: 1, prefix: prefix}, &stdout)
	if !errors.Is(err, errInterrupted) {
		t.Fatalf("runLab = %v, want %v\n%s", err, errInterrupted, stdout.String())
	}
	if !strings.Contains(stdout.String(), "Removed the lab (namespaces "+prefix+"-*).") {
		t.Errorf("no word of the removal:\n%s", stdout.String())
	}
}

// TestLabFabric runs `snoopswitch lab --fabric` as a user does (the built
// program: the lab runs it again on every machine) and checks its report:
// every host got what it asked for, the streams crossed the tunnels less
// than over the flooding fabric, every machine names one querier, and
// nothing is left behind.
func TestLabFabric(t *testing.T) {
	testenv.RequireRoot(t)
	bin := binary(t)
	b := make([]byte, 2)
	rand.Read(b)
	prefix := "f" + hex.EncodeToString(b) // a fabric prefix has 5 characters at most
	leftovers := func() []string {
		out, err := exec.Command("ip", "netns", "list").CombinedOutput()
		if err != nil {
			t.Fatalf("ip netns list: %v: %s", err, out)
		}
		var names []string
		for _, line := range strings.Split(string(out), "\n") {
			if name, _, _ := strings.Cut(line, " "); strings.HasPrefix(name, prefix) {
				names = append(names, name)
			}
		}
		return names
	}
	if ns := leftovers(); len(ns) > 0 {
		t.Fatalf("namespaces %v exist before the test", ns)
	}
	start := time.Now()
	code, out := exitCode(t, exec.Command(bin, "lab", "--fabric", "--prefix", prefix, "--pings", "1"))
	t.Logf("snoopswitch lab --fabric took %v:\n%s", time.Since(start).Round(time.Millisecond), out)
	if ns := leftovers(); len(ns) > 0 {
		t.Errorf("the lab left namespaces behind: %v", ns)
		for _, n := range ns {
			exec.Command("ip", "netns", "del", n).Run()
		}
	}
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	for _, re := range []string{
		`(?m)^  a <-> b +VNI 42 +` + prefix + `a-vxb on a, ` + prefix + `b-vxa on b$`,
		`(?m)^  a <-> c +VNI 43 `,
		`(?m)^Unicast: 12/12 echo replies`,
		`(?m)^Result: every host got exactly the datagrams it asked for, and no other; the tunnels carried \d+ datagrams where a flooding fabric carries 600 `,
		`(?m)^Removed the fabric \(namespaces ` + prefix + `\*\)\.$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("the report lacks %s", re)
		}
	}
	if !regexp.MustCompile(`(?m)^Querier: the fabric's; IGMP: \w+'s switch, from \S+, named by every machine; MLD: \w+'s switch, from \S+, named by every machine\.$`).MatchString(out) {
		t.Error("the machines do not name one querier")
	}
	// Each stream crosses, flooding / snooping, b->a, a->b, c->a, a->c: a
	// flooding star sends it over every tunnel away from its sender; the
	// snooping fabric only toward its members.
	for stream, cells := range map[string]string{
		"239.3.3.3 from src": "0 / 0  50 / 0  0 / 0  50 / 50  100 / 50",
		"ff0e::3:3 from src": "0 / 0  50 / 0  0 / 0  50 / 50  100 / 50",
		"239.1.1.1 from src": "0 / 0  50 / 0  0 / 0  50 / 0  100 / 0",
		"239.3.3.3 from b2":  "50 / 50  0 / 0  0 / 0  50 / 50  100 / 100",
		"ff0e::2:2 from src": "0 / 0  50 / 50  0 / 0  50 / 0  100 / 50",
		"239.9.9.9 from src": "0 / 0  50 / 0  0 / 0  50 / 0  100 / 0",
	} {
		re := `(?m)^ +` + regexp.QuoteMeta(stream) + ` +` + strings.ReplaceAll(regexp.QuoteMeta(cells), "  ", " +") + `$`
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("the tunnel table's row of %s is not %s", stream, cells)
		}
	}
	if !regexp.MustCompile(`(?m)^Frames saved on the tunnels: 350 of 600 \(58%\) against the flooding fabric\.$`).MatchString(out) {
		t.Error("the report does not give 350 of 600 frames saved on the tunnels")
	}
}
