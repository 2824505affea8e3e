// Package datapath puts the kernel fast path (switch/fastpath) in front of
// a switch's AF_PACKET ring ports (switch/afpacket): Fast loads it, runs its
// installer, gives the engine its flow cache, filters the rings' sockets
// and attaches its tc program to every port as ports come, go and are
// re-attached. `snoopswitch run --datapath fast` (through internal/daemon)
// and testenv's switch use it; with the ring datapath nothing here runs.
package datapath
