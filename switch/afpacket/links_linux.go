package afpacket

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/snoopswitch/snoopswitch/fdb"
	switching "github.com/snoopswitch/snoopswitch/switch"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// WatchLinks follows the engine's ports through a netlink subscription
// until ctx is done: a port whose link goes down stops being flooded to and
// forgets its learned addresses and memberships; when the link comes back
// it forwards again and its hosts are queried. A ring port whose interface
// is deleted and created again under the same name is re-attached: a new
// Port, with the old one's settings, takes its place under the same
// PortID. It subscribes in the calling thread's network namespace (the
// ports' one), where it also opens re-attached ports, and returns; the
// updates are applied in the background.
func WatchLinks(ctx context.Context, e *switching.Engine) error {
	return LinkWatch{}.Run(ctx, e)
}

// LinkWatch is WatchLinks with a hook for what else follows a port's
// interface: the kernel fast path attaches its tc program to the new
// interface of a re-attached port.
type LinkWatch struct {
	// Reattached, if set, is called with every port re-attached, once the
	// engine has it in place of the old one (under the same PortID), from
	// the goroutine that applies the updates, on a thread in the ports'
	// network namespace (where the port's ifindex means its interface).
	Reattached func(id fdb.PortID, p *Port)
}

// Run is WatchLinks, calling w's hooks.
func (w LinkWatch) Run(ctx context.Context, e *switching.Engine) error {
	ns, err := netns.Get()
	if err != nil {
		return fmt.Errorf("afpacket: the ports' network namespace: %w", err)
	}
	updates, err := subscribeLinks(ctx, e, ns)
	if err != nil {
		ns.Close()
		return err
	}
	go func() {
		defer ns.Close()
		deleted := make(map[fdb.PortID]bool)
		for {
			for u := range updates {
				w.apply(e, ns, deleted, u)
			}
			// The subscription ends on a receive error: ENOBUFS when link
			// events came faster than they were read (the kernel dropped
			// some), or any other. The ports' links are then in an unknown
			// state, so subscribe again, listing every link afresh, until
			// the switch stops.
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(resubscribeDelay):
				}
				updates, err = subscribeLinks(ctx, e, ns)
				if err == nil {
					e.Logger().Info("link subscription renewed")
					break
				}
				e.Logger().Warn("link subscription", "err", err)
			}
		}
	}()
	return nil
}

// resubscribeDelay is how long WatchLinks waits before it subscribes again
// after its subscription ended.
const resubscribeDelay = 100 * time.Millisecond

// linkEventBuffer is the subscription socket's receive buffer: room for the
// burst of events a few hundred links coming and going at once make (the
// kernel's default drops them with ENOBUFS).
const linkEventBuffer = 1 << 20

// subscribeLinks subscribes to the link events of namespace ns, listing the
// links there first. The channel closes when ctx is done or the
// subscription fails; an error before ctx is done is logged.
func subscribeLinks(ctx context.Context, e *switching.Engine, ns netns.NsHandle) (<-chan netlink.LinkUpdate, error) {
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	if err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
		Namespace:         &ns,
		ListExisting:      true,
		ReceiveBufferSize: linkEventBuffer,
		ErrorCallback: func(err error) {
			if ctx.Err() == nil {
				e.Logger().Warn("link subscription", "err", err)
			}
		},
	}); err != nil {
		close(done)
		return nil, fmt.Errorf("afpacket: subscribe to link events: %w", err)
	}
	go func() {
		<-ctx.Done()
		close(done)
	}()
	return updates, nil
}

// apply follows one link event: a port whose link went goes down, one that
// came back under a new ifindex is re-attached.
func (w LinkWatch) apply(e *switching.Engine, ns netns.NsHandle, deleted map[fdb.PortID]bool, u netlink.LinkUpdate) {
	id, ok := e.PortID(u.Attrs().Name)
	if !ok {
		return
	}
	if u.Header.Type == unix.RTM_DELLINK {
		deleted[id] = true
		e.SetPortUp(id, false)
		return
	}
	old, ok := e.Backend(id).(*Port)
	if ok && (deleted[id] || old.ifindex != int(u.Attrs().Index)) {
		if err := reattach(e, ns, id, old, w.Reattached); err != nil {
			e.Logger().Warn("port not re-attached", "port", old.Name(), "err", err)
			return
		}
		delete(deleted, id)
	}
	e.SetPortUp(id, linkUp(u))
}

// reattach opens a new ring port, in namespace ns, for the interface that
// now has old's name, gives it to port id, and calls hook (if not nil)
// with it there.
func reattach(e *switching.Engine, ns netns.NsHandle, id fdb.PortID, old *Port, hook func(fdb.PortID, *Port)) error {
	return inNamespace(ns, func() error {
		p, err := Open(old.Name(), old.cfg)
		if err != nil {
			return err
		}
		if err := e.ReplaceBackend(id, p); err != nil {
			p.Close()
			return err
		}
		e.Logger().Info("port re-attached", "port", p.Name(), "ifindex", p.ifindex)
		if hook != nil {
			hook(id, p)
		}
		return nil
	})
}

// inNamespace runs fn on a thread in network namespace ns.
func inNamespace(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		return err
	}
	defer netns.Set(orig)
	return fn()
}

func linkUp(u netlink.LinkUpdate) bool {
	if u.Header.Type == unix.RTM_DELLINK {
		return false
	}
	return u.IfInfomsg.Flags&unix.IFF_UP != 0 && u.IfInfomsg.Flags&unix.IFF_RUNNING != 0
}
