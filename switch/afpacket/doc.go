// Package afpacket is the ring datapath of snoopswitch: the I/O of switch
// ports on Linux network interfaces through AF_PACKET sockets, behind the
// engine's port interface (switching.Backend, switching.Sender,
// switching.PolledBackend). It decides nothing: every frame it reads goes
// to the engine, every frame the engine sends goes out.
//
// It owns:
//
//   - Port (Open, Config): per interface a TPACKET_V3 receive ring and an
//     express socket in one PACKET_FANOUT group, moved between as the rate
//     asks, with the virtio-net header and the stripped VLAN tag kept;
//   - the senders: a PACKET_TX_RING per port shared by the engine's
//     workers, and sendmmsg gather lists for GSO super-frames (or for all
//     frames, Config.Sendmmsg);
//   - the poll loop that serves several ports from one goroutine (the
//     switching.Poller of every Port);
//   - WatchLinks: link up and down from netlink, and ports re-attached when
//     their interface is created again (LinkWatch tells a hook of each);
//   - CheckInterface and CheckPermission, the checks before a port opens.
//
// It is the reference datapath, complete on its own; the kernel fast path
// (package fastpath, beside it) attaches to the same interfaces and sends
// up these rings whatever it cannot judge, and filters what the rings
// receive through Config.SocketFilter (internal/datapath puts the two
// together). Everything but this comment is
// Linux only.
package afpacket
