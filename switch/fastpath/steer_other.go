//go:build !linux

package fastpath

// SteerReceive fails: receive packet steering is Linux's.
func SteerReceive(ifname string, cpus []int) (restore func() error, err error) {
	return nil, ErrUnavailable
}
