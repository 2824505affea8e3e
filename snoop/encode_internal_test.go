package snoop

import (
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/testutil"
)

// Every 8-bit code decodes to a value that encodes back to the same code,
// and decoding is strictly increasing: each value has one code.
func TestCode8RoundTrip(t *testing.T) {
	for c := range 256 {
		v := decodeCode8(uint8(c))
		got, ok := encodeCode8(uint64(v))
		if !ok || got != uint8(c) {
			t.Errorf("code %#02x = %d encodes to %#02x, %v", c, v, got, ok)
		}
		if c > 0 && decodeCode8(uint8(c-1)) >= v {
			t.Errorf("code %#02x = %d not above code %#02x", c, v, c-1)
		}
	}
	if decodeCode8(0xff) != maxCode8Value {
		t.Errorf("0xff = %d, want %d", decodeCode8(0xff), maxCode8Value)
	}
}

// For every value up to the largest, the code is the smallest whose value is
// at least the one asked for.
func TestCode8RoundsUp(t *testing.T) {
	for v := range uint64(maxCode8Value + 1) {
		c, ok := encodeCode8(v)
		if !ok || uint64(decodeCode8(c)) < v || (c > 0 && uint64(decodeCode8(c-1)) >= v) {
			t.Fatalf("value %d: code %#02x = %d, %v", v, c, decodeCode8(c), ok)
		}
	}
	if _, ok := encodeCode8(maxCode8Value + 1); ok {
		t.Error("value above the largest encoded")
	}
}

func TestCode16RoundTrip(t *testing.T) {
	for c := range 1 << 16 {
		v := decodeCode16(uint16(c))
		got, ok := encodeCode16(uint64(v))
		if !ok || got != uint16(c) {
			t.Fatalf("code %#04x = %d encodes to %#04x, %v", c, v, got, ok)
		}
		if c > 0 && decodeCode16(uint16(c-1)) >= v {
			t.Fatalf("code %#04x = %d not above code %#04x", c, v, c-1)
		}
	}
	if decodeCode16(0xffff) != maxCode16Value {
		t.Errorf("0xffff = %d, want %d", decodeCode16(0xffff), maxCode16Value)
	}
}

func TestCode16RoundsUp(t *testing.T) {
	for v := range uint64(maxCode16Value + 1) {
		c, ok := encodeCode16(v)
		if !ok || uint64(decodeCode16(c)) < v || (c > 0 && uint64(decodeCode16(c-1)) >= v) {
			t.Fatalf("value %d: code %#04x = %d, %v", v, c, decodeCode16(c), ok)
		}
	}
	if _, ok := encodeCode16(maxCode16Value + 1); ok {
		t.Error("value above the largest encoded")
	}
}

// The package's 32-bit-word checksum agrees with RFC 1071's 16-bit sum for
// every length and alignment, odd ones included.
func TestOnesSum(t *testing.T) {
	b := make([]byte, 70)
	for i := range b {
		b[i] = byte(0xff - i*7)
	}
	for n := range len(b) {
		if got, want := foldChecksum(onesSum(0, b[:n])), testutil.Checksum(b[:n]); got != want {
			t.Errorf("%d octets: %#04x, want %#04x", n, got, want)
		}
	}
}
