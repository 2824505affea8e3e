// Package lab is `snoopswitch lab`: a topology format (YAML, with an embedded
// default), and a run that builds the topology in network namespaces around
// an in-process snoopswitch, has the hosts join with their kernels' IGMP/MLD
// stacks, sends the streams, tries the attacks, and reports what every host
// received against what a flooding or MAC-based switch would have delivered.
//
// A topology that lists machines is a fabric (the embedded Fabric: three
// machines over VXLAN): BuildFabric makes a testenv.Fabric, each machine
// runs its own `snoopswitch run` process, and FabricLab.Run sends the
// streams twice, over a flooding fabric (the tunnels as router ports) and
// the snooping fabric (the tunnels as switch ports), counting every stream's
// datagrams on every tunnel.
package lab
