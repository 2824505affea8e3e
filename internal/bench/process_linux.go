package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is a child the bench started: snoopswitch. It runs in
// a process group of its own, so that a Ctrl-C at the terminal reaches only
// the bench, which stops its children in order; and it dies with the bench
// (SIGKILL as parent-death signal) if the bench is killed outright.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *outputBuffer
	done chan struct{} // closed when the process has exited
	err  error         // what Wait returned; valid once done is closed
}

func startProcess(name string, cmd *exec.Cmd) (*process, error) {
	p := &process{name: name, cmd: cmd, out: &outputBuffer{}, done: make(chan struct{})}
	cmd.Stdout = p.out
	cmd.Stderr = p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// signal sends sig to the process's group.
func (p *process) signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return fmt.Errorf("%s has exited: %s", p.name, p.status())
	default:
	}
	if err := syscall.Kill(-p.pid(), sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %s: %w", p.name, err)
	}
	return nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits up to timeout for the process to exit; after
// that it kills the group. It reports whether the process exited on its own.
func (p *process) stop(sig syscall.Signal, timeout time.Duration) bool {
	if p.exited() {
		return true
	}
	_ = syscall.Kill(-p.pid(), sig)
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		p.kill()
		return false
	}
}

// kill ends the group at once and waits for the process.
func (p *process) kill() {
	if !p.exited() {
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	}
	<-p.done
}

// status describes how the process ended, with the end of its output.
func (p *process) status() string {
	s := "still running"
	if p.exited() {
		s = "exit status 0"
		if p.err != nil {
			s = p.err.Error()
		}
	}
	if tail := p.out.tail(20); tail != "" {
		s += "; its output ends:\n" + tail
	}
	return s
}

// outputBuffer collects a child's output; it keeps the last maxOutput bytes
// and counts everything written, so callers can read what came after a mark.
type outputBuffer struct {
	mu      sync.Mutex
	buf     []byte
	written int
}

const maxOutput = 1 << 20

func (b *outputBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	b.written += len(p)
	if len(b.buf) > maxOutput {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-maxOutput/2:]...)
	}
	return len(p), nil
}

// mark returns the count of bytes written so far.
func (b *outputBuffer) mark() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.written
}

// since returns what was written after mark (as much of it as is kept).
func (b *outputBuffer) since(mark int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	first := b.written - len(b.buf) // offset of buf[0] in the whole output
	return string(b.buf[max(mark-first, 0):])
}

// tail returns the last n lines.
func (b *outputBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	lines := bytes.Split(bytes.TrimRight(b.buf, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(string(bytes.Join(lines, []byte("\n"))))
}
