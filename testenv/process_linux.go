package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/control"
)

// ProcessOptions configures Machine.Run.
type ProcessOptions struct {
	// Binary is the snoopswitch program; "" is "snoopswitch" on PATH.
	Binary string
	// TunnelFlag is the run flag that names each tunnel port:
	// "--router-port" (every multicast stream crosses every tunnel: a
	// flooding fabric), "--switch-port", or "" for "--port".
	TunnelFlag string
	// Args are more flags of run, after the ports (timers, querier
	// addresses, --datapath).
	Args []string
	// SplitHorizon sets the port key split-horizon on every tunnel (a
	// full mesh's tunnels need it: a frame that came over one never leaves
	// by another), through a configuration file given with --config.
	SplitHorizon bool
	// Log receives the process's standard error as well as the Process's
	// own buffer; nil: the buffer alone.
	Log io.Writer
}

// ProcessStartTimeout bounds the wait for a switch process's control
// socket.
const ProcessStartTimeout = 10 * time.Second

// A Process is `snoopswitch run` running on a machine of a fabric, in the
// machine's switch namespace, on the machine's switch ports.
type Process struct {
	Machine *Machine
	// Socket is the control socket of the process (`snoopswitch show
	// --control-socket`).
	Socket string
	// Args are the arguments of the command run in the namespace.
	Args []string

	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	stderr lockedBuffer
	once   sync.Once
	err    error // of Stop
	exit   error // of Wait
	// reported: Run returned the early exit as its error.
	reported bool
}

// Run starts `snoopswitch run` on the machine: every host port with --port,
// every tunnel with opts.TunnelFlag, a control socket of its own, and
// opts.Args. It returns once the control socket answers, and the fabric
// stops the process at Close.
func (m *Machine) Run(opts ProcessOptions) (*Process, error) {
	f := m.fabric
	bin := opts.Binary
	if bin == "" {
		bin = "snoopswitch"
	}
	flag := opts.TunnelFlag
	if flag == "" {
		flag = "--port"
	}
	p := &Process{Machine: m, Socket: filepath.Join(f.dir, m.prefix+".sock"), done: make(chan struct{})}
	p.Args = []string{"run"}
	tunnels := m.Tunnels()
	for _, name := range m.SwitchPorts() {
		fl := "--port"
		for _, t := range tunnels {
			if t.Name == name {
				fl = flag
			}
		}
		p.Args = append(p.Args, fl, name)
	}
	p.Args = append(p.Args, "--control-socket", p.Socket)
	if opts.SplitHorizon {
		file := filepath.Join(f.dir, m.prefix+".yaml")
		var b strings.Builder
		b.WriteString("# testenv: the tunnels of machine " + m.Name + ", split horizon on\nports:\n")
		for _, t := range tunnels {
			fmt.Fprintf(&b, "  - name: %s\n    split-horizon: true\n", t.Name)
		}
		if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
			return nil, fmt.Errorf("testenv: run switch on %s: %w", m.Name, err)
		}
		p.Args = append(p.Args, "--config", file)
	}
	p.Args = append(p.Args, opts.Args...)

	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, fmt.Errorf("testenv: run switch on %s: fabric %s is closed", m.Name, f.prefix)
	}
	for _, q := range f.procs {
		if q.Machine == m && !q.exited() {
			f.mu.Unlock()
			return nil, fmt.Errorf("testenv: run switch on %s: one runs there already (pid %d)", m.Name, q.cmd.Process.Pid)
		}
	}
	// A socket left by a killed process would answer nothing.
	if err := os.Remove(p.Socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		f.mu.Unlock()
		return nil, fmt.Errorf("testenv: run switch on %s: %w", m.Name, err)
	}
	p.cmd = m.sw.Command(bin, p.Args...)
	var w io.Writer = &p.stderr
	if opts.Log != nil {
		w = io.MultiWriter(&p.stderr, opts.Log)
	}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		f.mu.Unlock()
		return nil, fmt.Errorf("testenv: run switch on %s: %w", m.Name, err)
	}
	go func() {
		p.exit = p.cmd.Wait()
		close(p.done)
	}()
	f.procs = append(f.procs, p)
	f.mu.Unlock()
	ready := waitUntil(ProcessStartTimeout, func() bool {
		if p.exited() {
			return true
		}
		_, err := control.Fetch(p.Socket, "ports")
		return err == nil
	})
	switch {
	case p.exited():
		p.reported = true // Stop need not say it again
		return nil, fmt.Errorf("testenv: switch on %s (%s %s) exited at once: %v: %s", m.Name, bin, strings.Join(p.Args, " "), p.exit, lastLines(p.stderr.String(), 3))
	case !ready:
		return nil, errors.Join(fmt.Errorf("testenv: switch on %s: control socket %s does not answer after %v: %s", m.Name, p.Socket, ProcessStartTimeout, lastLines(p.stderr.String(), 3)), p.Stop())
	}
	return p, nil
}

// Fetch asks the process's control socket for topic ("groups", "ports",
// "fdb", "routers", "querier", "counters"), as `snoopswitch show TOPIC
// --json` does, and returns the JSON.
func (p *Process) Fetch(topic string) ([]byte, error) {
	b, err := control.Fetch(p.Socket, topic)
	if err != nil {
		return nil, fmt.Errorf("testenv: switch on %s: %w", p.Machine.Name, err)
	}
	return b, nil
}

// Output returns what the process wrote so far.
func (p *Process) Output() string { return p.stderr.String() }

func (p *Process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop ends the process as an operator would (SIGTERM), kills it if it
// has not exited within 5 s, and returns an error if it did not exit
// cleanly. It is idempotent.
func (p *Process) Stop() error {
	p.once.Do(func() {
		if !p.exited() {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.done
				p.err = fmt.Errorf("testenv: switch on %s did not stop within 5 s of SIGTERM: %s", p.Machine.Name, lastLines(p.stderr.String(), 3))
				return
			}
		}
		if p.exit != nil && !p.reported {
			p.err = fmt.Errorf("testenv: switch on %s: %v: %s", p.Machine.Name, p.exit, lastLines(p.stderr.String(), 3))
		}
	})
	return p.err
}

// lastLines returns the last n lines of s, the end of a process's output
// being where it says why it stopped.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// lockedBuffer is a bytes.Buffer that a process writes while others read.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
