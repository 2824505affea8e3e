package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/snoopswitch/snoopswitch/internal/control"
	"github.com/snoopswitch/snoopswitch/testenv"
)

// The two switches a bench compares, as devices it starts, asks for
// their group tables and stops on the lab's switch ports.

// device is one of the two switches under test, set up on the lab's switch
// ports.
type device interface {
	name() string
	// datapath is snoopswitch's datapath, or "" for the Linux bridge.
	datapath() string
	start(ctx context.Context) error
	// stop takes the switch down and reports whether it ended well.
	stop() error
	// process is the switch's process, or nil for the Linux bridge.
	process() *process
	// groups reads the switch's multicast group table.
	groups() ([]GroupEntry, error)
}

// snoopswitchDevice runs `snoopswitch run` over every switch port on one
// datapath, pinned to the switch's CPU.
type snoopswitchDevice struct {
	r  *rig
	dp string // DatapathRing or DatapathFast
	p  *process
}

func (d *snoopswitchDevice) name() string      { return Snoopswitch }
func (d *snoopswitchDevice) datapath() string  { return d.dp }
func (d *snoopswitchDevice) process() *process { return d.p }

func (d *snoopswitchDevice) start(ctx context.Context) error {
	args := append([]string{"-c", strconv.Itoa(switchCPU), d.r.binary, "run", "--config", d.r.switchConfig, "--datapath", d.dp}, d.r.switchArgs...)
	p, err := startProcess("snoopswitch run", d.r.lab.SwitchNS().Command(d.r.taskset, args...))
	if err != nil {
		return err
	}
	const timeout = 10 * time.Second
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.out.since(0), readyLog) {
		switch {
		case p.exited():
			return fmt.Errorf("snoopswitch run (%s %s) did not start: %s", d.r.binary, strings.Join(args[3:], " "), p.status())
		case ctx.Err() != nil:
			p.kill()
			return ctx.Err()
		case time.Now().After(deadline):
			p.kill()
			return fmt.Errorf("snoopswitch run has not logged %s after %v (killed it): %s", readyLog, timeout, p.status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	d.p = p
	return nil
}

func (d *snoopswitchDevice) groups() ([]GroupEntry, error) {
	doc, err := control.Fetch(d.r.controlSocket, "groups")
	if err != nil {
		return nil, err
	}
	return ParseShowGroups(doc)
}

func (d *snoopswitchDevice) stop() error {
	p := d.p
	if p == nil {
		return nil
	}
	d.p = nil
	const timeout = 10 * time.Second
	if !p.stop(syscall.SIGTERM, timeout) {
		return fmt.Errorf("snoopswitch run did not exit within %v of SIGTERM (killed it): %s", timeout, p.status())
	}
	if p.err != nil {
		return fmt.Errorf("snoopswitch run ended with %v after SIGTERM, want exit status 0: %s", p.err, p.status())
	}
	return nil
}

// bridgeDevice is the lab's Linux bridge twin, with multicast snooping,
// a querier and room for the 10 000-group scenarios.
type bridgeDevice struct {
	r      *rig
	bridge string // its name while it is up
}

func (d *bridgeDevice) name() string      { return LinuxBridge }
func (d *bridgeDevice) datapath() string  { return "" }
func (d *bridgeDevice) process() *process { return nil }

func (d *bridgeDevice) start(context.Context) error {
	name, err := d.r.lab.AddLinuxBridge()
	if err != nil {
		return err
	}
	d.bridge = name
	if err := d.configure(); err != nil {
		return joinErr(err, d.stop())
	}
	return nil
}

// configure sets the bridge's multicast options, which SetLinuxBridge
// checks took. The querier goes on last: turning it on starts the wait of
// one query response interval, which must be the short one by then.
func (d *bridgeDevice) configure() error {
	return d.r.lab.SetLinuxBridge(
		testenv.BridgeMulticastSnooping(true),
		testenv.BridgeIGMPVersion(bridgeIGMPVersion),
		testenv.BridgeHashMax(bridgeHashMax),
		testenv.BridgeQueryResponseInterval(bridgeQueryResponse),
		testenv.BridgeMulticastQuerier(true),
	)
}

func (d *bridgeDevice) groups() ([]GroupEntry, error) {
	entries, err := d.r.lab.LinuxBridgeMDB()
	if err != nil {
		return nil, err
	}
	out := make([]GroupEntry, len(entries))
	for i, e := range entries {
		out[i] = GroupEntry{Group: e.Group, Port: e.Port}
	}
	return out, nil
}

func (d *bridgeDevice) stop() error {
	d.bridge = ""
	return d.r.lab.RemoveLinuxBridge()
}
