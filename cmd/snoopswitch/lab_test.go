package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/lab"
)

// TestLabTopologyErrors: a bad topology file is a usage error that names
// the field, and --print-default prints a topology that parses as the
// default.
func TestLabTopologyErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("hosts: [{name: a}, {name: b, joins: [{group: 239.1.1}]}]\nstreams: [{from: a, group: 239.1.1.1}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"lab", "--topology", path}, &stdout, &stderr); code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	if want := `snoopswitch lab: topology ` + path + `: hosts[1] (b).joins[0].group: "239.1.1" is not an IP address`; !strings.HasPrefix(stderr.String(), want) {
		t.Errorf("stderr %q, want it to start with %q", stderr.String(), want)
	}

	stdout.Reset()
	if code := run([]string{"lab", "--print-default"}, &stdout, &stderr); code != 0 {
		t.Fatalf("--print-default: exit code %d", code)
	}
	printed, err := lab.Parse("printed", stdout.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	printed.Name = lab.DefaultName
	if got, want := printed, lab.Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("--print-default parses to %+v, want %+v", got, want)
	}
}
