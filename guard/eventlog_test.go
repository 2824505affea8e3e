package guard_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	"github.com/snoopswitch/snoopswitch/guard"
)

// recorder is a slog.Handler that keeps every record's message and attributes.
type recorder struct {
	mu   sync.Mutex
	recs []map[string]string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	m := map[string]string{"msg": rec.Message, "level": rec.Level.String()}
	rec.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	r.mu.Lock()
	r.recs = append(r.recs, m)
	r.mu.Unlock()
	return nil
}

func TestEventLogSuppression(t *testing.T) {
	rec := &recorder{}
	el := guard.NewEventLog(slog.New(rec), 3, 10*time.Second)
	for i := range 10 {
		el.Drop(t0.Add(time.Duration(i)*time.Millisecond), 1, guard.ReasonBadTTL, "guard: drop")
	}
	// Another (reason, port) has its own budget.
	el.Drop(t0, 2, guard.ReasonBadTTL, "guard: drop")
	el.Drop(t0, 1, guard.ReasonACLDeny, "guard: drop")
	if len(rec.recs) != 5 {
		t.Fatalf("%d records in the first window, want 3 + 1 + 1: %v", len(rec.recs), rec.recs)
	}
	if got := rec.recs[0]; got["reason"] != "bad-ttl" || got["port"] != "1" || got["level"] != "WARN" {
		t.Fatalf("first record = %v", got)
	}
	// Still inside the window: suppressed.
	el.Drop(t0.Add(9*time.Second), 1, guard.ReasonBadTTL, "guard: drop")
	if len(rec.recs) != 5 {
		t.Fatalf("logged inside a full window")
	}
	// The window reopens: the summary, then the event.
	el.Drop(t0.Add(10*time.Second), 1, guard.ReasonBadTTL, "guard: drop")
	if len(rec.recs) != 7 {
		t.Fatalf("%d records after the window reopened, want 7: %v", len(rec.recs), rec.recs)
	}
	if s := rec.recs[5]; s["msg"] != "guard: events suppressed" || s["suppressed"] != "8" || s["reason"] != "bad-ttl" || s["port"] != "1" {
		t.Fatalf("summary = %v, want 8 suppressed for bad-ttl on port 1", s)
	}
	if rec.recs[6]["msg"] != "guard: drop" {
		t.Fatalf("after the summary: %v", rec.recs[6])
	}
}

func TestEventLogFlushAndRogueQuerier(t *testing.T) {
	rec := &recorder{}
	el := guard.NewEventLog(slog.New(rec), 1, time.Minute)
	mac, _ := fdb.ParseMAC("02:00:00:00:00:66")
	for range 5 {
		el.RogueQuerier(t0, 4, guard.ReasonRouterGuard, 10, mac, a("192.0.2.1"))
	}
	if len(rec.recs) != 1 {
		t.Fatalf("%d records, want 1", len(rec.recs))
	}
	r := rec.recs[0]
	if r["msg"] != "guard: rogue querier" || r["port"] != "4" || r["mac"] != "02:00:00:00:00:66" ||
		r["address"] != "192.0.2.1" || r["vlan"] != "10" || r["reason"] != "router-guard" {
		t.Fatalf("rogue querier record = %v", r)
	}
	el.Flush(t0.Add(59 * time.Second)) // window still open: nothing
	if len(rec.recs) != 1 {
		t.Fatal("Flush logged inside an open window")
	}
	el.Flush(t0.Add(time.Minute))
	if len(rec.recs) != 2 || rec.recs[1]["suppressed"] != "4" {
		t.Fatalf("after Flush: %v", rec.recs)
	}
	el.Flush(t0.Add(time.Hour)) // nothing left to report
	if len(rec.recs) != 2 {
		t.Fatal("Flush reported the same suppressed events twice")
	}
	if !el.Allow(t0.Add(time.Hour), 4, guard.ReasonRouterGuard) {
		t.Fatal("a flushed slot does not start afresh")
	}
}
