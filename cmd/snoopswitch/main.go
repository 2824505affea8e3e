// Command snoopswitch is a userspace Ethernet switch for Linux. This
// package owns the command line only: each subcommand's flags, its output
// and its exit code; what a subcommand does lives in a package
// (internal/daemon for run, internal/control for show, rule and reload,
// internal/replay, internal/lab, internal/bench, internal/config for check).
//
// Exit codes: 0 success, 1 runtime failure, 2 usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// command is one subcommand: its one-line summary and its run function.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands holds the subcommands; each file registers its own in init.
var commands = map[string]command{}

// order lists the subcommands as --help shows them.
var order = []string{"run", "check", "show", "rule", "reload", "lab", "replay", "bench", "version"}

func init() {
	commands["version"] = command{"print the version", versionCmd}
}

// usageError marks an error in how the command was called (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

const exitCodesHelp = `Exit codes:
  0  success
  1  runtime failure (an interface cannot be opened, not root, a --config
     file cannot be read, no switch on the control socket; check: the file
     is not valid; reload: the switch refused the file; lab: a host missed
     its traffic or got traffic it should not, or an attack got through;
     replay: a capture that cannot be read to its end, after the report of
     the frames before the bad one)
  2  usage error (unknown flag, missing or duplicate port; run: a --config
     file that is not valid; lab: a --topology file that is not valid;
     replay: a --router-port that is no port of the capture)`

func mainUsage(w io.Writer) {
	fmt.Fprintf(w, "snoopswitch: a userspace Ethernet switch for Linux\n\nUsage:\n  snoopswitch <command> [flags]\n\nCommands:\n")
	for _, name := range order {
		if c, ok := commands[name]; ok {
			fmt.Fprintf(w, "  %-8s %s\n", name, c.summary)
		}
	}
	fmt.Fprintf(w, "\nRun 'snoopswitch <command> --help' for a command's flags.\n\n%s\n", exitCodesHelp)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		mainUsage(stderr)
		return 2
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "help" {
		mainUsage(stdout)
		return 0
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "snoopswitch: unknown command %q\n\n", name)
		mainUsage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cmd.run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "snoopswitch %s: %s\nRun 'snoopswitch %s --help' for usage.\n", name, errorText(name, err), name)
		return 2
	default:
		fmt.Fprintf(stderr, "snoopswitch %s: %s\n", name, errorText(name, err))
		return 1
	}
}

// errorText is err's message after "snoopswitch NAME: ". The package
// behind a command has the command's name (lab, replay, bench), and its
// errors start with it: the prefix is said once.
func errorText(name string, err error) string {
	return strings.TrimPrefix(err.Error(), name+": ")
}

// newFlagSet returns a flag set whose --help prints the summary, the usage
// line, the flags and the exit codes.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "snoopswitch %s: %s\n\nUsage:\n  %s\n\nFlags:\n", name, commands[name].summary, usage)
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\n%s\n", exitCodesHelp)
	}
	return fs
}

// parseFlags parses args, turning flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func versionCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "snoopswitch version", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "snoopswitch %s\n", version)
	return nil
}
