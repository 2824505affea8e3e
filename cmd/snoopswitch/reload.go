package main

import (
	"context"
	"encoding/json"
	"io"

	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/internal/control"
)

func init() {
	commands["reload"] = command{"make a running switch re-read its --config file and apply it (as SIGHUP does)", reloadCmd}
}

func reloadCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("reload", "snoopswitch reload [--json] [--control-socket PATH]\n\n"+
		"The switch re-reads its --config file (with its command line's flags over it) and applies it\n"+
		"without a restart: ports added and removed, roles, fast leave, flood-unregistered, VLANs and guard\n"+
		"policies changed. Memberships the new policies refuse are removed, the others kept. A file\n"+
		"that is not valid, or that changes a key only a restart applies, is refused with the reason\n"+
		"and the running configuration stays. Runtime rules (snoopswitch rule) are replaced by the file's.", stderr)
	asJSON := fs.Bool("json", false, "print the switch's answer as JSON")
	socket := fs.String("control-socket", config.DefaultControlSocket, "the running switch's control socket")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	out, err := control.Reload(*socket)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(out)
		return err
	}
	var r control.ReloadResult
	if err := json.Unmarshal(out, &r); err != nil {
		return err
	}
	_, err = io.WriteString(stdout, r.String())
	return err
}
