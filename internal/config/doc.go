// Package config reads snoopswitch's configuration file (YAML) into the
// settings `snoopswitch run` starts the engine with, and checks them: every
// error names the file, the line, the key and what the key allows.
//
// examples/snoopswitch.yaml is the reference: every key, its default and
// what it does. Defaults come from the packages that own them
// (snoop.DefaultTimers, guard.HostPortDefaults, fdb.DefaultAgingTime, ...),
// through Default.
package config
