package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/internal/replay"
)

func init() {
	commands["replay"] = command{"run the switch's engine over a pcap or pcapng capture: what each port gets, drops, groups, speed", replayCmd}
}

// mappings is the repeatable --port NAME=FILE|NAME=MAC of replay.
type mappings []replay.Mapping

func (m *mappings) String() string {
	parts := make([]string, len(*m))
	for i, p := range *m {
		v := p.File
		if v == "" {
			v = p.MAC.String()
		}
		parts[i] = p.Port + "=" + v
	}
	return strings.Join(parts, ",")
}

func (m *mappings) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || name == "" || value == "" {
		return fmt.Errorf("%q is not NAME=FILE or NAME=MAC (like h1=h1.pcap or h1=02:00:00:00:00:01)", v)
	}
	p := replay.Mapping{Port: name}
	if hw, err := net.ParseMAC(value); err == nil && len(hw) == 6 {
		p.MAC = fdb.MAC(hw)
		if p.MAC.IsMulticast() {
			return fmt.Errorf("%q: %s is a multicast address, which is never a frame's source", v, value)
		}
	} else {
		p.File = value
	}
	for _, q := range *m {
		switch {
		case p.File != "" && q.File == p.File:
			return fmt.Errorf("%q: the file %s is given twice", v, p.File)
		case p.File == "" && q.File == "" && q.MAC == p.MAC:
			return fmt.Errorf("%q: %s is mapped to port %q already", v, value, q.Port)
		}
	}
	*m = append(*m, p)
	return nil
}

func replayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("replay", "snoopswitch replay [flags] CAPTURE\n  snoopswitch replay [flags] --port NAME=FILE --port NAME=FILE ... [CAPTURE]", stderr)
	var ports mappings
	var routerPorts repeated
	fs.Var(&ports, "port", "NAME=FILE: every frame of the capture FILE arrives on port NAME (files are merged by timestamp); NAME=MAC: frames from source address MAC arrive on port NAME, whatever their file or interface (repeatable). Other frames arrive on the port named after their pcapng interface (if<id> without a name; if0 in a pcap file)")
	fs.Var(&routerPorts, "router-port", "a port that is a static multicast router port: it gets every report and all multicast data, and its queries pass the guard (repeatable)")
	configFile := fs.String("config", "", "configuration file, as for run (examples/snoopswitch.yaml): snooping, querier, guard policies and limits apply as in a live switch; its ports keep their settings by name")
	asJSON := fs.Bool("json", false, "print the report as JSON (its shape is in the README)")
	writeDir := fs.String("write-dir", "", "write one pcap per port into this directory (created if needed): the frames sent out of it, stamped with the capture's time")
	noTiming := fs.Bool("no-timing", false, "leave out the engine's speed, the one part of the report that differs between runs")
	logLevel := slog.LevelWarn
	fs.TextVar(&logLevel, "log-level", slog.LevelWarn, "level of the engine's logs on stderr (the guard's drops are warnings): debug, info, warn, error")
	// The capture may come before the flags or after them.
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	var capture string
	if fs.NArg() > 0 {
		capture = fs.Arg(0)
		if err := parseFlags(fs, fs.Args()[1:]); err != nil {
			return err
		}
	}
	hasFile := false
	for _, p := range ports {
		hasFile = hasFile || p.File != ""
	}
	if capture == "" && !hasFile {
		return usagef("what to replay? give a capture, or a file per port with --port NAME=FILE")
	}
	seen := make(map[string]bool)
	for _, r := range routerPorts {
		if seen[r] {
			return usagef("--router-port %q given twice", r)
		}
		seen[r] = true
	}

	o := replay.Options{Capture: capture, Ports: ports, RouterPorts: routerPorts, WriteDir: *writeDir, Timing: !*noTiming,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel}))}
	if *configFile != "" {
		c, err := config.Load(*configFile)
		if err != nil {
			if errors.As(err, new(config.Errors)) {
				return usageError{err}
			}
			return err
		}
		o.Config = c
	}
	rep, err := replay.Run(ctx, o)
	if errors.Is(err, replay.ErrUnknownPort) {
		return usageError{err}
	}
	// A report comes with an error when the replay stopped part way: print
	// what was replayed, then the error.
	if rep != nil {
		write := rep.WriteText
		if *asJSON {
			write = rep.WriteJSON
		}
		if werr := write(stdout); err == nil {
			err = werr
		}
	}
	return err
}
