package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/snoopswitch/snoopswitch/internal/bench"
)

func init() {
	commands["bench"] = command{"measure snoopswitch against the Linux bridge on a namespace lab", benchCmd}
}

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", "snoopswitch bench [--pairs N] [--quick] [--json] [--plot FILE.svg] [--switch-args ARGS] [--scenarios NAMES] [--datapath ring,fast]", stderr)
	pairs := fs.Int("pairs", bench.DefaultPairs, "snoopswitch / Linux bridge pairs measured per scenario, alternating")
	quick := fs.Bool("quick", false, fmt.Sprintf("short windows and %d pairs (unless --pairs is given): a smoke test, not figures to quote", bench.QuickPairs))
	asJSON := fs.Bool("json", false, "print the report as JSON (its shape is described in BENCHMARKS.md)")
	plot := fs.String("plot", "", "also write an SVG plot of frames/s per scenario for the two switches, with their ratios, to this file")
	switchArgs := fs.String("switch-args", "", `extra arguments for "snoopswitch run", split at spaces (e.g. --no-express)`)
	datapaths := fs.String("datapath", "", `comma-separated datapaths of snoopswitch to measure, each against the Linux bridge: ring, fast (default both where the fast path can load, ring alone otherwise, which the report says)`)
	scenarios := fs.String("scenarios", "", "comma-separated scenarios to run (default all: "+strings.Join(bench.ScenarioNames(), ", ")+")")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o := bench.Options{
		SwitchArgs: strings.Fields(*switchArgs),
		Pairs:      *pairs,
		Quick:      *quick,
		Command:    strings.Join(append([]string{"snoopswitch", "bench"}, args...), " "),
		Progress:   stderr,
	}
	pairsSet := false
	fs.Visit(func(f *flag.Flag) { pairsSet = pairsSet || f.Name == "pairs" })
	if !pairsSet {
		o.Pairs = 0 // the default of the mode: 5, or 2 with --quick
	}
	if *pairs < 1 {
		return usagef("--pairs %d: measure at least one pair", *pairs)
	}
	if *scenarios != "" {
		o.Scenarios = strings.Split(*scenarios, ",")
	}
	if *datapaths != "" {
		o.Datapaths = strings.Split(*datapaths, ",")
	}
	if err := o.Validate(); err != nil {
		return usagef("%v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: cannot find the snoopswitch executable to measure: %w", err)
	}
	o.Binary = exe
	// A report comes with an error only when the measurement went through
	// and cleaning up after it did not: print both.
	rep, err := bench.Run(ctx, o)
	if rep != nil {
		write := rep.WriteText
		if *asJSON {
			write = rep.WriteJSON
		}
		if werr := write(stdout); err == nil {
			err = werr
		}
		if *plot != "" {
			if perr := writePlot(rep, *plot); err == nil {
				err = perr
			}
		}
	}
	return err
}

// writePlot writes the report's SVG plot to path.
func writePlot(rep *bench.Report, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: --plot: %w", err)
	}
	if err := rep.WritePlotSVG(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("bench: --plot: %w", err)
	}
	return nil
}
