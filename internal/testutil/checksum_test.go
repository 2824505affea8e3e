package testutil_test

import (
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/testutil"
)

// RFC 1071 s3's example: the sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2, so
// the checksum is its complement, and a header that holds it sums to 0.
func TestChecksumRFC1071Example(t *testing.T) {
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := testutil.Checksum(b); got != ^uint16(0xddf2) {
		t.Fatalf("Checksum = %#04x, want %#04x", got, ^uint16(0xddf2))
	}
	if got := testutil.Checksum(b[:3], b[3:], []byte{0x22, 0x0d}); got != 0 {
		t.Errorf("with its checksum appended: %#04x, want 0", got)
	}
	// An odd last octet counts as the high half of a word.
	if got, want := testutil.Checksum([]byte{0x12}), ^uint16(0x1200); got != want {
		t.Errorf("odd length: %#04x, want %#04x", got, want)
	}
}
