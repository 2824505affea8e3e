package switching

import (
	"context"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// WatchLinks follows the link state of the engine's ports through a netlink
// subscription until ctx is done: a port whose link goes down stops being
// flooded to and forgets its learned addresses; when the link comes back it
// forwards again. It subscribes in the calling thread's network namespace
// (the ports' one) and returns; the updates are applied in the background.
func WatchLinks(ctx context.Context, e *Engine) error {
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	if err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
		ListExisting: true,
		ErrorCallback: func(err error) {
			e.logger.Warn("link subscription", "err", err)
		},
	}); err != nil {
		close(done)
		return fmt.Errorf("switching: subscribe to link events: %w", err)
	}
	go func() {
		<-ctx.Done()
		close(done)
	}()
	go func() {
		for u := range updates {
			if id, ok := e.PortID(u.Attrs().Name); ok {
				e.SetPortUp(id, linkUp(u))
			}
		}
	}()
	return nil
}

func linkUp(u netlink.LinkUpdate) bool {
	if u.Header.Type == unix.RTM_DELLINK {
		return false
	}
	return u.IfInfomsg.Flags&unix.IFF_UP != 0 && u.IfInfomsg.Flags&unix.IFF_RUNNING != 0
}
