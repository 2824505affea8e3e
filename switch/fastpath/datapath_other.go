//go:build !linux || !(386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package fastpath

import (
	"fmt"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
)

// Datapath is the kernel fast path; here, where it cannot run, Load always
// fails and the ring path is the datapath.
type Datapath struct{}

// Port is a switch port with the fast path attached.
type Port struct {
	ID      fdb.PortID
	Ifindex int
}

// Load fails: the fast path needs Linux on a little-endian CPU.
func Load(maxFlows int) (*Datapath, error) {
	return nil, fmt.Errorf("%w: it needs Linux on a little-endian CPU", ErrUnavailable)
}

func (d *Datapath) MaxFlows() int { return 0 }
func (d *Datapath) AttachPort(ifindex int, port fdb.PortID) (*Port, error) {
	return nil, ErrUnavailable
}
func (p *Port) Close() error                                            { return nil }
func (d *Datapath) AttachSocketFilter(fd int) error                     { return ErrUnavailable }
func (d *Datapath) Generation() uint32                                  { return 0 }
func (d *Datapath) Invalidate() error                                   { return ErrUnavailable }
func (d *Datapath) Install(k FlowKey, a FlowAction) error               { return ErrUnavailable }
func (d *Datapath) InstallAt(gen uint32, k FlowKey, a FlowAction) error { return ErrUnavailable }
func (d *Datapath) Delete(k FlowKey) error                              { return ErrUnavailable }
func (d *Datapath) FlowStats(k FlowKey) (FlowStats, bool, error) {
	return FlowStats{}, false, ErrUnavailable
}
func (d *Datapath) Flows(fn func(FlowKey, FlowStats) bool) error { return ErrUnavailable }
func (d *Datapath) Sweep(idle time.Duration) (int, error)        { return 0, ErrUnavailable }
func (d *Datapath) Stats() (*Stats, error)                       { return nil, ErrUnavailable }
func (d *Datapath) Close() error                                 { return nil }
