package testenv

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// QuerierOptions configures a querier host (Lab.AddQuerier).
type QuerierOptions struct {
	// QueryInterval and QueryResponseInterval are those of the querier's
	// general queries (its Max Response Time), to the centisecond; zero
	// keeps the kernel's defaults, 125 s and 10 s.
	QueryInterval, QueryResponseInterval time.Duration
}

// querierBridge is the bridge a querier host runs in its namespace.
const querierBridge = "br0"

// AddQuerier adds a host, as AddHost does, that is a multicast router's
// querier built from the real Linux one: a bridge br0 in the host's
// namespace with eth0 as its one port, the host's addresses (and MAC, so
// its link-local address is still HostLinkLocal) moved to it, and
// mcast_querier 1 with mcast_query_use_ifaddr 1, so that it sends IGMPv3
// and MLDv2 general queries from the host's addresses. It takes part in the
// election as any querier does (the lowest address wins). The host serves
// as the querier only: Join and SendUDP, which use eth0, no longer work on
// it.
func (l *Lab) AddQuerier(name string, opts HostOptions, q QuerierOptions) (*Host, error) {
	h, err := l.AddHost(name, opts)
	if err != nil {
		return nil, err
	}
	centis := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds()/10, 10) }
	create := []string{"link", "add", querierBridge, "address", h.MAC.String(), "type", "bridge",
		"mcast_snooping", "1", "mcast_igmp_version", "3", "mcast_mld_version", "2", "mcast_query_use_ifaddr", "1"}
	if q.QueryInterval > 0 {
		// The startup queries' interval is set when the bridge is made,
		// from the default query interval: a quarter of it (RFC 3376
		// s8.7) follows the one chosen here.
		create = append(create, "mcast_query_interval", centis(q.QueryInterval), "mcast_startup_query_interval", centis(q.QueryInterval/4))
	}
	if q.QueryResponseInterval > 0 {
		create = append(create, "mcast_query_response_interval", centis(q.QueryResponseInterval))
	}
	steps := [][]string{
		create,
		{"address", "flush", "dev", hostIface},
		{"link", "set", hostIface, "master", querierBridge},
		{"address", "add", h.IPv4.String(), "dev", querierBridge},
		{"address", "add", h.IPv6.String(), "dev", querierBridge, "nodad"},
		{"link", "set", querierBridge, "up"},
	}
	for _, args := range steps {
		if err := h.ip(args...); err != nil {
			return nil, err
		}
	}
	br, err := h.NS.nl.LinkByName(querierBridge)
	if err != nil {
		return nil, fmt.Errorf("testenv: querier %q: %w", name, err)
	}
	// The MLD querier needs its link-local source before it starts:
	// without one a query fails and the bridge counts its own querier as
	// absent.
	if err := h.waitIPv6(br, 5*time.Second); err != nil {
		return nil, err
	}
	if err := h.ip("link", "set", querierBridge, "type", "bridge", "mcast_querier", "1"); err != nil {
		return nil, err
	}
	return h, nil
}

// ip runs the ip command in h's namespace.
func (h *Host) ip(args ...string) error {
	out, err := h.NS.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("testenv: host %q: ip %s: %w: %s", h.Name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
