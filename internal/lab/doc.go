// Package lab is `snoopswitch lab`: a topology format (YAML, with an embedded
// default), and a run that builds the topology in network namespaces around
// an in-process snoopswitch, has the hosts join with their kernels' IGMP/MLD
// stacks, sends the streams, tries the attacks, and reports what every host
// received against what a flooding or MAC-based switch would have delivered.
package lab
