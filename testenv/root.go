package testenv

import (
	"os"
	"testing"
)

// RequireRootEnv names the environment variable that turns RequireRoot's skip
// into a failure. CI sets it to 1 so namespace tests cannot silently skip.
const RequireRootEnv = "SNOOPSWITCH_REQUIRE_ROOT"

// RequireRoot skips the test when the process is not root, or fails it when
// RequireRootEnv is set to 1.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv(RequireRootEnv) == "1" {
		tb.Fatalf("testenv: this test builds network namespaces and needs root, and %s=1 forbids skipping it (run it as root, e.g. go test -exec sudo)", RequireRootEnv)
	}
	tb.Skipf("testenv: needs root to build network namespaces (set %s=1 to fail instead of skipping)", RequireRootEnv)
}
