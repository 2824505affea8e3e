package testutil

// Checksum is the Internet checksum of the concatenated chunks as RFC 1071
// s4.1 spells it out: 16-bit words, an odd last octet padded with a zero,
// carries folded at the end, the complement. It is kept apart from snoop's
// own 32-bit implementation (snoop.Checksum), so that each checks the
// other. Over data that holds a correct checksum it is 0.
func Checksum(chunks ...[]byte) uint16 {
	var b []byte
	for _, c := range chunks {
		b = append(b, c...)
	}
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	var sum uint32
	for i := 0; i < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
