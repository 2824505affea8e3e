package switching

import (
	"testing"

	"github.com/snoopswitch/snoopswitch/snoop"
)

// TestParseDropReasonPerReason: every reason snoop rejects a control packet
// for is counted under a drop reason of its own, with the same stable name,
// so that a reason snoop adds cannot fall silently into bad-ip.
func TestParseDropReasonPerReason(t *testing.T) {
	seen := map[DropReason]snoop.ParseReason{}
	for _, r := range snoop.ParseReasons() {
		d := parseDropReason(r)
		if d.String() != r.String() {
			t.Errorf("parse reason %q counted as drop %q", r, d)
		}
		if prev, ok := seen[d]; ok {
			t.Errorf("parse reasons %q and %q share drop reason %q", prev, r, d)
		}
		seen[d] = r
	}
	if len(seen) == 0 {
		t.Fatal("snoop.ParseReasons is empty")
	}
}
