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
static __u64 (*bpf_ktime_get_coarse_ns)(void) = (void *)BPF_FUNC_ktime_get_coarse_ns;
static long (*bpf_skb_load_bytes)(const struct __sk_buff *skb, __u32 offset, void *to, __u32 len) = (void *)BPF_FUNC_skb_load_bytes;
static long (*bpf_redirect)(__u32 ifindex, __u64 flags) = (void *)BPF_FUNC_redirect;
static long (*bpf_clone_redirect)(struct __sk_buff *skb, __u32 ifindex, __u64 flags) = (void *)BPF_FUNC_clone_redirect;

// fdb.MaxPorts: port IDs index the port tables, and fit in a byte.
#define MAX_PORTS 256
// The most output ports one entry holds. A decision with more stays on the
// ring (Install refuses it).
#define MAX_OUTPUTS 64
// Tags in the frame bytes the program skips (the engine skips any number;
// a frame with more goes to it).
#define MAX_TAGS 3
#define NUM_REASONS 256
// The bytes of a frame classify reads, at most: the Ethernet header (14),
// an IPv6 header (40) and the ICMPv6 type behind it (1). Tags in the bytes
// are read first and then skipped over (see load_headers).
#define HDR_BYTES 56
// Interfaces with an index below it find their port in an array (one
// load); the others in a hash.
#define LOW_IFINDEXES 4096

// tcx return codes (include/uapi/linux/bpf.h, enum tcx_action_base).
#define TCX_NEXT -1
#define TCX_DROP 2
#define TCX_REDIRECT 7

enum flow_kind {
	FLOW_L2 = 1,  // unicast: forwarded by destination MAC
	FLOW_IP4 = 2, // IPv4 multicast data: forwarded by group and source
	FLOW_IP6 = 3, // IPv6 multicast data
};

// The key of unicast and IPv4 multicast flows (the map flows). 24 bytes:
// the kernel hashes a key a word at a time, and three words at a time past
// the first three, so an IPv6 key in it would cost every lookup twice the
// hashing; IPv6 has a map of its own (flows6).
struct flow_key {
	__u8 port;  // ingress port (fdb.PortID)
	__u8 kind;  // FLOW_L2 or FLOW_IP4
	__u16 vlan; // VLAN ID of the outer tag, 0 untagged or priority-tagged
	__u8 src_mac[6];
	__u8 dst_mac[6]; // FLOW_L2 only, zero otherwise
	__u8 group[4];   // FLOW_IP4 only
	__u8 source[4];  // FLOW_IP4 only
};

// The key of IPv6 multicast flows (the map flows6), 44 bytes.
struct flow_key6 {
	__u8 port;
	__u8 kind; // FLOW_IP6
	__u16 vlan;
	__u8 src_mac[6];
	__u8 group[16];
	__u8 source[16];
	__u8 pad[2];
};

enum verdict {
	VERDICT_PUNT = 0,    // the engine must see every frame of this flow
	VERDICT_FORWARD = 1, // send out of out_ports (none: a silent discard)
	VERDICT_DROP = 2,    // drop, counted under reason
};

struct flow_entry {
	__u64 hits;        // frames the kernel handled by this entry
	__u64 last_hit_ns; // bpf_ktime_get_coarse_ns (CLOCK_MONOTONIC_COARSE) of the last
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
};

// A frame's decision, made once (by the ring's socket filter, or by tc
// ingress when no filter ran) and carried out by tc ingress.
struct handoff_out {
	__u32 ifindex;
	__u32 port;
};

struct handoff {
	__u32 ifindex; // the frame it is for: received on ifindex,
	__u32 len;     // len bytes long
	__u16 state;   // HANDOFF_*; 0: none
	__u16 n_out;   // HANDOFF_FORWARD: out[n_out-1] is the last output
	__u32 pad;
	struct handoff_out out[MAX_OUTPUTS];
};
#define HANDOFF_RING 1    // to the ring (counted as a punt or a miss)
#define HANDOFF_DROP 2    // dropped by an entry (counted)
#define HANDOFF_FORWARD 3 // out of each out[0, n_out) with an ifindex

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct flow_key);
	__type(value, struct flow_entry);
	__uint(max_entries, 65536); // Load sets the real size
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct flow_key6);
	__type(value, struct flow_entry);
	__uint(max_entries, 65536); // Load sets the real size
} flows6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} generation SEC(".maps");

// ifindex -> port, for the ingress side: an array for the indexes below
// LOW_IFINDEXES (one load, no hashing), a hash for the others.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct port_info);
	__uint(max_entries, LOW_IFINDEXES);
} ports_by_ifindex SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct port_info);
	__uint(max_entries, MAX_PORTS);
} ports_by_high_ifindex SEC(".maps");

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

static __always_inline int is_tag_type(__u16 et)
{
	return et == 0x8100 || et == 0x88a8 || et == 0x9100;
}

static __always_inline int is_zero_mac(const __u8 *m)
{
	return (m[0] | m[1] | m[2] | m[3] | m[4] | m[5]) == 0;
}

// port_of is the switch port received frames on ifindex belong to; NULL
// if ifindex is no port of this datapath.
static __always_inline struct port_info *port_of(__u32 ifindex)
{
	struct port_info *pi;

	// Two calls in turn, not one of two maps: the verifier inlines the
	// lookup of a call that always sees the same map (an array lookup is
	// then a few instructions, with no call at all). An array lookup
	// beyond its size finds nothing.
	pi = bpf_map_lookup_elem(&ports_by_ifindex, &ifindex);
	if (!pi && ifindex >= LOW_IFINDEXES)
		pi = bpf_map_lookup_elem(&ports_by_high_ifindex, &ifindex);
	if (!pi || pi->ifindex != ifindex || pi->port >= MAX_PORTS)
		return 0;
	return pi;
}

// The frame's headers as classify reads them: h[0, 14) the Ethernet
// header, h[14, ...) what follows the last tag in the bytes.
struct headers {
	__u8 h[HDR_BYTES];
	__u16 vlan;   // the VLAN the engine sees
	__u16 et;     // the EtherType after the tags
	__u32 l3_len; // bytes of the frame from h[14] on
};

// load_headers copies the frame's headers to hd with one
// bpf_skb_load_bytes (two when tags are in the bytes): a socket filter
// cannot read the packet directly, and one copy into the stack costs less
// than a load per field. Every read of hd->h is then at a fixed offset.
// It returns 0 for a frame to punt.
static __always_inline int load_headers(const struct __sk_buff *skb, struct headers *hd)
{
	// 64-bit: a 32-bit copy of a length loses the bounds the verifier
	// learned on it.
	__u64 len = skb->len, n = len, off = 14;
	__u16 et, vlan = 0;
	int tagged = 0;

	if (len < 14)
		return 0; // a runt: the engine counts it malformed
	if (n > HDR_BYTES)
		n = HDR_BYTES;
	if (bpf_skb_load_bytes(skb, 0, hd->h, n) < 0)
		return 0;
	// On receive the kernel moves the outer 802.1Q/802.1ad tag into the skb
	// before taps and tc see the frame (skb_vlan_untag in
	// __netif_receive_skb_core); the ring reports it as tp_vlan_tci and the
	// engine takes the VLAN from it. Tags left in the bytes are skipped,
	// the first one counting only when none was stripped.
	if (skb->vlan_present) {
		tagged = 1;
		vlan = skb->vlan_tci & 0x0fff;
	}
	et = (__u16)hd->h[12] << 8 | hd->h[13];
#pragma unroll
	for (int i = 0; i < MAX_TAGS; i++) {
		const __u8 *tag = &hd->h[14 + 4 * i];

		if (!is_tag_type(et))
			break;
		if (len < off + 4)
			return 0;
		if (!tagged) {
			tagged = 1;
			vlan = ((__u16)tag[0] << 8 | tag[1]) & 0x0fff;
		}
		et = (__u16)tag[2] << 8 | tag[3];
		off += 4;
	}
	if (is_tag_type(et))
		return 0;
	hd->vlan = vlan;
	hd->et = et;
	hd->l3_len = len - off;
	if (off > 14) {
		// What follows the tags, moved up behind the Ethernet header.
		n = len - off;
		if (n > HDR_BYTES - 14)
			n = HDR_BYTES - 14;
		if (n && bpf_skb_load_bytes(skb, off, &hd->h[14], n) < 0)
			return 0;
	}
	return 1;
}

// ipv6_judgeable reports whether an IPv6 packet with next header nh, whose
// L4 header starts with type, is one the engine forwards without snoop or
// the guard parsing it: TCP, UDP, and ICMPv6 other than MLD (RFC 3810 s5:
// 130, 131, 132, 143) and MRD (RFC 4286 s3: 151, 152, 153), as
// snoop.IsControl says. Every extension header punts: MLD rides behind a
// hop-by-hop header (RFC 3810 s5), and walking the chain is the engine's
// job. have_type is 0 when the frame ends before the type.
static __always_inline int ipv6_judgeable(__u8 nh, int have_type, __u8 type)
{
	switch (nh) {
	case 6:  // TCP
	case 17: // UDP
		return 1;
	case 58: // ICMPv6
		if (!have_type)
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

// The classes of a frame.
#define CLASS_PUNT 0 // the engine judges it
#define CLASS_KEY 1  // key filled (flows)
#define CLASS_KEY6 2 // key6 filled (flows6)

// classify reads the frame as switching.Frame.Decode does and fills the
// key its decision may be under. ttl is the IPv4 TTL or IPv6 hop limit of
// IP multicast (0 otherwise).
static __always_inline int classify(const struct headers *hd, __u32 port, struct flow_key *key,
				    struct flow_key6 *key6, __u8 *ttl)
{
	const __u8 *eth = hd->h, *ip = &hd->h[14];
	__u32 l3 = hd->l3_len;
	__u16 et = hd->et;

	// The engine drops a multicast or zero source (invalid-src-mac).
	if ((eth[6] & 1) || is_zero_mac(&eth[6]))
		return CLASS_PUNT;
	*ttl = 0;

	if (eth[0] & 1) {
		// Broadcast and non-IP multicast are flooded by the engine, and
		// its multicast decisions are by IP group: only IP multicast data
		// has a key.
		if (et == ETH_P_IP) {
			if (l3 < 20)
				return CLASS_PUNT;
			// A header switching.Frame.Decode does not accept makes the
			// frame non-IP multicast (flooded).
			if ((ip[0] >> 4) != 4 || (ip[0] & 0x0f) < 5 || (__u32)(ip[0] & 0x0f) * 4 > l3)
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
			__builtin_memset(key, 0, sizeof(*key));
			key->port = port;
			key->kind = FLOW_IP4;
			key->vlan = hd->vlan;
			__builtin_memcpy(key->src_mac, &eth[6], 6);
			__builtin_memcpy(key->group, &ip[16], 4);
			__builtin_memcpy(key->source, &ip[12], 4);
			*ttl = ip[8];
			return CLASS_KEY;
		}
		if (et == ETH_P_IPV6) {
			if (l3 < 40)
				return CLASS_PUNT;
			if ((ip[0] >> 4) != 6 || ip[24] != 0xff)
				return CLASS_PUNT;
			// RFC 2464 s7: 33:33 and the group's last 32 bits.
			if (eth[0] != 0x33 || eth[1] != 0x33 || eth[2] != ip[36] || eth[3] != ip[37] ||
			    eth[4] != ip[38] || eth[5] != ip[39])
				return CLASS_PUNT;
			if (!ipv6_judgeable(ip[6], l3 > 40, ip[40]))
				return CLASS_PUNT;
			key6->port = port;
			key6->kind = FLOW_IP6;
			key6->vlan = hd->vlan;
			key6->pad[0] = key6->pad[1] = 0;
			__builtin_memcpy(key6->src_mac, &eth[6], 6);
			__builtin_memcpy(key6->group, &ip[24], 16);
			__builtin_memcpy(key6->source, &ip[8], 16);
			*ttl = ip[7];
			return CLASS_KEY6;
		}
		return CLASS_PUNT;
	}

	// Unicast: forwarded by MAC, but the guard judges IGMP, MLD, PIM and
	// MRD in it (switching's strayControl), so those go to the engine.
	if (et == ETH_P_IP && l3 >= 20) {
		if ((ip[0] >> 4) == 4 && (ip[9] == 2 || ip[9] == 103))
			return CLASS_PUNT;
	} else if (et == ETH_P_IPV6 && l3 >= 40) {
		if ((ip[0] >> 4) == 6 && !ipv6_judgeable(ip[6], l3 > 40, ip[40]))
			return CLASS_PUNT;
	}
	__builtin_memset(key, 0, sizeof(*key));
	key->port = port;
	key->kind = FLOW_L2;
	key->vlan = hd->vlan;
	__builtin_memcpy(key->src_mac, &eth[6], 6);
	__builtin_memcpy(key->dst_mac, eth, 6);
	return CLASS_KEY;
}

// lookup6 is the entry of an IPv6 flow. It is a function of its own
// (a bpf-to-bpf call) so that the compiler cannot merge its lookup with
// the one in flows into one call of either map, which the verifier could
// not inline.
static __attribute__((noinline)) struct flow_entry *lookup6(const struct flow_key6 *key6)
{
	return bpf_map_lookup_elem(&flows6, (void *)key6);
}

// lookup returns the valid entry of the frame's flow; NULL for a miss
// (*missed set) or a frame the engine must see.
static __always_inline struct flow_entry *lookup(const struct __sk_buff *skb, __u32 port, int *missed)
{
	struct headers hd;
	struct flow_key key;
	struct flow_key6 key6;
	struct flow_entry *e;
	__u32 zero = 0, *gen;
	__u8 ttl;
	int class;

	*missed = 0;
	if (!load_headers(skb, &hd))
		return 0;
	class = classify(&hd, port, &key, &key6, &ttl);
	if (class == CLASS_KEY)
		e = bpf_map_lookup_elem(&flows, &key);
	else if (class == CLASS_KEY6)
		e = lookup6(&key6);
	else
		return 0;
	gen = bpf_map_lookup_elem(&generation, &zero);
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

// decide looks up the frame received on port in and writes what to do
// with it to h, counting it as received (by the port, its entry, a drop
// reason). The outputs are resolved to interfaces here, so that carrying
// the decision out needs no lookup.
// hit counts a frame entry e handles in the kernel, received on the port
// of st.
static __always_inline void hit(const struct __sk_buff *skb, struct flow_entry *e, struct port_stats *st)
{
	__sync_fetch_and_add(&e->hits, 1);
	e->last_hit_ns = bpf_ktime_get_coarse_ns();
	if (st) {
		st->fwd_frames++;
		st->fwd_bytes += skb->len;
	}
}

static __always_inline void decide(const struct __sk_buff *skb, __u32 in, struct handoff *h)
{
	struct port_stats *st = stats_of(in);
	struct flow_entry *e;
	__u32 n;
	int missed;

	h->ifindex = skb->ifindex;
	h->len = skb->len;
	e = lookup(skb, in, &missed);
	if (!e) {
		h->state = HANDOFF_RING;
		if (st) {
			if (missed)
				st->misses++;
			else
				st->punts++;
		}
		return;
	}
	if (e->verdict == VERDICT_DROP) {
		__u32 r = e->reason;
		__u64 *c = bpf_map_lookup_elem(&drop_counters, &r);

		hit(skb, e, st);
		h->state = HANDOFF_DROP;
		if (c)
			(*c)++;
		return;
	}
	n = e->n_out;
	if (n > MAX_OUTPUTS)
		n = MAX_OUTPUTS;
	// out[i] is the entry's output i, with ifindex 0 for the ingress port
	// (which Install leaves out anyway); the outputs end at the last one.
	// Slot i, not a count of the outputs, and the end kept in the map, not
	// in a register, keep the verifier's walk of the loop linear. An output
	// the fast path is not attached to (a port the engine has and this
	// program cannot send to: being added, or re-attached and refused) is
	// not skipped, which would forward the frame to fewer ports than the
	// engine decided: the frame goes to the ring, and the engine sends it.
	h->n_out = 0;
	for (__u32 i = 0; i < n && i < MAX_OUTPUTS; i++) {
		struct port_info *pi = 0;
		__u32 out = e->out_ports[i], ifindex = 0;

		if (out < MAX_PORTS && out != in) {
			// An array: a port never attached reads as ifindex 0.
			pi = bpf_map_lookup_elem(&ports_by_id, &out);
			if (!pi || !pi->ifindex) {
				h->state = HANDOFF_RING;
				if (st)
					st->punts++;
				return;
			}
			ifindex = pi->ifindex;
		}
		h->out[i].ifindex = ifindex;
		h->out[i].port = out;
		if (ifindex)
			h->n_out = i + 1;
	}
	hit(skb, e, st);
	// Forward to nobody: the engine's no-listener, a drop without reason.
	h->state = h->n_out ? HANDOFF_FORWARD : HANDOFF_DROP;
}

static __always_inline void count_tx(__u32 port, __u32 len, int ok)
{
	struct port_stats *os = stats_of(port);

	if (!os)
		return;
	if (ok) {
		os->tx_frames++;
		os->tx_bytes += len;
	} else {
		os->tx_errors++;
	}
}

// snoopswitch_ingress runs at tc ingress (tcx) of every switch port.
SEC("tc")
int snoopswitch_ingress(struct __sk_buff *skb)
{
	struct handoff *h;
	struct port_info *pi;
	__u32 zero = 0, len = skb->len, n, state;

	h = bpf_map_lookup_elem(&handoffs, &zero);
	if (!h)
		return TCX_NEXT;
	// The ring's socket filter decided for this very frame a moment ago, on
	// this CPU: the taps see a received frame before tc ingress does,
	// within the same __netif_receive_skb_core call. Its decision stands,
	// so a frame is never both copied to the ring and forwarded here,
	// whatever changed in the flow table in between (the frame arrived
	// before the change, as one the ring had already queued). Without a
	// ring, or before its filter is attached, decide here.
	if (!h->state || h->ifindex != skb->ifindex || h->len != len) {
		pi = port_of(skb->ifindex);
		if (!pi) {
			h->state = 0;
			return TCX_NEXT;
		}
		decide(skb, pi->port, h);
	}
	state = h->state;
	h->state = 0;
	if (state == HANDOFF_DROP)
		return TCX_DROP;
	if (state != HANDOFF_FORWARD)
		return TCX_NEXT;
	n = h->n_out;
	if (n < 1 || n > MAX_OUTPUTS)
		return TCX_DROP;
	// Fan-out: a clone to every output but the last, which gets the skb
	// itself. bpf_clone_redirect clones (skb_clone: the data, GSO super
	// frames included, is shared, not copied) and transmits at once;
	// bpf_redirect only marks the skb, sent when the program returns
	// TCX_REDIRECT (net/core/filter.c).
	for (__u32 i = 0; i + 1 < n && i < MAX_OUTPUTS - 1; i++) {
		if (h->out[i].ifindex)
			count_tx(h->out[i].port, len, bpf_clone_redirect(skb, h->out[i].ifindex, 0) == 0);
	}
	n--;
	if (n >= MAX_OUTPUTS)
		return TCX_DROP;
	count_tx(h->out[n].port, len, 1);
	return bpf_redirect(h->out[n].ifindex, 0);
}

// snoopswitch_ring_filter is the socket filter of a port's receive ring: it
// decides for each received frame and keeps from the ring the frames that
// tc ingress, which runs next, will forward or drop. A socket filter
// returns how many bytes to keep, 0 for none.
SEC("socket")
int snoopswitch_ring_filter(struct __sk_buff *skb)
{
	struct handoff *h;
	struct port_info *pi;
	__u32 zero = 0;

	// Frames the switch sends: no decision (and no handoff to overwrite:
	// tc ingress may be sending them).
	if (skb->pkt_type == PACKET_OUTGOING)
		return skb->len;
	pi = port_of(skb->ifindex);
	if (!pi)
		return skb->len;
	h = bpf_map_lookup_elem(&handoffs, &zero);
	if (!h)
		return skb->len;
	decide(skb, pi->port, h);
	return h->state == HANDOFF_RING ? skb->len : 0;
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
