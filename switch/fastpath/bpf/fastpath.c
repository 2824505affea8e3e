// The kernel half of snoopswitch's fast path: repeat decisions the engine
// made, never make one. See ../doc.go for the design and the map layouts;
// the structs here must match the Go types bpf2go generates from them.
//
// Rebuild with `make generate` (clang-14). The objects it writes are
// committed, so a build needs no clang.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#undef __always_inline
#define __always_inline inline __attribute__((always_inline))

// Helpers by their UAPI numbers (enum bpf_func_id).
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_lookup_elem;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)BPF_FUNC_ktime_get_ns;
static long (*bpf_skb_load_bytes)(const struct __sk_buff *skb, __u32 offset, void *to, __u32 len) = (void *)BPF_FUNC_skb_load_bytes;
static long (*bpf_redirect)(__u32 ifindex, __u64 flags) = (void *)BPF_FUNC_redirect;
static long (*bpf_clone_redirect)(struct __sk_buff *skb, __u32 ifindex, __u64 flags) = (void *)BPF_FUNC_clone_redirect;

// fdb.MaxPorts: port IDs index the port tables.
#define MAX_PORTS 256
// The most output ports one entry holds. A decision with more stays on the
// ring (Install refuses it).
#define MAX_OUTPUTS 64
// Tags in the frame bytes the program skips (the engine skips any number;
// a frame with more goes to it).
#define MAX_TAGS 3
#define NUM_REASONS 256

// tcx return codes (include/uapi/linux/bpf.h, enum tcx_action_base).
#define TCX_NEXT -1
#define TCX_DROP 2
#define TCX_REDIRECT 7

enum flow_kind {
	FLOW_L2 = 1,  // unicast: forwarded by destination MAC
	FLOW_IP4 = 2, // IPv4 multicast data: forwarded by group and source
	FLOW_IP6 = 3, // IPv6 multicast data
};

struct flow_key {
	__u16 port; // ingress port (fdb.PortID)
	__u16 vlan; // VLAN ID of the outer tag, 0 untagged or priority-tagged
	__u8 kind;  // enum flow_kind
	__u8 pad[3];
	__u8 src_mac[6];
	__u8 dst_mac[6];  // FLOW_L2 only, zero otherwise
	__u8 group[16];   // FLOW_IP4/6 only: IPv4 in the first 4 bytes
	__u8 source[16];  // FLOW_IP4/6 only
};

enum verdict {
	VERDICT_PUNT = 0,    // the engine must see every frame of this flow
	VERDICT_FORWARD = 1, // send out of out_ports (none: a silent discard)
	VERDICT_DROP = 2,    // drop, counted under reason
};

struct flow_entry {
	__u64 hits;        // frames the kernel handled by this entry
	__u64 last_hit_ns; // bpf_ktime_get_ns (CLOCK_MONOTONIC) of the last
	__u32 generation;  // valid iff equal to generation[0]
	__u8 verdict;      // enum verdict
	__u8 reason;       // VERDICT_DROP: the engine's reason code
	__u8 ttl_min;      // IP only: a TTL/hop limit below it punts (0: none)
	__u8 ttl_max;      // IP only: above it punts (0: none)
	__u16 n_out;
	__u16 out_ports[MAX_OUTPUTS];
	__u8 pad[6];
};

struct port_info {
	__u32 ifindex; // 0: not attached
	__u16 port;
	__u16 flags;
};

struct port_stats {
	__u64 fwd_frames; // received and handled by the kernel (forward or drop)
	__u64 fwd_bytes;
	__u64 tx_frames;  // sent out of this port by the kernel
	__u64 tx_bytes;
	__u64 tx_errors;  // bpf_clone_redirect failed
	__u64 punts;      // went to the ring: not judgeable, or a punt entry
	__u64 misses;     // went to the ring: no valid entry
	__u64 raced;      // dropped: the filter kept it from the ring, then its entry went
};

struct handoff {
	__u32 ifindex;
	__u32 len;
	__u32 state; // 0 none, HANDOFF_RING or HANDOFF_KERNEL
	__u32 pad;
};
#define HANDOFF_RING 1
#define HANDOFF_KERNEL 2

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct flow_key);
	__type(value, struct flow_entry);
	__uint(max_entries, 65536); // Load sets the real size
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} generation SEC(".maps");

// ifindex -> port, for the ingress side.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct port_info);
	__uint(max_entries, MAX_PORTS);
} ports_by_ifindex SEC(".maps");

// port -> ifindex, for the outputs.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct port_info);
	__uint(max_entries, MAX_PORTS);
} ports_by_id SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct port_stats);
	__uint(max_entries, MAX_PORTS);
} port_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, NUM_REASONS);
} drop_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct handoff);
	__uint(max_entries, 1);
} handoffs SEC(".maps");


enum class {
	CLASS_PUNT = 0,   // the engine judges it
	CLASS_LOOKUP = 1, // key filled: the flow table may hold its decision
};

static __always_inline int is_tag_type(__u16 et)
{
	return et == 0x8100 || et == 0x88a8 || et == 0x9100;
}

static __always_inline int is_zero_mac(const __u8 *m)
{
	return (m[0] | m[1] | m[2] | m[3] | m[4] | m[5]) == 0;
}

// ipv6_judgeable reports whether an IPv6 packet with next header nh is one
// the engine forwards without snoop or the guard parsing it: TCP, UDP, and
// ICMPv6 other than MLD (RFC 3810 s5: 130, 131, 132, 143) and MRD (RFC 4286
// s3: 151, 152, 153), as snoop.IsControl says. Every extension header
// punts: MLD rides behind a hop-by-hop header (RFC 3810 s5), and walking
// the chain is the engine's job.
static __always_inline int ipv6_judgeable(const struct __sk_buff *skb, __u32 l4, __u8 nh)
{
	__u8 type;

	switch (nh) {
	case 6:  // TCP
	case 17: // UDP
		return 1;
	case 58: // ICMPv6
		if (bpf_skb_load_bytes(skb, l4, &type, 1) < 0)
			return 0; // snoop.IsControl fails closed on a cut-off type
		switch (type) {
		case 130: case 131: case 132: case 143:
		case 151: case 152: case 153:
			return 0;
		}
		return 1;
	}
	return 0;
}

// classify reads the frame as switching.Frame.Decode does and fills key
// when its decision may be in the flow table. ttl is the IPv4 TTL or IPv6
// hop limit of IP multicast (0 otherwise).
static __always_inline int classify(const struct __sk_buff *skb, struct flow_key *key, __u8 *ttl)
{
	__u8 eth[14];
	__u32 len = skb->len, off = 14;
	__u16 et, vlan = 0;
	int tagged = 0;

	if (len < 14 || bpf_skb_load_bytes(skb, 0, eth, 14) < 0)
		return CLASS_PUNT; // a runt: the engine counts it malformed
	// The engine drops a multicast or zero source (invalid-src-mac).
	if ((eth[6] & 1) || is_zero_mac(&eth[6]))
		return CLASS_PUNT;
	// On receive the kernel moves the outer 802.1Q/802.1ad tag into the skb
	// before taps and tc see the frame (skb_vlan_untag in
	// __netif_receive_skb_core); the ring reports it as tp_vlan_tci and the
	// engine takes the VLAN from it. Tags left in the bytes are skipped,
	// the first one counting only when none was stripped.
	if (skb->vlan_present) {
		tagged = 1;
		vlan = skb->vlan_tci & 0x0fff;
	}
	et = (__u16)eth[12] << 8 | eth[13];
#pragma unroll
	for (int i = 0; i < MAX_TAGS; i++) {
		__u8 tag[4];

		if (!is_tag_type(et))
			break;
		if (len < off + 4 || bpf_skb_load_bytes(skb, off, tag, 4) < 0)
			return CLASS_PUNT;
		if (!tagged) {
			tagged = 1;
			vlan = ((__u16)tag[0] << 8 | tag[1]) & 0x0fff;
		}
		et = (__u16)tag[2] << 8 | tag[3];
		off += 4;
	}
	if (is_tag_type(et))
		return CLASS_PUNT;

	__builtin_memset(key, 0, sizeof(*key));
	key->vlan = vlan;
	__builtin_memcpy(key->src_mac, &eth[6], 6);
	*ttl = 0;

	if (eth[0] & 1) {
		// Broadcast and non-IP multicast are flooded by the engine, and
		// its multicast decisions are by IP group: only IP multicast data
		// has a key.
		if (et == ETH_P_IP) {
			__u8 ip[20];

			if (len < off + 20 || bpf_skb_load_bytes(skb, off, ip, 20) < 0)
				return CLASS_PUNT;
			// A header switching.Frame.Decode does not accept makes the
			// frame non-IP multicast (flooded).
			if ((ip[0] >> 4) != 4 || (ip[0] & 0x0f) < 5 || (__u32)(ip[0] & 0x0f) * 4 > len - off)
				return CLASS_PUNT;
			if ((ip[16] & 0xf0) != 0xe0)
				return CLASS_PUNT; // not a group: non-IP multicast to the engine
			// RFC 1112 s6.4: the group's MAC; another one the engine drops
			// as mac-ip-mismatch.
			if (eth[0] != 0x01 || eth[1] != 0x00 || eth[2] != 0x5e || eth[3] != (ip[17] & 0x7f) ||
			    eth[4] != ip[18] || eth[5] != ip[19])
				return CLASS_PUNT;
			// IGMP (RFC 3376 s4) and PIM (RFC 7761 s4.9) go to snoop.
			if (ip[9] == 2 || ip[9] == 103)
				return CLASS_PUNT;
			key->kind = FLOW_IP4;
			__builtin_memcpy(key->group, &ip[16], 4);
			__builtin_memcpy(key->source, &ip[12], 4);
			*ttl = ip[8];
			return CLASS_LOOKUP;
		}
		if (et == ETH_P_IPV6) {
			__u8 ip[40];

			if (len < off + 40 || bpf_skb_load_bytes(skb, off, ip, 40) < 0)
				return CLASS_PUNT;
			if ((ip[0] >> 4) != 6 || ip[24] != 0xff)
				return CLASS_PUNT;
			// RFC 2464 s7: 33:33 and the group's last 32 bits.
			if (eth[0] != 0x33 || eth[1] != 0x33 || eth[2] != ip[36] || eth[3] != ip[37] ||
			    eth[4] != ip[38] || eth[5] != ip[39])
				return CLASS_PUNT;
			if (!ipv6_judgeable(skb, off + 40, ip[6]))
				return CLASS_PUNT;
			key->kind = FLOW_IP6;
			__builtin_memcpy(key->group, &ip[24], 16);
			__builtin_memcpy(key->source, &ip[8], 16);
			*ttl = ip[7];
			return CLASS_LOOKUP;
		}
		return CLASS_PUNT;
	}

	// Unicast: forwarded by MAC, but the guard judges IGMP, MLD, PIM and
	// MRD in it (switching's strayControl), so those go to the engine.
	if (et == ETH_P_IP && len >= off + 20) {
		__u8 ip[10];

		if (bpf_skb_load_bytes(skb, off, ip, 10) < 0)
			return CLASS_PUNT;
		if ((ip[0] >> 4) == 4 && (ip[9] == 2 || ip[9] == 103))
			return CLASS_PUNT;
	} else if (et == ETH_P_IPV6 && len >= off + 40) {
		__u8 ip[8];

		if (bpf_skb_load_bytes(skb, off, ip, 8) < 0)
			return CLASS_PUNT;
		if ((ip[0] >> 4) == 6 && !ipv6_judgeable(skb, off + 40, ip[6]))
			return CLASS_PUNT;
	}
	key->kind = FLOW_L2;
	__builtin_memcpy(key->dst_mac, eth, 6);
	return CLASS_LOOKUP;
}

// lookup returns the valid entry of the frame's flow, NULL for a miss or a
// frame the engine must see. *port_out is the ingress port, or -1 if the
// ingress device is not a switch port of this datapath.
static __always_inline struct flow_entry *lookup(const struct __sk_buff *skb, int *port_out, int *missed)
{
	struct flow_key key;
	struct port_info *pi;
	struct flow_entry *e;
	__u32 zero = 0, ifindex = skb->ifindex, *gen;
	__u8 ttl;

	*port_out = -1;
	*missed = 0;
	pi = bpf_map_lookup_elem(&ports_by_ifindex, &ifindex);
	if (!pi || pi->port >= MAX_PORTS)
		return 0;
	*port_out = pi->port;
	if (classify(skb, &key, &ttl) != CLASS_LOOKUP)
		return 0;
	key.port = pi->port;
	gen = bpf_map_lookup_elem(&generation, &zero);
	e = bpf_map_lookup_elem(&flows, &key);
	if (!e || !gen || e->generation != *gen) {
		*missed = 1; // a stale generation is a miss
		return 0;
	}
	if (e->verdict == VERDICT_PUNT)
		return 0;
	// The guard's TTL rule depends on the packet, not the key (guard.Data:
	// a TTL above the port's limit is dropped): the entry holds the range
	// the engine's decision was made for.
	if (ttl && ((e->ttl_min && ttl < e->ttl_min) || (e->ttl_max && ttl > e->ttl_max)))
		return 0;
	return e;
}

static __always_inline struct port_stats *stats_of(__u32 port)
{
	return bpf_map_lookup_elem(&port_counters, &port);
}

// execute carries out entry e for a frame received on port in.
static __always_inline int execute(struct __sk_buff *skb, struct flow_entry *e, __u32 in)
{
	struct port_stats *st = stats_of(in);
	__u32 len = skb->len, last = 0, have_last = 0;
	__u16 n = e->n_out;

	__sync_fetch_and_add(&e->hits, 1);
	e->last_hit_ns = bpf_ktime_get_ns();
	if (st) {
		st->fwd_frames++;
		st->fwd_bytes += len;
	}
	if (e->verdict == VERDICT_DROP) {
		__u32 r = e->reason;
		__u64 *c = bpf_map_lookup_elem(&drop_counters, &r);

		if (c)
			(*c)++;
		return TCX_DROP;
	}
	if (n > MAX_OUTPUTS)
		n = MAX_OUTPUTS;
	// Fan-out: a clone to every output but the last, which gets the skb
	// itself. bpf_clone_redirect clones (skb_clone: the data, GSO super
	// frames included, is shared, not copied) and transmits at once;
	// bpf_redirect only marks the skb, sent when the program returns
	// TCX_REDIRECT (net/core/filter.c).
	for (__u32 i = 0; i < MAX_OUTPUTS; i++) {
		struct port_info *pi;
		struct port_stats *os;
		__u32 out;

		if (i >= n)
			break;
		out = e->out_ports[i];
		if (out >= MAX_PORTS || out == in)
			continue;
		pi = bpf_map_lookup_elem(&ports_by_id, &out);
		if (!pi || !pi->ifindex)
			continue;
		if (have_last) {
			__u32 prev = last;
			struct port_info *pp = bpf_map_lookup_elem(&ports_by_id, &prev);

			os = stats_of(prev);
			if (pp && bpf_clone_redirect(skb, pp->ifindex, 0) == 0) {
				if (os) {
					os->tx_frames++;
					os->tx_bytes += len;
				}
			} else if (os) {
				os->tx_errors++;
			}
		}
		last = out;
		have_last = 1;
	}
	if (!have_last)
		return TCX_DROP; // forward to nobody: the engine's no-listener
	{
		struct port_info *pi = bpf_map_lookup_elem(&ports_by_id, &last);
		struct port_stats *os = stats_of(last);

		if (!pi)
			return TCX_DROP;
		if (os) {
			os->tx_frames++;
			os->tx_bytes += len;
		}
		return bpf_redirect(pi->ifindex, 0);
	}
}

static __always_inline void count_ring(__u32 port, int missed)
{
	struct port_stats *st = stats_of(port);

	if (!st)
		return;
	if (missed)
		st->misses++;
	else
		st->punts++;
}

// snoopswitch_ingress runs at tc ingress (tcx) of every switch port.
SEC("tc")
int snoopswitch_ingress(struct __sk_buff *skb)
{
	struct flow_entry *e;
	struct handoff *h;
	__u32 zero = 0;
	int port, missed, state = 0;

	// The ring's socket filter ran on this very frame a moment ago, on this
	// CPU: the taps see a received frame before tc ingress does, within the
	// same __netif_receive_skb_core call. Its answer stands, so a frame is
	// never both copied to the ring and forwarded here, whatever changed in
	// the flow table in between.
	h = bpf_map_lookup_elem(&handoffs, &zero);
	if (h && h->state && h->ifindex == skb->ifindex && h->len == skb->len)
		state = h->state;
	if (h)
		h->state = 0;

	e = lookup(skb, &port, &missed);
	if (port < 0)
		return TCX_NEXT;
	if (state == HANDOFF_RING) {
		count_ring(port, missed || !e);
		return TCX_NEXT;
	}
	if (!e) {
		if (state == HANDOFF_KERNEL) {
			// The ring did not get it and its entry is gone: lost, and
			// counted, as a frame in flight when its decision was revoked.
			struct port_stats *st = stats_of(port);

			if (st)
				st->raced++;
			return TCX_DROP;
		}
		count_ring(port, missed);
		return TCX_NEXT;
	}
	return execute(skb, e, port);
}

// snoopswitch_ring_filter is the socket filter of a port's receive ring: it
// keeps from the ring the frames that tc ingress will forward or drop.
// A socket filter returns how many bytes to keep, 0 for none.
SEC("socket")
int snoopswitch_ring_filter(struct __sk_buff *skb)
{
	struct flow_entry *e;
	struct handoff *h;
	__u32 zero = 0;
	int port, missed;

	if (skb->pkt_type == PACKET_OUTGOING)
		return skb->len;
	e = lookup(skb, &port, &missed);
	if (port < 0)
		return skb->len;
	h = bpf_map_lookup_elem(&handoffs, &zero);
	if (!h)
		return skb->len;
	h->ifindex = skb->ifindex;
	h->len = skb->len;
	h->state = e ? HANDOFF_KERNEL : HANDOFF_RING;
	return e ? 0 : skb->len;
}

// snoopswitch_redirect is the physical limit: every frame from one port to
// another, no lookup. Its target ifindex is set at load (redirect_ifindex).
volatile const __u32 redirect_ifindex = 0;

SEC("tc")
int snoopswitch_bare_redirect(struct __sk_buff *skb)
{
	return bpf_redirect(redirect_ifindex, 0);
}

char __license[] SEC("license") = "Dual BSD/GPL";
