package fastpath

// The objects are committed: `make generate` (clang-14, llvm-strip-14)
// rebuilds them from bpf/fastpath.c, nothing else needs clang.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc ${BPF_CLANG} -strip ${BPF_STRIP} -cflags ${BPF_CFLAGS} -target bpfel -type flow_key -type flow_key6 -type flow_entry -type port_info -type port_stats -type handoff fastpath bpf/fastpath.c
