// Package daemon is the switch `snoopswitch run` keeps running: it opens
// the configured ports (through an Opener, so that tests need no root),
// builds the engine, serves the control socket and the metrics, applies a
// configuration reload (SIGHUP, `snoopswitch reload`) and writes the
// SIGUSR1 status.
//
// It owns the mapping of the configuration's port names to the engine's
// port IDs, which stop following the file's order once ports come and go.
// The command line (flags, output, exit codes) stays in cmd/snoopswitch.
package daemon
