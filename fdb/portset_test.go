package fdb_test

import (
	"slices"
	"testing"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// portSetOf builds a PortSet from a list, for tests.
func portSetOf(ports ...fdb.PortID) fdb.PortSet {
	var s fdb.PortSet
	for _, p := range ports {
		s.Add(p)
	}
	return s
}

// iterate collects s with the Next idiom the data plane uses.
func iterate(s fdb.PortSet) []fdb.PortID {
	var out []fdb.PortID
	for p, ok := s.Next(0); ok; p, ok = s.Next(p + 1) {
		out = append(out, p)
	}
	return out
}

func TestPortSetZeroValue(t *testing.T) {
	var s fdb.PortSet
	if !s.IsEmpty() || s.Len() != 0 {
		t.Errorf("zero PortSet: IsEmpty %v, Len %d", s.IsEmpty(), s.Len())
	}
	if p, ok := s.Next(0); ok {
		t.Errorf("zero PortSet: Next(0) = %d, true", p)
	}
	if got := s.Ports(); len(got) != 0 {
		t.Errorf("zero PortSet: Ports() = %v", got)
	}
}

func TestPortSetAddRemoveHas(t *testing.T) {
	var s fdb.PortSet
	// Word boundaries of the bitset and both ends of the range.
	ports := []fdb.PortID{0, 1, 63, 64, 65, 127, 128, 191, 192, 254, 255}
	for i, p := range ports {
		s.Add(p)
		s.Add(p) // idempotent
		if !s.Has(p) {
			t.Fatalf("after Add(%d): Has(%d) = false", p, p)
		}
		if s.Len() != i+1 {
			t.Fatalf("after adding %v: Len = %d", ports[:i+1], s.Len())
		}
	}
	for p := range fdb.PortID(fdb.MaxPorts) {
		if want := slices.Contains(ports, p); s.Has(p) != want {
			t.Errorf("Has(%d) = %v, want %v", p, s.Has(p), want)
		}
	}
	for i, p := range ports {
		s.Remove(p)
		s.Remove(p) // idempotent
		if s.Has(p) {
			t.Fatalf("after Remove(%d): Has(%d) = true", p, p)
		}
		if s.Len() != len(ports)-i-1 {
			t.Fatalf("after Remove(%d): Len = %d, want %d", p, s.Len(), len(ports)-i-1)
		}
	}
	if !s.IsEmpty() {
		t.Errorf("after removing everything: IsEmpty = false, Ports %v", s.Ports())
	}
}

func TestPortSetOutOfRange(t *testing.T) {
	s := portSetOf(0, 255)
	for _, p := range []fdb.PortID{fdb.MaxPorts, fdb.MaxPorts + 64, 0xffff} {
		if s.Has(p) {
			t.Errorf("Has(%d) = true", p)
		}
		s.Remove(p) // must neither panic nor touch a port in range
		if q, ok := s.Next(p); ok {
			t.Errorf("Next(%d) = %d, true", p, q)
		}
	}
	if got := s.Ports(); !slices.Equal(got, []fdb.PortID{0, 255}) {
		t.Errorf("Ports() = %v, want [0 255]", got)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("Add(%d) did not panic", fdb.MaxPorts)
		}
	}()
	s.Add(fdb.MaxPorts)
}

// Next visits every port of the full set, and each single port on its own,
// from every starting point.
func TestPortSetNextAll(t *testing.T) {
	var full fdb.PortSet
	for p := range fdb.PortID(fdb.MaxPorts) {
		full.Add(p)
	}
	if full.Len() != fdb.MaxPorts {
		t.Fatalf("full set: Len = %d", full.Len())
	}
	got := iterate(full)
	if len(got) != fdb.MaxPorts {
		t.Fatalf("full set: iteration gave %d ports", len(got))
	}
	for i, p := range got {
		if int(p) != i {
			t.Fatalf("full set: iteration step %d gave port %d", i, p)
		}
	}
	if !slices.Equal(full.Ports(), got) {
		t.Errorf("full set: Ports() differs from iteration")
	}

	for p := range fdb.PortID(fdb.MaxPorts) {
		s := portSetOf(p)
		if got := iterate(s); !slices.Equal(got, []fdb.PortID{p}) {
			t.Fatalf("{%d}: iteration gave %v", p, got)
		}
		for from := range fdb.PortID(fdb.MaxPorts + 1) {
			q, ok := s.Next(from)
			if wantOK := from <= p; ok != wantOK || (ok && q != p) {
				t.Fatalf("{%d}.Next(%d) = %d, %v; want %d, %v", p, from, q, ok, p, wantOK)
			}
		}
	}
}

// A sparse set with gaps spanning whole words.
func TestPortSetNextGaps(t *testing.T) {
	s := portSetOf(3, 200)
	tests := []struct {
		from   fdb.PortID
		want   fdb.PortID
		wantOK bool
	}{
		{0, 3, true}, {3, 3, true}, {4, 200, true}, {64, 200, true},
		{199, 200, true}, {200, 200, true}, {201, 0, false}, {255, 0, false}, {256, 0, false},
	}
	for _, tt := range tests {
		if got, ok := s.Next(tt.from); ok != tt.wantOK || got != tt.want {
			t.Errorf("Next(%d) = %d, %v; want %d, %v", tt.from, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestPortSetUnionMinus(t *testing.T) {
	a := portSetOf(0, 5, 63, 64, 200)
	b := portSetOf(5, 64, 100, 255)
	aCopy, bCopy := a, b
	tests := []struct {
		name string
		got  fdb.PortSet
		want []fdb.PortID
	}{
		{"a+b", a.Union(b), []fdb.PortID{0, 5, 63, 64, 100, 200, 255}},
		{"b+a", b.Union(a), []fdb.PortID{0, 5, 63, 64, 100, 200, 255}},
		{"a-b", a.Minus(b), []fdb.PortID{0, 63, 200}},
		{"b-a", b.Minus(a), []fdb.PortID{100, 255}},
		{"a-a", a.Minus(a), nil},
		{"a+empty", a.Union(fdb.PortSet{}), []fdb.PortID{0, 5, 63, 64, 200}},
		{"a-empty", a.Minus(fdb.PortSet{}), []fdb.PortID{0, 5, 63, 64, 200}},
		{"empty-a", fdb.PortSet{}.Minus(a), nil},
	}
	for _, tt := range tests {
		if got := iterate(tt.got); !slices.Equal(got, tt.want) {
			t.Errorf("%s = %v, want %v", tt.name, got, tt.want)
		}
		if tt.got.Len() != len(tt.want) || tt.got.IsEmpty() != (len(tt.want) == 0) {
			t.Errorf("%s: Len %d, IsEmpty %v; want %d ports", tt.name, tt.got.Len(), tt.got.IsEmpty(), len(tt.want))
		}
	}
	if a != aCopy || b != bCopy {
		t.Errorf("Union/Minus changed their operands")
	}
}

// A PortSet is a value: a copy does not change with the original.
func TestPortSetIsValue(t *testing.T) {
	a := portSetOf(1)
	b := a
	a.Add(2)
	b.Remove(1)
	if !slices.Equal(a.Ports(), []fdb.PortID{1, 2}) || !b.IsEmpty() {
		t.Errorf("a = %v, b = %v; want [1 2] and []", a.Ports(), b.Ports())
	}
}
