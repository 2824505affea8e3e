package fdb

// DueIndexSize returns the entries of t's due-time index and how many of
// them are live, for tests that check it stays bounded.
func (t *GroupTable) DueIndexSize() (entries, live int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.due.entries, t.due.live
}

// SetDueCompactFloor sets how many stale entries the index keeps before it
// compacts, and returns the old value: a fuzzer sets it low to compact
// often.
func SetDueCompactFloor(n int) int {
	old := dueCompactFloor
	dueCompactFloor = n
	return old
}

// SetDueWheel sets the wheel's slot size (2^shift ns) and slot count (a
// power of two) for tables that call ScheduleBy afterwards, and returns
// the old values.
func SetDueWheel(shift uint, slots int) (uint, int) {
	oldShift, oldSlots := dueSlotShift, dueSlots
	dueSlotShift, dueSlots = shift, slots
	return oldShift, oldSlots
}
