package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/internal/control"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
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
	socket := fs.String("control-socket", control.DefaultSocket, "the running switch's control socket")
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
	var r reloadResult
	if err := json.Unmarshal(out, &r); err != nil {
		return err
	}
	_, err = io.WriteString(stdout, r.String())
	return err
}

// reloadResult is what a reload changed; its JSON is the answer of
// `snoopswitch reload --json`.
type reloadResult struct {
	File    string   `json:"file"`
	Added   []string `json:"ports_added"`
	Removed []string `json:"ports_removed"`
	// Changed are ports whose role, fast leave, flood-unregistered, VLANs
	// or guard policy changed.
	Changed []string `json:"ports_changed"`
	// Revoked counts the memberships the new policies refused.
	Revoked  int    `json:"memberships_revoked"`
	LogLevel string `json:"log_level"`
}

func (r reloadResult) String() string {
	list := func(names []string) string {
		if len(names) == 0 {
			return "none"
		}
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("reloaded %s\n  ports added:   %s\n  ports removed: %s\n  ports changed: %s\n  memberships revoked: %d\n  log level: %s\n",
		r.File, list(r.Added), list(r.Removed), list(r.Changed), r.Revoked, r.LogLevel)
}

// reload re-reads the configuration and applies it to the running switch.
// On error nothing has changed.
func (sw *liveSwitch) reload() (reloadResult, error) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	old := sw.config
	if old.File == "" {
		return reloadResult{}, errors.New("reload: the switch was started without --config: there is no file to re-read")
	}
	next, err := sw.load()
	if err != nil {
		return reloadResult{}, fmt.Errorf("reload refused, the running configuration stays:\n%w", err)
	}
	if keys := restartKeys(old, next); len(keys) > 0 {
		return reloadResult{}, fmt.Errorf("reload refused, the running configuration stays: %s changed, and only a restart applies %s",
			strings.Join(keys, ", "), map[bool]string{true: "it", false: "them"}[len(keys) == 1])
	}

	res := reloadResult{File: next.File, LogLevel: next.Logging.Level.String()}
	var added []*switching.RingPort
	for _, name := range next.PortNames() {
		if old.Port(name) != nil {
			continue
		}
		p, err := switching.OpenRingPort(name, next.Ring(sw.logger))
		if err != nil {
			for _, a := range added {
				a.Close()
			}
			return reloadResult{}, fmt.Errorf("reload refused, the running configuration stays: %w", err)
		}
		added = append(added, p)
	}
	for i, p := range added {
		if _, err := sw.engine.AddPort(p); err != nil {
			// Undo: the engine owns the ports added so far.
			for _, a := range added[:i] {
				if id, ok := sw.engine.PortID(a.Name()); ok {
					sw.engine.RemovePort(id)
				}
			}
			for _, a := range added[i:] {
				a.Close()
			}
			return reloadResult{}, fmt.Errorf("reload refused, the running configuration stays: %w", err)
		}
		res.Added = append(res.Added, p.Name())
	}
	for _, name := range old.PortNames() {
		if next.Port(name) != nil {
			continue
		}
		if id, ok := sw.engine.PortID(name); ok {
			if err := sw.engine.RemovePort(id); err != nil {
				sw.logger.Warn("reload: removing a port", "port", name, "err", err)
			}
		}
		res.Removed = append(res.Removed, name)
	}
	for _, p := range next.Ports {
		if o := old.Port(p.Name); o != nil && !samePort(*o, p) {
			res.Changed = append(res.Changed, p.Name)
		}
	}

	for _, p := range next.Ports {
		if id, ok := sw.engine.PortID(p.Name); ok {
			// Validated with the file: cannot fail.
			if err := sw.engine.SetPortVLANs(id, p.VLANIDs()); err != nil {
				sw.logger.Error("reload: the engine refused the VLANs", "port", p.Name, "err", err)
			}
		}
	}
	roles, policies := sw.byPortID(next)
	if s := sw.engine.Snooper(); s != nil {
		s.SetPortRoles(roles)
	}
	if sw.engine.Guard() != nil {
		// The policies were validated with the file, so this cannot fail.
		if res.Revoked, err = control.SetPolicies(sw.engine, policies); err != nil {
			sw.logger.Error("reload: the guard refused the policies", "err", err)
		}
	}
	sw.level.Set(next.Logging.Level)
	sw.config = next
	sw.logger.Info("configuration reloaded", "file", next.File, "ports_added", len(res.Added), "ports_removed", len(res.Removed),
		"ports_changed", len(res.Changed), "memberships_revoked", res.Revoked)
	return res, nil
}

// byPortID returns c's per-port snooping roles and guard policies indexed by
// the engine's port IDs, which after ports come and go no longer follow
// c's order.
func (sw *liveSwitch) byPortID(c *config.Config) (snoop.PortRoles, []guard.PortPolicy) {
	var roles snoop.PortRoles
	policies := make([]guard.PortPolicy, len(sw.engine.Stats()))
	for i := range policies {
		policies[i] = guard.HostPortDefaults() // removed ports
	}
	for _, p := range c.Ports {
		id, ok := sw.engine.PortID(p.Name)
		if !ok {
			continue
		}
		policies[id] = p.Guard
		if p.Role == config.RoleRouter {
			roles.StaticRouterPorts.Add(id)
		}
		if p.FastLeave {
			roles.FastLeave.Add(id)
		}
		if p.FloodUnregistered {
			roles.FloodUnregistered.Add(id)
		}
	}
	return roles, policies
}

// document returns the running configuration for show config, with the
// guard policies as they are now (runtime rules included).
func (sw *liveSwitch) document() any {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	doc := sw.config.Document()
	if g := sw.engine.Guard(); g != nil {
		for i, p := range doc.Ports {
			if id, ok := sw.engine.PortID(p.Name); ok {
				doc.Ports[i].Guard = config.PolicyDoc(g.Policy(id))
			}
		}
	}
	return doc
}

func samePort(a, b config.Port) bool {
	return a.Role == b.Role && a.FastLeave == b.FastLeave && a.FloodUnregistered == b.FloodUnregistered &&
		slices.Equal(a.VLANs, b.VLANs) && reflect.DeepEqual(a.Guard, b.Guard)
}

// restartKeys lists the keys that differ between a and b and that only a
// restart applies: everything but the ports and the log level.
func restartKeys(a, b *config.Config) []string {
	da, db := a.Document(), b.Document()
	da.Ports, db.Ports = nil, nil
	da.Logging, db.Logging = config.LoggingDoc{}, config.LoggingDoc{}
	return changedKeys("", reflect.ValueOf(da), reflect.ValueOf(db))
}

// changedKeys walks two values of a document type and returns the file keys
// (from the yaml tags) whose values differ.
func changedKeys(prefix string, a, b reflect.Value) []string {
	var keys []string
	for i := range a.NumField() {
		f := a.Type().Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if prefix != "" {
			key = prefix + "." + key
		}
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, changedKeys(key, a.Field(i), b.Field(i))...)
		} else if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			keys = append(keys, key)
		}
	}
	return keys
}
