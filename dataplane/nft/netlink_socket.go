package nft

import (
	"encoding/binary"
	"errors"
	"syscall"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// drain discards whatever is queued on the socket.
func drain(rc syscall.RawConn, peek []byte) error {
	for {
		_, err := recvMsgs(rc, peek, false)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return nil
		case errors.Is(err, unix.ENOBUFS):
			continue
		case err != nil:
			return err
		}
	}
}

// dumpBufSize is the size of the buffer recvMsgs offers the kernel. The
// kernel sizes the messages of a netlink dump by the largest buffer the
// socket has ever read with (capped at 32 KiB; nlk->max_recvmsg_len). The
// library's reads start at 4 KiB and only grow when a message does not fit,
// so its dumps come in 4 KiB messages; and each message of a set element
// dump makes the kernel walk the set from the start, skipping what it has
// sent. With 4 KiB messages a 100,000-interval set took 2.4 s to list,
// with 32 KiB ones 0.3 s. One read with a large buffer (see
// Netlink.prepare) fixes the socket's dumps for good.
const dumpBufSize = 64 << 10

// peekBuf returns the buffer recvMsgs peeks into (its content is not
// used).
func (n *Netlink) peekBuf() []byte {
	if n.peek == nil {
		n.peek = make([]byte, dumpBufSize)
	}
	return n.peek
}

// prepare readies the socket for an exchange; every method calls it first,
// holding n.mu with the socket's deadline set. It discards replies left over
// from an earlier, interrupted exchange (the library would take them for
// answers to its next request: after an ENOBUFS, its lasting socket returns
// garbage), and once per socket it makes the kernel send dumps in large
// messages (see dumpBufSize) by reading one reply, to a generation ID
// request, with a large buffer.
func (n *Netlink) prepare() error {
	rc, err := n.sock.SyscallConn()
	if err != nil {
		return err
	}
	if err := drain(rc, n.peekBuf()); err != nil {
		return err
	}
	if n.widened {
		return nil
	}
	if _, err := n.generationOn(rc); err != nil {
		return err
	}
	n.widened = true
	return nil
}

// generation returns the kernel's ruleset generation ID, which every commit
// of any process, to any table, increments. The caller holds n.mu and has
// called prepare.
func (n *Netlink) generation() (uint32, error) {
	rc, err := n.sock.SyscallConn()
	if err != nil {
		return 0, err
	}
	return n.generationOn(rc)
}

func (n *Netlink) generationOn(rc syscall.RawConn) (uint32, error) {
	n.seq++
	seq := n.seq
	if _, err := n.sock.Send(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN), Flags: netlink.Request, Sequence: seq},
		Data:   genmsg(unix.AF_UNSPEC, 0),
	}); err != nil {
		return 0, err
	}
	for {
		msgs, err := recvMsgs(rc, n.peekBuf(), true)
		if err != nil {
			return 0, err
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			if m.Header.Type == unix.NLMSG_ERROR && len(m.Data) >= 4 {
				if errno := int32(binary.NativeEndian.Uint32(m.Data[:4])); errno != 0 {
					return 0, syscall.Errno(-errno)
				}
				continue
			}
			return genID(m.Data), nil
		}
	}
}

// genID extracts NFTA_GEN_ID from a NEWGEN message's payload (0 if absent).
func genID(data []byte) uint32 {
	if len(data) < 4 {
		return 0
	}
	ad, err := netlink.NewAttributeDecoder(data[4:])
	if err != nil {
		return 0
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		if ad.Type() == unix.NFTA_GEN_ID {
			return ad.Uint32()
		}
	}
	return 0
}

// recvMsgs reads one datagram. If block, it waits (up to the read deadline)
// for one; otherwise it returns EAGAIN when none is queued.
func recvMsgs(rc syscall.RawConn, peek []byte, block bool) ([]syscall.NetlinkMessage, error) {
	var (
		buf  []byte
		n    int
		rerr error
	)
	read := func(fd uintptr) bool {
		for {
			// MSG_TRUNC makes the kernel return the datagram's real size.
			// The large peek buffer is deliberate: see dumpBufSize.
			size, _, err := unix.Recvfrom(int(fd), peek, unix.MSG_PEEK|unix.MSG_TRUNC|unix.MSG_DONTWAIT)
			if err == unix.EINTR {
				continue
			}
			if err == unix.EAGAIN && block {
				return false // wait for readability
			}
			if err != nil {
				rerr = err
				return true
			}
			buf = make([]byte, nlmsgAlign(max(size, nlmsgHdrLen)))
			n, _, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
			if rerr == unix.EINTR {
				continue
			}
			return true
		}
	}
	var err error
	if block {
		err = rc.Read(read)
	} else {
		err = rc.Control(func(fd uintptr) { read(fd) })
	}
	if err != nil {
		return nil, err
	}
	if rerr != nil {
		return nil, rerr
	}
	return syscall.ParseNetlinkMessage(buf[:nlmsgAlign(n)])
}

// extackMsg returns the extended acknowledgement's message text, if any.
func extackMsg(m syscall.NetlinkMessage) string {
	if m.Header.Flags&unix.NLM_F_ACK_TLVS == 0 || len(m.Data) < 4+nlmsgHdrLen {
		return ""
	}
	off := 4 + nlmsgHdrLen
	if m.Header.Flags&unix.NLM_F_CAPPED == 0 {
		off = 4 + nlmsgAlign(int(binary.NativeEndian.Uint32(m.Data[4:8])))
	}
	if off > len(m.Data) {
		return ""
	}
	ad, err := netlink.NewAttributeDecoder(m.Data[off:])
	if err != nil {
		return ""
	}
	for ad.Next() {
		if ad.Type() == unix.NLMSGERR_ATTR_MSG {
			return ad.String()
		}
	}
	return ""
}
