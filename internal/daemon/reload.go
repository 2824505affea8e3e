package daemon

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/internal/config"
	"github.com/snoopswitch/snoopswitch/internal/control"
	"github.com/snoopswitch/snoopswitch/internal/tunnel"
	"github.com/snoopswitch/snoopswitch/snoop"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

// errRefused starts the message of every refused reload.
const errRefused = "daemon: reload refused, the running configuration stays"

// Reload reads the configuration again (Options.Load) and applies it to
// the running switch: ports added and removed, tunnels created (before
// their ports open) and removed (after their ports close), roles, fast
// leave, flood-unregistered, VLANs, guard policies and the log level. On
// error nothing has changed.
func (sw *Switch) Reload() (control.ReloadResult, error) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	old := sw.config
	if old.File == "" {
		return control.ReloadResult{}, errors.New("daemon: reload: the switch was started without --config: there is no file to re-read")
	}
	if sw.opts.Load == nil {
		return control.ReloadResult{}, errors.New("daemon: reload: this switch cannot read its configuration again")
	}
	next, err := sw.opts.Load()
	if err != nil {
		return control.ReloadResult{}, fmt.Errorf("%s:\n%w", errRefused, err)
	}
	if keys := restartKeys(old, next); len(keys) > 0 {
		them := "them"
		if len(keys) == 1 {
			them = "it"
		}
		return control.ReloadResult{}, fmt.Errorf("%s: %s changed, and only a restart applies %s", errRefused, strings.Join(keys, ", "), them)
	}
	// What the engine could refuse is checked before the first change, so
	// that a refused reload changes nothing. Options.Load validated the
	// file, which checks the same; a loader that did not is caught here.
	if err := check(next); err != nil {
		return control.ReloadResult{}, fmt.Errorf("%s: %w", errRefused, err)
	}
	newTunnels, err := tunnelChanges(old, next)
	if err != nil {
		return control.ReloadResult{}, fmt.Errorf("%s: %w", errRefused, err)
	}
	if err := createTunnels(sw.opts.Tunnels, newTunnels, next.TunnelSpecs(), next.PortNames(), sw.logger); err != nil {
		return control.ReloadResult{}, fmt.Errorf("%s: %w", errRefused, err)
	}
	added, err := sw.addPorts(old, next)
	if err != nil {
		for _, t := range newTunnels {
			err = errors.Join(err, sw.opts.Tunnels.Remove(t.Name))
		}
		return control.ReloadResult{}, fmt.Errorf("%s: %w", errRefused, err)
	}

	res := control.ReloadResult{File: next.File, LogLevel: next.Logging.Level.String(), Added: added}
	for _, name := range old.PortNames() {
		if next.Port(name) != nil {
			continue
		}
		if id, ok := sw.engine.PortID(name); ok {
			// The kernel stops forwarding from and to the port before
			// the engine forgets it.
			sw.detach(id)
			if err := sw.engine.RemovePort(id); err != nil {
				sw.logger.Warn("reload: removing a port", "port", name, "err", err)
			}
		}
		res.Removed = append(res.Removed, name)
		if old.Tunnel(name) != nil {
			// The port is out of the engine; its device goes now.
			if err := sw.opts.Tunnels.Remove(name); err != nil {
				sw.logger.Warn("reload: removing a tunnel", "tunnel", name, "err", err)
			} else {
				sw.logger.Info("tunnel removed", "tunnel", name)
			}
		}
	}
	for _, p := range next.Ports {
		if o := old.Port(p.Name); o != nil && !samePort(*o, p) {
			res.Changed = append(res.Changed, p.Name)
		}
	}
	res.Revoked, err = sw.apply(next)
	if sw.opts.Level != nil {
		sw.opts.Level.Set(next.Logging.Level)
	}
	// The ports are next's now, even if the engine refused a setting that
	// check let through: the error says so.
	sw.config = next
	if err != nil {
		return res, fmt.Errorf("daemon: reload: applied in part, the engine refused: %w", err)
	}
	sw.logger.Info("configuration reloaded", "file", next.File, "ports_added", len(res.Added), "ports_removed", len(res.Removed),
		"ports_changed", len(res.Changed), "memberships_revoked", res.Revoked)
	return res, nil
}

// tunnelChanges returns the tunnels of next that old lacks, to be created,
// or an error if next changes a running tunnel's device: a VXLAN device is
// not changed in place, and the kernel would refuse a new one that takes
// the VNI of one the reload removes before it is gone.
func tunnelChanges(old, next *config.Config) ([]tunnel.Spec, error) {
	var added []tunnel.Spec
	var errs []error
	for _, t := range next.Tunnels {
		o := old.Tunnel(t.Name)
		if o == nil {
			added = append(added, t.Spec)
			continue
		}
		if o.Spec != t.Spec {
			errs = append(errs, fmt.Errorf("tunnel %q: vni, remote, local, device, dstport or mtu-check changed, and a running tunnel is not changed in place: give it another name (the old one is removed and the new one made in one reload), or remove it in one reload and add it back in the next", t.Name))
		}
	}
	for _, t := range added {
		for _, o := range old.Tunnels {
			if next.Tunnel(o.Name) == nil && o.VNI == t.VNI && o.Port() == t.Port() && o.Family() == t.Family() {
				errs = append(errs, fmt.Errorf("tunnel %q: VNI %d on UDP port %d is still tunnel %q's, which this reload removes, and Linux has one VXLAN device per VNI and port: remove %q in one reload and add %q in the next, or give %q another VNI", t.Name, t.VNI, t.Port(), o.Name, o.Name, t.Name, t.Name))
			}
		}
	}
	return added, errors.Join(errs...)
}

// check returns an error if the engine would refuse a port's VLANs or
// guard policy.
func check(c *config.Config) error {
	var errs []error
	for _, p := range c.Ports {
		for _, v := range p.VLANIDs() {
			if v > switching.MaxVLAN {
				errs = append(errs, fmt.Errorf("port %q: VLAN %d: VLAN IDs are 0 (untagged) to %d", p.Name, v, switching.MaxVLAN))
			}
		}
		if err := p.Guard.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("port %q: %w", p.Name, err))
		}
	}
	return errors.Join(errs...)
}

// addPorts opens the ports of next that old lacks and adds them to the
// engine, all or none, and returns their names.
func (sw *Switch) addPorts(old, next *config.Config) ([]string, error) {
	var opened []switching.Backend
	for _, name := range next.PortNames() {
		if old.Port(name) != nil {
			continue
		}
		p, err := sw.opts.Open(name)
		if err != nil {
			for _, a := range opened {
				a.Close()
			}
			return nil, err
		}
		opened = append(opened, p)
	}
	var names []string
	for i, p := range opened {
		id, err := sw.engine.AddPort(p)
		if err == nil {
			if err = sw.attach(id, p); err != nil {
				sw.engine.RemovePort(id) // closes p
				opened[i] = nil
			}
		}
		if err != nil {
			// Undo: the engine owns the ports added so far.
			for _, a := range opened[:i] {
				if id, ok := sw.engine.PortID(a.Name()); ok {
					sw.detach(id)
					sw.engine.RemovePort(id)
				}
			}
			for _, a := range opened[i:] {
				if a != nil {
					a.Close()
				}
			}
			return nil, err
		}
		names = append(names, p.Name())
	}
	return names, nil
}

// apply sets c's VLANs, roles and guard policies on the engine's ports,
// and returns how many memberships the policies revoked.
func (sw *Switch) apply(c *config.Config) (revoked int, err error) {
	var errs []error
	for _, p := range c.Ports {
		if id, ok := sw.engine.PortID(p.Name); ok {
			if err := sw.engine.SetPortVLANs(id, p.VLANIDs()); err != nil {
				errs = append(errs, fmt.Errorf("port %q: %w", p.Name, err))
			}
			if err := sw.engine.SetPortSplitHorizon(id, p.SplitHorizon); err != nil {
				errs = append(errs, fmt.Errorf("port %q: %w", p.Name, err))
			}
		}
	}
	roles, policies := sw.byPortID(c)
	if s := sw.engine.Snooper(); s != nil {
		s.SetPortRoles(roles)
	}
	if sw.engine.Guard() != nil {
		// The engine serialises this with runtime rules (snoopswitch
		// rule), which the file's lists replace.
		n, err := sw.engine.SetPolicies(policies)
		revoked = n
		errs = append(errs, err)
	}
	return revoked, errors.Join(errs...)
}

// byPortID returns c's per-port snooping roles and guard policies indexed by
// the engine's port IDs, which after ports come and go no longer follow
// c's order.
func (sw *Switch) byPortID(c *config.Config) (snoop.PortRoles, []guard.PortPolicy) {
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
		switch p.Role {
		case config.RoleRouter:
			roles.StaticRouterPorts.Add(id)
		case config.RoleSwitch:
			roles.SwitchPorts.Add(id)
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

func samePort(a, b config.Port) bool {
	return a.Role == b.Role && a.FastLeave == b.FastLeave && a.FloodUnregistered == b.FloodUnregistered && a.SplitHorizon == b.SplitHorizon &&
		slices.Equal(a.VLANs, b.VLANs) && reflect.DeepEqual(a.Guard, b.Guard)
}

// restartKeys lists the keys that differ between a and b and that only a
// restart applies: everything but the ports, the tunnels and the log
// level.
func restartKeys(a, b *config.Config) []string {
	da, db := a.Document(), b.Document()
	da.Ports, db.Ports = nil, nil
	da.Tunnels, db.Tunnels = nil, nil
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
