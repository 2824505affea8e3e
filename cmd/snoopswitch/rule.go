package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/internal/control"
)

func init() {
	commands["rule"] = command{"add or remove an access-list or sender rule on a running switch's port", ruleCmd}
}

// ruleCmd is `snoopswitch rule add|remove --port P (--acl|--sender) 'permit|deny [GROUP [SOURCE]]'`.
func ruleCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("rule", "snoopswitch rule add|remove --port IFACE (--acl RULE | --sender RULE)\n\n"+
		"RULE is 'permit|deny [GROUP-PREFIX [SOURCE-PREFIX]]', e.g. 'permit 239.1.0.0/16 198.18.0.5'.\n"+
		"add puts the rule first in the port's list; adding a rule the list has, or removing one it\n"+
		"lacks, changes nothing. The change takes effect at once; memberships a new access list\n"+
		"refuses are removed. It lasts until the switch restarts or reloads its configuration.", stderr)
	port := fs.String("port", "", "the port (interface name)")
	acl := fs.String("acl", "", "a rule of the port's group access list (which groups its hosts may join)")
	sender := fs.String("sender", "", "a rule of the port's sender policy (which sources behind it may send to which groups)")
	socket := fs.String("control-socket", config.DefaultControlSocket, "the running switch's control socket")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		return usagef("rule: say add or remove first")
	}
	op := args[0]
	if op != "add" && op != "remove" {
		return usagef("rule %q: use add or remove", op)
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	req := control.RuleRequest{Op: op, Port: *port}
	var text string
	switch {
	case *port == "":
		return usagef("rule %s: --port is required", op)
	case (*acl == "") == (*sender == ""):
		return usagef("rule %s: give one of --acl or --sender", op)
	case *acl != "":
		req.List, text = "acl", *acl
	default:
		req.List, text = "senders", *sender
	}
	f := strings.Fields(text)
	if len(f) < 1 || len(f) > 3 {
		return usagef("rule %q: use 'permit|deny [GROUP-PREFIX [SOURCE-PREFIX]]'", text)
	}
	req.Action = f[0]
	if len(f) > 1 {
		req.Group = f[1]
	}
	if len(f) > 2 {
		req.Source = f[2]
	}
	out, err := control.SendRule(*socket, req)
	if err != nil {
		return err
	}
	_, err = fmt.Fprint(stdout, string(out))
	return err
}
