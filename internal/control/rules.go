package control

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/internal/config"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

// RuleRequest is a runtime change to one port's group access list or sender
// policy, as `snoopswitch rule` sends it (POST /rule).
type RuleRequest struct {
	Op     string `json:"op"`               // "add" (as the first rule) or "remove"
	Port   string `json:"port"`             // the port's name
	List   string `json:"list"`             // "acl" or "senders"
	Action string `json:"action"`           // "permit" or "deny"
	Group  string `json:"group,omitempty"`  // group prefix; empty: every group
	Source string `json:"source,omitempty"` // source prefix; empty: any source
}

// RuleResult is the answer to a RuleRequest: whether it changed anything
// (the same request twice changes nothing the second time), the entries of
// group memberships the new access list revoked, and the port's lists as
// they now stand.
type RuleResult struct {
	Changed bool              `json:"changed"`
	Revoked int               `json:"revoked"`
	Port    string            `json:"port"`
	ACL     []config.RuleView `json:"acl"`
	Senders []config.RuleView `json:"senders"`
}

// ApplyRule carries out r on the running engine. The change takes effect at
// once: the guard's policies are swapped atomically and memberships the new
// access list refuses are removed.
func ApplyRule(e *switching.Engine, r RuleRequest) (RuleResult, error) {
	g := e.Guard()
	if g == nil {
		return RuleResult{}, errors.New("control: the guard is off (started with --no-guard or --no-snooping): no rules to change")
	}
	id, ok := e.PortID(r.Port)
	if !ok || e.Stats()[id].Removed {
		return RuleResult{}, fmt.Errorf("control: port %q: no such port", r.Port)
	}
	permit, err := parseAction(r.Action)
	if err != nil {
		return RuleResult{}, err
	}
	group, err := parsePrefix("group", r.Group)
	if err != nil {
		return RuleResult{}, err
	}
	source, err := parsePrefix("source", r.Source)
	if err != nil {
		return RuleResult{}, err
	}
	var rule func(p *guard.PortPolicy) (bool, error)
	switch r.List {
	case "acl":
		rule = func(p *guard.PortPolicy) (changed bool, err error) {
			p.ACL, changed, err = edit(p.ACL, guard.Rule{Permit: permit, Groups: group, Sources: source}, r.Op)
			return changed, err
		}
	case "senders":
		rule = func(p *guard.PortPolicy) (changed bool, err error) {
			p.Senders, changed, err = edit(p.Senders, guard.SenderRule{Permit: permit, Groups: group, Sources: source}, r.Op)
			return changed, err
		}
	default:
		return RuleResult{}, fmt.Errorf("control: list %q: use acl (group access list) or senders (sender policy)", r.List)
	}
	// The engine serialises this read-modify-write with a reload's
	// SetPolicies, so that neither undoes the other.
	changed, revoked, err := e.UpdatePolicies(func(policies []guard.PortPolicy) (bool, error) {
		return rule(&policies[id])
	})
	if err != nil {
		return RuleResult{}, err
	}
	res := RuleResult{Changed: changed, Revoked: revoked, Port: r.Port}
	now := g.Policy(id)
	for _, a := range now.ACL {
		res.ACL = append(res.ACL, config.NewRuleView(a.Permit, a.Groups, a.Sources))
	}
	for _, s := range now.Senders {
		res.Senders = append(res.Senders, config.NewRuleView(s.Permit, s.Groups, s.Sources))
	}
	return res, nil
}

// edit adds rule in front of list, or removes every copy of it. Adding a
// rule the list has, or removing one it lacks, changes nothing.
func edit[R comparable](list []R, rule R, op string) ([]R, bool, error) {
	switch op {
	case "add":
		if slices.Contains(list, rule) {
			return list, false, nil
		}
		return slices.Insert(slices.Clone(list), 0, rule), true, nil
	case "remove":
		out := slices.DeleteFunc(slices.Clone(list), func(r R) bool { return r == rule })
		return out, len(out) != len(list), nil
	}
	return nil, false, fmt.Errorf("control: op %q: use add or remove", op)
}

func parseAction(a string) (permit bool, err error) {
	switch a {
	case "permit":
		return true, nil
	case "deny":
		return false, nil
	}
	return false, fmt.Errorf("control: action %q: use permit or deny", a)
}

// parsePrefix parses an optional prefix; empty is the zero Prefix, which
// matches every address.
func parsePrefix(field, s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		if a, aerr := netip.ParseAddr(s); aerr == nil {
			return netip.PrefixFrom(a, a.BitLen()), nil
		}
		return netip.Prefix{}, fmt.Errorf("control: %s %q: use an address or a prefix such as 239.1.0.0/16 or 2001:db8::/32", field, s)
	}
	return p.Masked(), nil
}
