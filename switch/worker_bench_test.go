package switching_test

import (
	"context"
	"testing"

	"github.com/snoopswitch/snoopswitch/fdb"
	switching "github.com/snoopswitch/snoopswitch/switch"
)

// nullPort drops what it is sent, counting, so that the engine's own cost
// is what is measured.
type nullPort struct{ name string }

func (n *nullPort) Name() string { return n.name }
func (n *nullPort) Receive(ctx context.Context, _ func([]switching.Packet)) error {
	<-ctx.Done()
	return nil
}
func (n *nullPort) NewSender() switching.Sender        { return &nullSender{} }
func (n *nullPort) KernelStats() switching.KernelStats { return switching.KernelStats{} }
func (n *nullPort) Close() error                       { return nil }

type nullSender struct{ frames, bytes int }

func (s *nullSender) Queue(p *switching.Packet) bool {
	s.frames++
	s.bytes += len(p.Data)
	return true
}
func (s *nullSender) Flush() (int, int, error) {
	f, b := s.frames, s.bytes
	s.frames, s.bytes = 0, 0
	return f, b, nil
}

// steadyState returns a worker for port 0 of a 4-port switch where hosts
// 1..4 are learned (host i on port i-1), and a batch of 64 frames from host
// 1 to hosts 2..4 in turn (known unicast, the steady state of a busy port),
// plus one broadcast.
func steadyState(tb testing.TB) (*switching.Worker, []switching.Packet) {
	return steadyStateWith(tb, switching.Config{})
}

// steadyStateWith is steadyState with the engine configured by cfg.
func steadyStateWith(tb testing.TB, cfg switching.Config) (*switching.Worker, []switching.Packet) {
	e, err := switching.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c", "d"} {
		e.AddPort(&nullPort{name: n})
	}
	ws := make([]*switching.Worker, 4)
	for i := range ws {
		ws[i] = e.NewWorker(fdb.PortID(i))
		ws[i].Handle([]switching.Packet{{Data: frame(bcast, mac(byte(i+1)), 0x0806), Len: 60}})
	}
	batch := make([]switching.Packet, 64)
	for i := range batch {
		dst := mac(byte(2 + i%3))
		if i == 63 {
			dst = bcast
		}
		batch[i] = switching.Packet{Data: frame(dst, mac(1), 0x0800), Len: 60}
	}
	return ws[0], batch
}

func TestPerFramePathAllocatesNothing(t *testing.T) {
	w, batch := steadyState(t)
	allocs := testing.AllocsPerRun(100, func() { w.Handle(batch) })
	if allocs != 0 {
		t.Errorf("Worker.Handle allocated %.1f times per batch of %d frames; want 0", allocs, len(batch))
	}
}

// BenchmarkWorkerHandle reports the engine's cost per frame (classify,
// learn, look up, queue), without the system calls of a real port.
func BenchmarkWorkerHandle(b *testing.B) {
	w, batch := steadyState(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w.Handle(batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/frame")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkWorkerHandleFlowCache is BenchmarkWorkerHandle with a flow
// cache: what the worker's memory of its offers costs each frame of a flow
// it has offered (the frames that still come to the engine while the
// kernel installs the decision).
func BenchmarkWorkerHandleFlowCache(b *testing.B) {
	w, batch := steadyStateWith(b, switching.Config{FlowCache: newFakeCache()})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w.Handle(batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/frame")
	b.ReportMetric(0, "ns/op")
}
