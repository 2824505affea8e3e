//go:build !linux

package fastpath

// SteerReceive fails: receive packet steering is Linux's.
func SteerReceive(ifname string, cpus []int) error { return ErrUnavailable }
