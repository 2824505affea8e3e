//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package fastpath

import "github.com/cilium/ebpf"

// RunIngress runs the tc program on frame with BPF_PROG_TEST_RUN, as if it
// arrived on lo of the caller's network namespace, and returns its verdict.
func (d *Datapath) RunIngress(frame []byte) (uint32, error) {
	return d.objs.SnoopswitchIngress.Run(&ebpf.RunOptions{Data: frame})
}

// The tcx verdicts of bpf/fastpath.c.
const (
	TCXNext     = ^uint32(0) // -1: to the stack, and so to the ring
	TCXDrop     = 2
	TCXRedirect = 7
)
