package testenv

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where named namespaces are bind-mounted, as by `ip netns add`.
const netnsDir = "/run/netns"

// A Namespace is a named network namespace created by a Lab.
type Namespace struct {
	// Name is the namespace's name under /run/netns, usable with
	// `ip netns exec`.
	Name string

	mu     sync.RWMutex // guards handle and nl, which close invalidates
	handle netns.NsHandle
	nl     *netlink.Handle
}

// createNamespace creates the named namespace name and opens a netlink
// handle in it. The caller owns the result and must call close.
func createNamespace(name string) (*Namespace, error) {
	h, err := newNamed(name)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("testenv: create namespace %q: %w (a stale lab? remove it with ip netns del %s)", name, err, name)
		}
		return nil, fmt.Errorf("testenv: create namespace %q: %w", name, err)
	}
	n := &Namespace{Name: name, handle: h}
	// The handle's sockets are opened by a thread inside the namespace, so
	// netlink never has to switch (and maybe fail to restore) a thread itself.
	err = n.Do(func() error {
		var err error
		n.nl, err = netlink.NewHandle()
		return err
	})
	if err != nil {
		err = fmt.Errorf("testenv: netlink handle in namespace %q: %w", name, err)
		return nil, errors.Join(err, n.close())
	}
	return n, nil
}

// newNamed creates a named namespace on a thread of its own, so that if the
// thread cannot be moved back it is left locked and dies with its goroutine
// instead of running other code in the new namespace.
func newNamed(name string) (netns.NsHandle, error) {
	type result struct {
		h   netns.NsHandle
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{netns.None(), err}
			return
		}
		defer orig.Close()
		path := filepath.Join(netnsDir, name)
		_, serr := os.Lstat(path)
		existed := serr == nil
		h, err := netns.NewNamed(name)
		if err != nil && !existed && !errors.Is(err, fs.ErrExist) {
			// NewNamed leaves the bind-mount target behind when the mount
			// fails; if it was not there before, it is ours to remove.
			_ = os.Remove(path)
		}
		if rerr := netns.Set(orig); rerr != nil {
			// Leave the thread locked: the runtime ends it with this goroutine.
			if h.IsOpen() {
				_ = h.Close()
				_ = netns.DeleteNamed(name)
			}
			done <- result{netns.None(), fmt.Errorf("restore thread namespace: %w", rerr)}
			return
		}
		runtime.UnlockOSThread()
		done <- result{h, err}
	}()
	r := <-done
	return r.h, r.err
}

// Do runs fn on an OS thread locked into the namespace and moves the thread
// back afterwards. Sockets fn opens stay in the namespace after Do returns;
// this is how a switch in the test process opens its ports. Goroutines fn
// starts do not inherit the namespace. A panic or runtime.Goexit (t.FailNow)
// in fn is passed on to Do's caller.
func (n *Namespace) Do(fn func() error) error {
	var (
		err      error
		returned bool
		panicked bool
		pval     any
		stack    []byte
	)
	done := make(chan struct{})
	// fn runs on a goroutine of its own: when its thread cannot be moved back,
	// the thread is left locked and the runtime ends it with the goroutine,
	// rather than leaving the caller's goroutine in the wrong namespace.
	go func() {
		defer close(done)
		runtime.LockOSThread()
		orig, gerr := netns.Get()
		if gerr != nil {
			runtime.UnlockOSThread()
			err = fmt.Errorf("testenv: namespace %q: get thread namespace: %w", n.Name, gerr)
			returned = true
			return
		}
		defer orig.Close()
		if serr := n.enter(); serr != nil {
			// setns failed, so the thread never left its namespace.
			runtime.UnlockOSThread()
			err = fmt.Errorf("testenv: enter namespace %q: %w", n.Name, serr)
			returned = true
			return
		}
		defer func() {
			if r := recover(); r != nil {
				panicked, pval = true, r
				stack = make([]byte, 64<<10)
				stack = stack[:runtime.Stack(stack, false)]
			}
			if rerr := netns.Set(orig); rerr != nil {
				// Stay locked: this thread must not run anything else.
				err = errors.Join(err, fmt.Errorf("testenv: leave namespace %q: %w", n.Name, rerr))
				return
			}
			runtime.UnlockOSThread()
		}()
		err = fn()
		returned = true
	}()
	<-done
	switch {
	case panicked:
		panic(fmt.Sprintf("testenv: panic in namespace %q: %v\n\n%s", n.Name, pval, stack))
	case !returned:
		runtime.Goexit()
	}
	return err
}

// enter moves the calling thread into the namespace.
func (n *Namespace) enter() error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if !n.handle.IsOpen() {
		return errClosed
	}
	return netns.Set(n.handle)
}

var errClosed = errors.New("lab is closed")

// Command returns a command that runs name with args inside the namespace,
// as `ip netns exec` does. It is meant for tools (iperf3, trafgen, the
// snoopswitch binary), not for building topology.
func (n *Namespace) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Handle returns a netlink handle bound to the namespace, or nil once the
// Lab is closed. Do not keep it past Close: a closed netlink.Handle silently
// falls back to the namespace of the calling thread.
func (n *Namespace) Handle() *netlink.Handle {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.nl
}

// SetLinkUp sets the interface name in the namespace up or down, as `ip
// link set NAME up|down` does: a switch port losing and regaining its link.
func (n *Namespace) SetLinkUp(name string, up bool) error {
	h := n.Handle()
	if h == nil {
		return fmt.Errorf("testenv: namespace %q is closed", n.Name)
	}
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("testenv: namespace %q: %s: %w", n.Name, name, err)
	}
	if up {
		err = h.LinkSetUp(l)
	} else {
		err = h.LinkSetDown(l)
	}
	if err != nil {
		return fmt.Errorf("testenv: namespace %q: set %s up=%v: %w", n.Name, name, up, err)
	}
	return nil
}

// Path returns the namespace's bind mount, for setns(2) or nsenter --net.
func (n *Namespace) Path() string { return filepath.Join(netnsDir, n.Name) }

// SetSysctl writes value to the sysctl key (dotted form, e.g.
// "net.ipv6.conf.all.accept_dad") inside the namespace. Keys under net. are
// per namespace, and /proc/sys resolves them for the thread that opens them.
func (n *Namespace) SetSysctl(key, value string) error {
	return n.Do(func() error { return writeSysctl(key, value) })
}

// Sysctl reads the sysctl key (dotted form) inside the namespace.
func (n *Namespace) Sysctl(key string) (string, error) {
	var v string
	err := n.Do(func() error {
		b, err := os.ReadFile(sysctlPath(key))
		if err != nil {
			return fmt.Errorf("testenv: namespace %q: read sysctl %s: %w", n.Name, key, err)
		}
		v = strings.TrimSpace(string(b))
		return nil
	})
	return v, err
}

// writeSysctl writes a sysctl in the calling thread's namespace.
func writeSysctl(key, value string) error {
	if err := os.WriteFile(sysctlPath(key), []byte(value), 0); err != nil {
		return fmt.Errorf("testenv: set sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

func sysctlPath(key string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
}

// close releases the namespace and removes its bind mount. Deleting the
// namespace only drops the mount's reference: it disappears, with its
// interfaces, when no socket or process holds it any more.
func (n *Namespace) close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nl != nil {
		n.nl.Close()
		n.nl = nil
	}
	var errs []error
	if n.handle.IsOpen() {
		if err := n.handle.Close(); err != nil {
			errs = append(errs, fmt.Errorf("testenv: close namespace %q: %w", n.Name, err))
		}
	}
	switch err := netns.DeleteNamed(n.Name); {
	case err == nil, errors.Is(err, fs.ErrNotExist):
	case errors.Is(err, unix.EINVAL):
		// No longer mounted (someone ran ip netns del?): remove what is left.
		if err := os.Remove(n.Path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("testenv: delete namespace %q: %w", n.Name, err))
		}
	default:
		errs = append(errs, fmt.Errorf("testenv: delete namespace %q: %w", n.Name, err))
	}
	return errors.Join(errs...)
}

// release closes the namespace's descriptors but keeps it, for a lab kept
// for inspection.
func (n *Namespace) release() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nl != nil {
		n.nl.Close()
		n.nl = nil
	}
	if n.handle.IsOpen() {
		return n.handle.Close()
	}
	return nil
}
