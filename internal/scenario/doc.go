// Package scenario describes IGMP/MLD snooping scenarios as data (hosts with
// their protocol versions, joins, leaves and datagram streams, and what each
// host must receive) and runs them on a namespace lab against snoopswitch or
// the Linux bridge, so the two can be compared (docs/COMPARE.md).
package scenario
