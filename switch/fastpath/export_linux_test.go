//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package fastpath

import (
	"io"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// RunIngress runs the tc program on frame with BPF_PROG_TEST_RUN, as if it
// arrived on lo of the caller's network namespace, and returns its verdict.
func (d *Datapath) RunIngress(frame []byte) (uint32, error) {
	return d.objs.SnoopswitchIngress.Run(&ebpf.RunOptions{Data: frame})
}

// Programs are the loaded tc program and ring socket filter, for tests that
// run them directly (BPF_PROG_TEST_RUN) or read what the kernel made of
// them.
func (d *Datapath) Programs() (ingress, ringFilter *ebpf.Program) {
	return d.objs.SnoopswitchIngress, d.objs.SnoopswitchRingFilter
}

// The tcx verdicts of bpf/fastpath.c.
const (
	TCXNext     = ^uint32(0) // -1: to the stack, and so to the ring
	TCXDrop     = 2
	TCXRedirect = 7
)

// LoadBareRedirect loads the program that redirects every frame to
// interface to, with no lookup: the physical limit the fast path is
// measured against.
func LoadBareRedirect(to int) (*ebpf.Program, error) {
	spec, err := loadFastpath()
	if err != nil {
		return nil, err
	}
	if err := spec.Variables[fastpathVarRedirectIfindex].Set(uint32(to)); err != nil {
		return nil, err
	}
	var objs struct {
		Prog *ebpf.Program `ebpf:"snoopswitch_bare_redirect"`
	}
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return nil, err
	}
	return objs.Prog, nil
}

// AttachBareRedirect attaches LoadBareRedirect's program to the tc ingress
// of interface from. Close the link to detach it.
func AttachBareRedirect(from, to int) (io.Closer, error) {
	prog, err := LoadBareRedirect(to)
	if err != nil {
		return nil, err
	}
	defer prog.Close() // the link holds it
	return link.AttachTCX(link.TCXOptions{Interface: from, Program: prog, Attach: ebpf.AttachTCXIngress})
}

// CPUMask is cpuMask, for its test.
var CPUMask = cpuMask
