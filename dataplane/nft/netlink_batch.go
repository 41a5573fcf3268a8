package nft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"syscall"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// batchMsg is a message of a batch and the index of the operation it
// belongs to.
type batchMsg struct {
	msg netlink.Message
	op  int
}

// batchResult is what the kernel said about a batch.
type batchResult struct {
	failed   bool
	errIndex int           // index into the batch's messages of the first error, or -1
	errno    syscall.Errno // that error's errno (0 if none was received)
	extack   string        // that error's extended acknowledgement message
	overrun  bool          // some replies were lost (ENOBUFS); the batch failed
}

const (
	nlmsgHdrLen = 16
	// genmsgLen is struct nfgenmsg.
	genmsgLen = 4
	// minRcvBuf is the receive buffer Netlink always asks for.
	minRcvBuf = 1 << 20
	// maxRcvBuf caps the receive buffer sized for a batch's worst case.
	maxRcvBuf = 64 << 20
	// perReplyOverhead approximates a reply's memory cost (skb truesize
	// beyond its data), for sizing the receive buffer.
	perReplyOverhead = 1024
)

func nlmsgAlign(n int) int { return (n + 3) &^ 3 }

// sendBatch sends msgs as one batch and collects the kernel's verdict. The
// caller holds n.mu and has set the socket's deadline, which bounds waiting
// for replies (the kernel has queued them all by the time sendmsg returns,
// so normally there is no wait).
func (n *Netlink) sendBatch(msgs []batchMsg) (batchResult, error) {
	res := batchResult{errIndex: -1}
	rc, err := n.sock.SyscallConn()
	if err != nil {
		return res, err
	}
	size, worst := 2*(nlmsgHdrLen+genmsgLen), minRcvBuf
	for _, m := range msgs {
		l := nlmsgAlign(nlmsgHdrLen + len(m.msg.Data))
		size += l
		worst += l + perReplyOverhead
	}
	worst = min(worst, maxRcvBuf)
	// The socket's Set*Buffer use SO_SNDBUFFORCE/SO_RCVBUFFORCE (allowed
	// with CAP_NET_ADMIN, which writing nftables needs anyway), so the
	// administrator's wmem_max/rmem_max do not cap them, and fall back to
	// the plain options. The kernel doubles the value given; the result is
	// a limit, not an allocation.
	if want := size + 64<<10; want > n.sndbuf {
		if err := n.sock.SetWriteBuffer(want/2 + 4096); err != nil {
			return res, fmt.Errorf("raising the netlink send buffer to %d bytes: %w", want, err)
		}
		n.sndbuf = want
	}
	if worst > n.rcvbuf {
		if err := n.sock.SetReadBuffer(worst/2 + 4096); err != nil {
			return res, fmt.Errorf("raising the netlink receive buffer to %d bytes: %w", worst, err)
		}
		n.rcvbuf = worst
	}
	out := make([]netlink.Message, 0, len(msgs)+2)
	if n.seq > 1<<31 {
		n.seq = 0 // keep first..last free of wraparound
	}
	n.seq++
	first := n.seq
	out = append(out, netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_BEGIN), Flags: netlink.Request, Sequence: first},
		Data:   genmsg(unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES),
	})
	for i, m := range msgs {
		h := m.msg.Header
		h.Length, h.PID = 0, 0
		h.Flags &^= netlink.Acknowledge | netlink.Echo
		if i == len(msgs)-1 {
			h.Flags |= netlink.Acknowledge
		}
		n.seq++
		h.Sequence = n.seq
		out = append(out, netlink.Message{Header: h, Data: m.msg.Data})
	}
	last := n.seq
	n.seq++
	out = append(out, netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_END), Flags: netlink.Request, Sequence: n.seq},
		Data:   genmsg(unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES),
	})
	if err := n.sendAll(out); err != nil {
		return res, fmt.Errorf("sending a batch of %d messages (%d bytes): %w", len(out), size, err)
	}

	// The kernel has processed the batch by now; read its replies.
	for {
		replies, err := recvMsgs(rc, n.peekBuf(), !res.overrun)
		if errors.Is(err, unix.ENOBUFS) {
			// Replies were dropped, so there were many errors: the batch
			// failed. Take what is left without waiting for the final
			// acknowledgement, which may be among the lost.
			res.failed, res.overrun = true, true
			continue
		}
		if err != nil {
			if res.overrun && errors.Is(err, unix.EAGAIN) {
				return res, nil
			}
			return res, fmt.Errorf("reading the kernel's replies to a batch: %w", err)
		}
		for _, r := range replies {
			seq := r.Header.Seq
			if seq < first || seq > last || r.Header.Type != unix.NLMSG_ERROR || len(r.Data) < 4 {
				continue // not ours
			}
			errno := int32(binary.NativeEndian.Uint32(r.Data[:4]))
			if errno != 0 {
				res.failed = true
				if idx := int(seq-first) - 1; res.errIndex == -1 || (idx >= 0 && idx < res.errIndex) {
					res.errIndex, res.errno, res.extack = idx, syscall.Errno(-errno), extackMsg(r)
				}
			}
			if seq == last || seq == first {
				return res, nil
			}
		}
	}
}

// genmsg returns a struct nfgenmsg.
func genmsg(family uint8, resID uint16) []byte {
	b := []byte{family, unix.NFNETLINK_V0, 0, 0}
	binary.BigEndian.PutUint16(b[2:], resID)
	return b
}

// sendAll sends msgs in one sendmsg. Large message payloads (set
// elements, up to ~60 KB each) are passed to the kernel in place, as
// iovecs, and the small messages around them are marshalled together, so a
// 17 MB cold-start batch is not copied into a second 17 MB buffer. When
// that needs more iovecs than the kernel takes (IOV_MAX), everything is
// marshalled into one buffer instead.
func (n *Netlink) sendAll(msgs []netlink.Message) error {
	const inPlace = 4 << 10 // payloads at least this large are not copied
	var iov [][]byte
	var cur []byte
	for _, m := range msgs {
		l := nlmsgHdrLen + len(m.Data)
		cur = appendHeader(cur, m, l)
		if len(m.Data) >= inPlace && len(m.Data)%4 == 0 {
			iov = append(iov, cur, m.Data)
			cur = nil
			continue
		}
		cur = append(cur, m.Data...)
		for pad := nlmsgAlign(l) - l; pad > 0; pad-- {
			cur = append(cur, 0)
		}
	}
	if len(cur) > 0 {
		iov = append(iov, cur)
	}
	if len(iov) > maxIovecs {
		iov = [][]byte{slices.Concat(iov...)}
	}
	rc, err := n.sock.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	werr := rc.Write(func(fd uintptr) bool {
		_, serr = unix.SendmsgBuffers(int(fd), iov, nil, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}, 0)
		return serr != unix.EAGAIN
	})
	if werr != nil {
		return werr
	}
	return serr
}

// maxIovecs stays below the kernel's UIO_MAXIOV (1024).
const maxIovecs = 1000

// appendHeader appends the netlink header of m, whose length with header is
// l.
func appendHeader(b []byte, m netlink.Message, l int) []byte {
	b = binary.NativeEndian.AppendUint32(b, uint32(l))
	b = binary.NativeEndian.AppendUint16(b, uint16(m.Header.Type))
	b = binary.NativeEndian.AppendUint16(b, uint16(m.Header.Flags))
	b = binary.NativeEndian.AppendUint32(b, m.Header.Sequence)
	return binary.NativeEndian.AppendUint32(b, m.Header.PID)
}
