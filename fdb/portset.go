package fdb

import "math/bits"

// MaxPorts bounds the switch's port count so that a PortSet is a small value.
const MaxPorts = 256

// PortSet is a set of ports, by value (a bitset). The zero value is empty.
//
// It is 32 bytes and holds no pointers, so the data plane can compute one per
// frame on the stack and copy it around freely. Ports at or above MaxPorts
// cannot be members: Add panics on them (the switch never numbers a port that
// high), Has and Remove treat them as absent.
type PortSet struct{ w [MaxPorts / 64]uint64 }

// Add puts p in s. It panics if p >= MaxPorts.
func (s *PortSet) Add(p PortID) { s.w[p>>6] |= 1 << (p & 63) }

// Remove takes p out of s.
func (s *PortSet) Remove(p PortID) {
	if int(p) < MaxPorts {
		s.w[p>>6] &^= 1 << (p & 63)
	}
}

// Has reports whether p is in s.
func (s PortSet) Has(p PortID) bool {
	return int(p) < MaxPorts && s.w[p>>6]&(1<<(p&63)) != 0
}

// IsEmpty reports whether s has no ports.
func (s PortSet) IsEmpty() bool { return s == PortSet{} }

// Len returns the number of ports in s.
func (s PortSet) Len() int {
	n := 0
	for _, w := range s.w {
		n += bits.OnesCount64(w)
	}
	return n
}

// Union returns the ports in s or in o.
func (s PortSet) Union(o PortSet) PortSet {
	for i := range s.w {
		s.w[i] |= o.w[i]
	}
	return s
}

// Minus returns the ports in s that are not in o.
func (s PortSet) Minus(o PortSet) PortSet {
	for i := range s.w {
		s.w[i] &^= o.w[i]
	}
	return s
}

// Next returns the lowest port in s that is >= from; ok false when none. Iteration without closures:
//
//	for p, ok := s.Next(0); ok; p, ok = s.Next(p + 1) { ... }
func (s PortSet) Next(from PortID) (PortID, bool) {
	i := int(from) >> 6
	if i >= len(s.w) {
		return 0, false
	}
	w := s.w[i] &^ (1<<(from&63) - 1) // drop the ports below from
	for {
		if w != 0 {
			return PortID(i<<6 + bits.TrailingZeros64(w)), true
		}
		i++
		if i == len(s.w) {
			return 0, false
		}
		w = s.w[i]
	}
}

// Ports returns the ports in s in increasing order. It allocates; it is for
// reports and tests, not the per-frame path (use Next there).
func (s PortSet) Ports() []PortID {
	out := make([]PortID, 0, s.Len())
	for p, ok := s.Next(0); ok; p, ok = s.Next(p + 1) {
		out = append(out, p)
	}
	return out
}
