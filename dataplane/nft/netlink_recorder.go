package nft

import (
	"errors"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// How a Run reaches the kernel.
//
// The library encodes every message (google/nftables v0.3.0 Conn methods),
// but its Flush is not used to send them: it cannot say which message the
// kernel rejected, it asks for an acknowledgement and an echo of every
// message (tens of thousands of replies for a big transaction, which
// overflow the socket's receive buffer: ENOBUFS), and v0.3.0 neither sizes
// the socket buffers nor splits large element lists. Instead a recorder
// Conn, whose "socket" only records what Flush would send, collects the
// messages of each operation; Run then sends them all in one
// NFNL_MSG_BATCH_BEGIN..END batch, which the kernel applies as one
// transaction, on the Netlink's own socket:
//
//   - only the last message asks for an acknowledgement and none asks for
//     an echo; the kernel reports every failing message regardless, and it
//     reports all of a batch's results, in message order, before returning
//     from sendmsg. So the replies are the errors followed by one
//     acknowledgement, and a sequence number maps each error to its
//     operation;
//   - the send buffer is raised (SO_SNDBUFFORCE) to hold the whole batch,
//     which must go out in one sendmsg; the receive buffer is raised to hold
//     an error for every message.

// recorder builds netlink messages with the library without sending them.
// Not safe for concurrent use.
type recorder struct {
	conn     *nftables.Conn
	captured []netlink.Message
	raw      []netlink.Message // built by hand, see queueRaw
}

// ackMsg is what the recorder's fake socket answers to each of Flush's
// reads: a successful acknowledgement.
var ackMsg = netlink.Message{Header: netlink.Header{Type: netlink.Error}, Data: make([]byte, 4)}

func newRecorder() (*recorder, error) {
	r := &recorder{}
	conn, err := nftables.New(nftables.AsLasting(), nftables.WithTestDial(func(req []netlink.Message) ([]netlink.Message, error) {
		if req == nil { // Flush reading an acknowledgement
			return []netlink.Message{ackMsg}, nil
		}
		r.captured = append(r.captured, req...)
		return nil, nil
	}))
	if err != nil {
		return nil, err
	}
	r.conn = conn
	return r, nil
}

// queueRaw queues a message built without the library; take returns it
// after the library's messages.
func (r *recorder) queueRaw(m netlink.Message) { r.raw = append(r.raw, m) }

// take returns the messages queued on r.conn since the last take, without
// the batch begin and end the library wraps them in, then those queued
// with queueRaw.
func (r *recorder) take() ([]netlink.Message, error) {
	raw := r.raw
	r.captured, r.raw = nil, nil
	if err := r.conn.Flush(); err != nil {
		return nil, err
	}
	msgs := r.captured
	r.captured = nil
	if len(msgs) < 2 || msgs[0].Header.Type != netlink.HeaderType(unix.NFNL_MSG_BATCH_BEGIN) ||
		msgs[len(msgs)-1].Header.Type != netlink.HeaderType(unix.NFNL_MSG_BATCH_END) {
		if len(msgs) == 0 {
			return raw, nil
		}
		return nil, errors.New("unexpected message framing from the nftables library")
	}
	return append(msgs[1:len(msgs)-1:len(msgs)-1], raw...), nil
}
