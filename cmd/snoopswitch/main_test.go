package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestUsageErrorsExitTwo(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"no command", nil, 2, "Usage:"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"help", []string{"--help"}, 0, ""},
		{"version", []string{"version"}, 0, ""},
		{"run without ports", []string{"run"}, 2, "at least two ports"},
		{"run with one port", []string{"run", "--port", "veth0"}, 2, "at least two ports"},
		{"same port twice", []string{"run", "--port", "veth0", "--port", "veth0"}, 2, `port "veth0" given twice`},
		{"unknown flag", []string{"run", "--prot", "veth0"}, 2, "flag provided but not defined: -prot"},
		{"stray argument", []string{"run", "--port", "a", "--port", "b", "extra"}, 2, `unexpected argument "extra"`},
		{"bad aging time", []string{"run", "--port", "a", "--port", "b", "--aging-time", "-1s"}, 2, "--aging-time -1s must be positive"},
		{"bad mac limit", []string{"run", "--port", "a", "--port", "b", "--mac-limit", "0"}, 2, "--mac-limit 0 must be positive"},
		{"run help", []string{"run", "--help"}, 0, "Exit codes:"},
		{"lab with negative pings", []string{"lab", "--pings", "-1"}, 2, "--pings -1: use 0 (no pings) or more"},
		{"lab without its topology file", []string{"lab", "--topology", "/nonexistent/lab.yaml"}, 1, "topology: open /nonexistent/lab.yaml"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := run(c.args, &stdout, &stderr)
		if code != c.code {
			t.Errorf("%s: exit code %d, want %d (stderr %q)", c.name, code, c.code, stderr.String())
		}
		if !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%s: stderr %q does not say %q", c.name, stderr.String(), c.want)
		}
	}
}

func TestVersionAndHelpGoToStdout(t *testing.T) {
	var stdout, stderr bytes.Buffer
	run([]string{"version"}, &stdout, &stderr)
	if !strings.HasPrefix(stdout.String(), "snoopswitch ") {
		t.Errorf("version printed %q", stdout.String())
	}
	stdout.Reset()
	run([]string{"help"}, &stdout, &stderr)
	for _, name := range []string{"run", "lab", "version", "Exit codes"} {
		if !strings.Contains(stdout.String(), name) {
			t.Errorf("help does not mention %q:\n%s", name, stdout.String())
		}
	}
}
