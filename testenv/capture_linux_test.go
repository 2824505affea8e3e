package testenv_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// frame builds an Ethernet frame from dst, src, the 4-byte tags given as
// (TPID, TCI) pairs, EtherType 0x88b5 (local experimental) and a payload that
// starts with marker, padded to the 60-byte minimum.
func frame(dst, src net.HardwareAddr, marker string, tags ...[2]uint16) []byte {
	f := append(append([]byte{}, dst...), src...)
	for _, tag := range tags {
		f = binary.BigEndian.AppendUint16(f, tag[0])
		f = binary.BigEndian.AppendUint16(f, tag[1])
	}
	f = binary.BigEndian.AppendUint16(f, 0x88b5)
	f = append(f, marker...)
	for len(f) < 60 {
		f = append(f, 0)
	}
	return f
}

func TestCaptureVLANTagsThroughLinuxBridgeLinux(t *testing.T) {
	lab, a, b := twoHosts(t)
	if _, err := lab.AddLinuxBridge(); err != nil {
		t.Fatal(err)
	}
	capA, err := a.Capture()
	if err != nil {
		t.Fatal(err)
	}
	capB, err := b.Capture()
	if err != nil {
		t.Fatal(err)
	}
	defer capB.Close()

	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	frames := map[string][]byte{
		// The kernel moves the tag into packet metadata on the way; Capture
		// must put it back byte for byte.
		"802.1Q VID 100 PCP 5": frame(b.MAC, a.MAC, "q100", [2]uint16{0x8100, 5<<13 | 100}),
		"priority tag (TCI 0)": frame(b.MAC, a.MAC, "prio", [2]uint16{0x8100, 0}),
		"802.1ad S-tag over C-tag": frame(bcast, a.MAC, "qinq",
			[2]uint16{0x88a8, 10}, [2]uint16{0x8100, 20}),
		"untagged broadcast":   frame(bcast, a.MAC, "none"),
		"VID 4094 other host":  frame(net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}, a.MAC, "q4094", [2]uint16{0x8100, 4094}),
		"multicast with VID 1": frame(net.HardwareAddr{0x01, 0x00, 0x5e, 0x01, 0x02, 0x03}, a.MAC, "mcast", [2]uint16{0x8100, 1}),
	}
	for name, f := range frames {
		if err := a.SendFrame(f); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for name, f := range frames {
		if !capB.WaitFor(func(got []byte) bool { return bytes.Equal(got, f) }, 1, 2*time.Second) {
			t.Errorf("%s: b did not capture\n% x\nit captured:", name, f)
			for _, got := range capB.Frames() {
				t.Logf("% x", got)
			}
		}
	}
	if err := capB.Err(); err != nil {
		t.Error(err)
	}

	// The sender's capture must not see its own frames (PACKET_OUTGOING).
	time.Sleep(50 * time.Millisecond)
	if err := capA.Close(); err != nil {
		t.Error(err)
	}
	for name, f := range frames {
		if n := capA.Count(func(got []byte) bool { return bytes.Equal(got, f) }); n != 0 {
			t.Errorf("%s: the sender captured its own frame %d times", name, n)
		}
	}

	if err := a.SendFrame(make([]byte, 13)); err == nil {
		t.Error("SendFrame accepted a 13-byte frame")
	}
}

func TestRxPacketsLinux(t *testing.T) {
	lab, a, b := twoHosts(t)
	if _, err := lab.AddLinuxBridge(); err != nil {
		t.Fatal(err)
	}
	before, err := b.RxPackets()
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	for range n {
		if err := a.SendFrame(frame(b.MAC, a.MAC, "count")); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	var after uint64
	for {
		if after, err = b.RxPackets(); err != nil {
			t.Fatal(err)
		}
		if after-before >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The hosts' own IPv6 chatter may add a few packets, never remove any.
	if after-before < n || after-before > n+10 {
		t.Errorf("rx_packets of b went from %d to %d, want %d more", before, after, n)
	}
}
