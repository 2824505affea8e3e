package main

import (
	"context"
	"fmt"
	"io"

	"github.com/snoopswitch/snoopswitch/internal/config"
)

func init() {
	commands["check"] = command{"check a configuration file without running the switch", checkCmd}
}

// checkCmd loads and validates a configuration file as `run --config`
// would, without touching any interface: exit 0 if it is valid, 1 with its
// errors if not.
func checkCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", "snoopswitch check --config FILE", stderr)
	file := fs.String("config", "", "the configuration file to check (examples/snoopswitch.yaml lists every key); exit 1 and its errors, one per line with the file, line and key, if it is not valid")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *file == "" {
		return usagef("which file? give it with --config FILE")
	}
	c, err := config.Load(*file)
	if err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	tunnels := ""
	if n := len(c.Tunnels); n > 0 {
		tunnels = fmt.Sprintf(", %d of them tunnels", n)
	}
	fmt.Fprintf(stdout, "%s: ok (%d ports%s)\n", *file, len(c.Ports), tunnels)
	return nil
}
