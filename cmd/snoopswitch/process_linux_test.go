package main

import (
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/testenv"
)

// switchProcess is `snoopswitch run` started by a test, with its log. The
// test's cleanup kills it if it still runs.
type switchProcess struct {
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{} // closed when it has exited
	err  error         // Wait's, once done is closed
}

// startSwitchProcess starts cmd, a `snoopswitch run`, logging to a buffer.
func startSwitchProcess(t *testing.T, cmd *exec.Cmd) *switchProcess {
	t.Helper()
	p := &switchProcess{cmd: cmd, log: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("snoopswitch run's log:\n%s", p.log)
		}
	})
	return p
}

// waitForPing waits up to 5 s until from's echo requests reach to through
// the switch.
func (p *switchProcess) waitForPing(t *testing.T, from, to *testenv.Host) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := from.Ping(to.IPv4.Addr(), 1, 0, 200*time.Millisecond)
		if err == nil && r.Received == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ping from %s to %s through the switch within 5s", from.Name, to.Name)
		}
	}
}

// stop sends SIGTERM (`ip netns exec` passes it on to the switch) and
// checks that the switch exits with status 0 within 2 s; it returns how
// long that took.
func (p *switchProcess) stop(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("exit after SIGTERM: %v", p.err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("still running 2s after SIGTERM")
	}
	return time.Since(start)
}

// lockedBuffer is a log buffer the process writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
