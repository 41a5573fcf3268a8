package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nftables message types and attributes (linux/netfilter/nf_tables.h).
const (
	nftMsgNewTable   = 0
	nftMsgNewChain   = 3
	nftMsgNewRule    = 6
	nftMsgDelRule    = 8
	nftMsgNewSetElem = 12
	nftMsgDelSetElem = 14
	nftMsgNewGen     = 15

	nftaTable         = 1 // NFTA_{RULE,SET_ELEM_LIST,CHAIN}_TABLE
	nftaRuleChain     = 2
	nftaChainName     = 3
	nftaSetElemSet    = 2
	nftaSetElemList   = 3
	nftaListElem      = 1
	nftaSetElemKey    = 1
	nftaDataValue     = 1
	nfnlGroupNftables = 7 // NFNLGRP_NFTABLES
)

// NftEvent is one nftables notification, as the kernel sends them after
// committing a transaction (the last of a transaction is a NewGen).
type NftEvent struct {
	At    time.Time
	Type  uint8 // nftMsg*
	Table string
	Chain string   // rules and chains
	Set   string   // set elements
	Keys  [][]byte // set elements' keys
}

// Kinds of NftEvent, for matching.
func (e NftEvent) IsNewRule() bool  { return e.Type == nftMsgNewRule }
func (e NftEvent) IsSetElem() bool  { return e.Type == nftMsgNewSetElem || e.Type == nftMsgDelSetElem }
func (e NftEvent) IsGen() bool      { return e.Type == nftMsgNewGen }
func (e NftEvent) IsNewTable() bool { return e.Type == nftMsgNewTable }

// NftMonitor receives a namespace's nftables notifications (what "nft
// monitor" shows) and hands them to a callback, on one goroutine. It costs
// the kernel one multicast copy per notification and the benchmark nothing
// while idle, unlike polling the ruleset.
type NftMonitor struct {
	conn    *netlink.Conn
	mu      sync.Mutex
	lost    int
	done    chan struct{}
	onEvent func(NftEvent)
}

// MonitorNft subscribes to ns's nftables notifications. rcvbuf sizes the
// socket's receive buffer (big transactions send one notification per
// object; what does not fit is lost, and counted).
func MonitorNft(ns *NS, rcvbuf int, onEvent func(NftEvent)) (*NftMonitor, error) {
	m := &NftMonitor{done: make(chan struct{}), onEvent: onEvent}
	err := ns.Do(func() (err error) {
		m.conn, err = netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{Groups: 1 << (nfnlGroupNftables - 1)})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("nftables monitor in %s: %w", ns.Name, err)
	}
	if err := m.conn.SetReadBuffer(rcvbuf); err != nil {
		_ = m.conn.Close()
		return nil, err
	}
	go m.loop()
	return m, nil
}

// Lost returns how many times notifications were lost (ENOBUFS).
func (m *NftMonitor) Lost() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lost
}

// Close stops the monitor and waits for its goroutine.
func (m *NftMonitor) Close() {
	_ = m.conn.Close()
	<-m.done
}

func (m *NftMonitor) loop() {
	defer close(m.done)
	for {
		msgs, err := m.conn.Receive()
		at := time.Now()
		if err != nil {
			if errors.Is(err, unix.ENOBUFS) {
				m.mu.Lock()
				m.lost++
				m.mu.Unlock()
				continue
			}
			return // closed
		}
		for _, msg := range msgs {
			if uint16(msg.Header.Type)>>8 != unix.NFNL_SUBSYS_NFTABLES || len(msg.Data) < 4 {
				continue
			}
			ev := NftEvent{At: at, Type: uint8(msg.Header.Type)}
			parseNftEvent(&ev, msg.Data[4:])
			m.onEvent(ev)
		}
	}
}

func parseNftEvent(ev *NftEvent, b []byte) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return
	}
	ad.ByteOrder = binary.BigEndian // nftables numbers are big-endian (unused here)
	for ad.Next() {
		switch {
		case ad.Type() == nftaTable && ev.Type != nftMsgNewGen:
			ev.Table = ad.String()
		case ev.Type == nftMsgNewRule || ev.Type == nftMsgDelRule:
			if ad.Type() == nftaRuleChain {
				ev.Chain = ad.String()
			}
		case ev.Type == nftMsgNewChain:
			if ad.Type() == nftaChainName {
				ev.Chain = ad.String()
			}
		case ev.Type == nftMsgNewSetElem || ev.Type == nftMsgDelSetElem:
			switch ad.Type() {
			case nftaSetElemSet:
				ev.Set = ad.String()
			case nftaSetElemList:
				ad.Nested(func(l *netlink.AttributeDecoder) error {
					for l.Next() {
						if l.Type() != nftaListElem {
							continue
						}
						l.Nested(func(e *netlink.AttributeDecoder) error {
							for e.Next() {
								if e.Type() != nftaSetElemKey {
									continue
								}
								e.Nested(func(k *netlink.AttributeDecoder) error {
									for k.Next() {
										if k.Type() == nftaDataValue {
											ev.Keys = append(ev.Keys, k.Bytes())
										}
									}
									return nil
								})
							}
							return nil
						})
					}
					return nil
				})
			}
		}
	}
}
