package fdb

// DueIndexSize returns the entries of t's due-time index and how many of
// them are live, for tests that check it stays bounded.
func (t *GroupTable) DueIndexSize() (entries, live int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.due.heap), t.due.live
}

// SetDueCompactFloor sets how many stale entries the index keeps before it
// compacts, and returns the old value: a fuzzer sets it low to compact
// often.
func SetDueCompactFloor(n int) int {
	old := dueCompactFloor
	dueCompactFloor = n
	return old
}
