// Package testenv stands up network-namespace labs for Go tests: hosts that
// run the real Linux network stack, each behind a port of a switch
// (snoopswitch, running in the test process, or the Linux bridge), so that a
// test of any software can check what really crosses the wire. `snoopswitch
// lab` and `snoopswitch bench` are built on it too.
//
// # Lab
//
// New(t) builds an empty lab for a test: a switch namespace, <prefix>-sw,
// that will hold the switch-side end of every host's link. NewLab does the
// same outside tests; its caller must call Close.
//
// # Hosts
//
// Lab.AddHost adds a host: a namespace <prefix>-<name> whose eth0 is one end
// of a veth pair, the other end being switch port <prefix><name> in the
// switch namespace. The i-th host gets MAC HostMAC(i), 198.18.0.i/24,
// 2001:db8::i/64 and the link-local HostLinkLocal(i), all from the ranges
// reserved for testing (HostOptions chooses other addresses or an MTU). A
// Host pings (Ping), sends UDP (SendUDP) and whole Ethernet frames
// (SendFrame), reads its interface's receive counter (RxPackets), and runs
// any program in its namespace (Host.NS.Command, e.g. iperf3).
//
// Lab.AddHostsBehindPort puts several hosts behind one switch port, as a VM
// host's guests or the machines behind an unmanaged switch are: the port
// leads to a hub namespace <prefix>-<port> holding a Linux bridge with
// multicast snooping off, and each host's eth0 hangs off that bridge. The
// hosts hear each other's frames, reports included, and share their
// SwitchPort; Lab.SwitchPorts lists every switch port once, in the order the
// switch numbers them.
//
// # Multicast
//
// Host.Join, JoinSource and JoinExclude have the host's kernel join a group
// for any source, for one source (INCLUDE) or for all sources but one
// (EXCLUDE), through a socket as an application would: the kernel sends its
// own IGMP or MLD reports and answers queries. ForceIGMPVersion and
// ForceMLDVersion choose the version it speaks (IGMPv1, v2, v3; MLDv1, v2).
// Membership.Leave leaves.
//
// # Captures
//
// Host.Capture records every frame that arrives at the host's eth0 from the
// moment it returns. Capture.WaitFor waits until enough frames match a
// function, Count counts them, Frames returns copies.
//
// # The switch
//
// StartSwitch(t, lab, cfg) runs a snoopswitch engine (package switching) on
// every switch port (PortID i is SwitchPorts()[i]), in the test process,
// until the test ends; Lab.StartSwitch is the same outside tests. cfg.Engine turns on snooping (Snooping) and the
// guard (Guard); Switch.Engine reads the switch's tables and counters. A
// snooping switch floods groups nobody has registered yet until the hosts
// have answered the first general query after it starts: its own (at once,
// answered within the query response interval) or the elected querier's
// (within that query's Max Response Time), per VLAN and family
// (Engine.Snooper().Learning(vlan, family), and LearningAny for all of
// them, say when that is over). A test that checks that a non-member gets
// nothing waits it out or shortens the interval (snoop.Timers).
// Lab.AddLinuxBridge puts the kernel's bridge between the hosts instead,
// for side-by-side runs: the Linux bridge twin. Lab.SetLinuxBridge sets its
// multicast options (BridgeMulticastSnooping, BridgeMulticastQuerier,
// BridgeIGMPVersion, BridgeHashMax, ...) over rtnetlink and checks that they
// took; Lab.LinuxBridgeMDB reads its multicast database (`bridge mdb show`).
//
// # A real querier
//
// Lab.AddQuerier adds a host that is a multicast router's querier: the
// Linux bridge's own (mcast_querier 1, mcast_query_use_ifaddr 1) in the
// host's namespace, querying IGMPv3 and MLDv2 from the host's addresses at
// the intervals QuerierOptions chooses.
//
// # Fabrics: several machines over VXLAN
//
// NewFabric(t, FabricOptions{...}) builds machines that stand for separate
// hosts running snoopswitch: Fabric.AddMachine adds one, a Lab (Machine
// embeds it: Machine.AddHost, StartSwitch, Hosts) whose switch namespace
// <fabric prefix><name>-sw is the machine. Each machine has an underlay
// interface <lab prefix>-ul with its own address (198.19.0.k/24, or
// 2001:db8:ffff::k/64 with UnderlayIPv6) on a bridge in the underlay
// namespace <fabric prefix>-ul, and point-to-point VXLAN tunnels
// <lab prefix>-vx<peer> to other machines, in a Star (every machine to
// the first) or a FullMesh, or where Fabric.Connect puts them. Each tunnel
// has a VNI of its own (FabricOptions.VNI says why) and is a switch port of
// its machine (Lab.AddPort), listed after the hosts' ports. Hosts are
// numbered across the fabric (the k-th machine's from
// (k-1)*HostsPerMachine+1), so their MACs and addresses never clash on the
// one Ethernet segment the tunnels make. Machine.Config gives a
// configuration of the machine's ports with the tunnels in a role of the
// caller's choice, for an in-process switch (Machine.StartConfigured:
// the engine, split horizon and VLANs as `snoopswitch run` sets them) or a
// `snoopswitch run` process (Machine.Run, a Process with its own control
// socket). A switch's engine is made in its lab's switch namespace, so
// each machine's switch has its own default MAC, the tie-break of the
// fabric's querier election. Tunnel.Stats reads a tunnel device's counters, Tunnel.Capture
// records what arrives over it.
//
// # Cleanup
//
// Everything a lab creates carries its prefix ("ss" and four hex digits
// unless Options.Prefix chooses one), lives only in namespaces the lab
// created, and is removed by Lab.Close: the switch stopped, sockets,
// memberships and captures closed, links and namespaces deleted, going on
// after errors. New registers Close with t.Cleanup, so it runs whether the
// test passes, fails or panics (NewFabric likewise for a fabric, its
// processes stopped first); with SNOOPSWITCH_KEEP_LAB=1 (KeepLabEnv) a
// failed test's namespaces are kept and their names logged instead.
// Namespaces are named (bind-mounted under /run/netns like `ip netns add`),
// so `ip netns exec <name> ...` reaches them while a test runs.
//
// # Root
//
// Building a lab needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN). New skips the
// test without root, unless SNOOPSWITCH_REQUIRE_ROOT=1 (RequireRootEnv)
// demands a failure; RequireRoot does the same for other tests.
//
// TestExampleMulticast in example_linux_test.go is a whole test in a few
// lines: hosts, a snooping switch, a join, and what each host received.
package testenv
