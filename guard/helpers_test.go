package guard_test

import (
	"net/netip"
	"testing"

	"github.com/snoopswitch/snoopswitch/guard"
	"github.com/snoopswitch/snoopswitch/snoop"
)

var (
	a  = netip.MustParseAddr
	pf = netip.MustParsePrefix
)

// ok is a well-formed message of type t as a conforming host or router sends
// it: TTL 1, Router Alert, a link-local source for MLD, the right destination.
func ok(t snoop.MessageType) snoop.Message {
	m := snoop.Message{Type: t, Family: 4, TTL: 1, RouterAlert: true, Src: a("192.0.2.10")}
	switch t {
	case snoop.MsgIGMPQuery:
		m.Dst = a("224.0.0.1")
		m.Query = snoop.Query{Version: 3, Group: netip.IPv4Unspecified()}
	case snoop.MsgIGMPv1Report, snoop.MsgIGMPv2Report:
		m.Group, m.Dst = a("225.1.1.1"), a("225.1.1.1")
	case snoop.MsgIGMPv2Leave:
		m.Group, m.Dst = a("225.1.1.1"), a("224.0.0.2")
	case snoop.MsgIGMPv3Report:
		m.Dst = a("224.0.0.22")
		m.Records = []snoop.Record{{Type: snoop.ChangeToExclude, Group: a("225.1.1.1")}}
	case snoop.MsgPIMHello:
		m.Dst = a("224.0.0.13")
		m.RouterAlert = false
	case snoop.MsgMRDAdvertisement, snoop.MsgMRDTermination:
		m.Dst = a("224.0.0.106")
	case snoop.MsgMRDSolicitation:
		m.Dst = a("224.0.0.2")
	case snoop.MsgMLDQuery:
		m.Family, m.Src, m.Dst = 6, a("fe80::1"), a("ff02::1")
		m.Query = snoop.Query{Version: 2, Group: netip.IPv6Unspecified()}
	case snoop.MsgMLDv1Report:
		m.Family, m.Src, m.Group, m.Dst = 6, a("fe80::10"), a("ff05::1:3"), a("ff05::1:3")
	case snoop.MsgMLDv1Done:
		m.Family, m.Src, m.Group, m.Dst = 6, a("fe80::10"), a("ff05::1:3"), a("ff02::2")
	case snoop.MsgMLDv2Report:
		m.Family, m.Src, m.Dst = 6, a("fe80::10"), a("ff02::16")
		m.Records = []snoop.Record{{Type: snoop.ChangeToExclude, Group: a("ff05::1:3")}}
	}
	return m
}

func with(m snoop.Message, f func(*snoop.Message)) snoop.Message {
	f(&m)
	return m
}

func newGuard(t testing.TB, ps ...guard.PortPolicy) *guard.Guard {
	t.Helper()
	g, err := guard.New(ps)
	if err != nil {
		t.Fatal(err)
	}
	return g
}
