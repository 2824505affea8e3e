// Package tunnel makes the point-to-point VXLAN devices that join several
// machines' switches into one (the tunnels: section of the configuration):
// Spec says what one tunnel is and what it costs in MTU (pure, any OS), Set
// creates the devices over rtnetlink, checks the ports' MTU against each
// tunnel's underlay, and removes what it created (Linux).
package tunnel
