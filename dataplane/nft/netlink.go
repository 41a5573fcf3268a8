package nft

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Netlink is the Writer that programs the kernel, through
// github.com/google/nftables over one lasting netlink socket.
//
// Run sends a whole Transaction as one netlink batch, which the kernel
// applies as one transaction: all of it or, if it rejects any operation,
// none of it. List and ForeignBaseChains read with netlink dumps.
//
// Methods are serialized by a mutex, so a Netlink may be shared, but
// untrackd uses it from its one apply goroutine. Call Close when done.
type Netlink struct {
	mu      sync.Mutex
	conn    *nftables.Conn // lasting: all calls share sock
	sock    *netlink.Conn  // conn's socket, also used directly for batches
	table   *nftables.Table
	timeout time.Duration
	closed  bool
	seq     uint32 // sequence numbers of batch messages
	sndbuf  int    // socket buffer sizes requested so far
	rcvbuf  int
	peek    []byte // see peekBuf
	widened bool   // see prepare
	// pre caches the table's chains and sets for preflight, as of the
	// ruleset generation preGen (nil: not cached).
	pre    *preflightState
	preGen uint32
	// The ruleset generation ID as last seen, and whether another
	// process has committed since OthersCommitted last reported (see
	// netlink_generation.go).
	gen      uint32
	genKnown bool
	others   bool
}

var (
	_ Writer        = (*Netlink)(nil)
	_ HookInspector = (*Netlink)(nil)
)

// bigTransaction is the number of set elements from which Run collects
// garbage before encoding a transaction.
const bigTransaction = 100_000

// txElements counts the set elements a transaction adds or deletes.
func txElements(tx *Transaction) int {
	n := 0
	for _, op := range tx.Ops {
		n += len(op.Elements) + len(op.Tuples)
	}
	return n
}

// errClosed is returned by a Netlink's methods after Close.
var errClosed = errors.New("nft: netlink writer is closed")

// NetlinkOption configures NewNetlink.
type NetlinkOption func(*netlinkConfig)

type netlinkConfig struct {
	netns   int // -1: the caller's namespace
	timeout time.Duration
}

// WithNetNS makes the Netlink work in the network namespace the file
// descriptor fd refers to (for example /run/netns/<name>) instead of the
// calling thread's. The fd is only used by NewNetlink, to open the socket
// (which stays in that namespace); the caller may close it afterwards.
func WithNetNS(fd int) NetlinkOption {
	return func(c *netlinkConfig) { c.netns = fd }
}

// WithTimeout bounds each call that has no context deadline (default one
// minute). Kernel work inside a batch is not interrupted; the bound applies
// to waiting for replies.
func WithTimeout(d time.Duration) NetlinkOption {
	return func(c *netlinkConfig) { c.timeout = d }
}

// NewNetlink opens a netlink socket to nftables. It fails if the socket
// cannot be opened; it does not check privileges (the first Run or List
// reports EPERM then).
func NewNetlink(opts ...NetlinkOption) (*Netlink, error) {
	cfg := netlinkConfig{netns: -1, timeout: time.Minute}
	for _, o := range opts {
		o(&cfg)
	}
	n := &Netlink{
		table:   &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet},
		timeout: cfg.timeout,
	}
	copts := []nftables.ConnOption{
		nftables.AsLasting(),
		nftables.WithSockOptions(func(c *netlink.Conn) error {
			n.sock = c
			// Kernel error messages ("extended acks") in replies.
			_ = c.SetOption(netlink.ExtendedAcknowledge, true)
			return nil
		}),
	}
	if cfg.netns >= 0 {
		copts = append(copts, nftables.WithNetNSFd(cfg.netns))
	}
	conn, err := nftables.New(copts...)
	if err != nil {
		return nil, fmt.Errorf("nft: opening netlink socket: %w", err)
	}
	if n.sock == nil {
		_ = conn.CloseLasting()
		return nil, errors.New("nft: the nftables library did not open a lasting socket")
	}
	n.conn = conn
	return n, nil
}

// Close closes the socket. Further calls fail; Close is idempotent.
func (n *Netlink) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	return n.conn.CloseLasting()
}

// deadline returns the time by which a call with ctx must finish.
func (n *Netlink) deadline(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(n.timeout)
}

// Run implements Writer. It encodes every operation first (an operation
// that cannot be encoded, such as a rule whose port match has no protocol
// match before it, fails with an *OpError wrapping ErrInvalid and nothing
// is sent), checks what the kernel would accept against the contract (see
// preflight), then sends everything as one batch. If the kernel rejects any
// operation, nothing of tx takes effect and Run returns an *OpError for the
// first rejected operation, wrapping the matching package error (ErrNotFound
// for ENOENT, ErrExists, ErrBusy, ErrInvalid, ErrLoop) and the errno, so
// errors.Is works with both.
//
// The context is checked before sending; once sent, Run waits for the
// kernel's answer (bounded by the context deadline or the timeout). An
// error that is not an *OpError (a socket error, a timeout) leaves the
// outcome unknown: List to find out.
func (n *Netlink) Run(ctx context.Context, tx *Transaction) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return errClosed
	}
	if tx == nil || tx.Len() == 0 {
		return nil
	}
	if txElements(tx) >= bigTransaction {
		// A start-of-day transaction: collect the garbage that computing
		// it left (rendering, planning) before encoding it, so that its
		// buffers (tens of MB) reuse that memory instead of adding to the
		// process's peak.
		runtime.GC()
	}
	msgs, err := n.encode(tx)
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := n.sock.SetDeadline(n.deadline(ctx)); err != nil {
		return fmt.Errorf("nft: %w", err)
	}
	defer n.sock.SetDeadline(time.Time{})
	if err := n.prepare(); err != nil {
		return fmt.Errorf("nft: %w", err)
	}
	before, err := n.generation()
	if err != nil {
		return fmt.Errorf("nft: reading the ruleset generation: %w", err)
	}
	n.observe(before, 0)
	after, err := n.preflight(tx, before)
	if err != nil {
		return err
	}
	n.pre = nil // unknown until the batch's outcome is
	res, err := n.sendBatch(msgs)
	if err != nil {
		n.forgetGeneration()
		return fmt.Errorf("nft: %w", err)
	}
	if g, err := n.generation(); err != nil {
		n.forgetGeneration()
	} else if !res.failed {
		n.observe(g, 1)
		if g == before+1 { // nobody else committed in between
			n.pre, n.preGen = after, g
		}
	} else {
		n.observe(g, 0)
	}
	if !res.failed {
		return nil
	}
	kerr := errors.New("the kernel rejected the batch, but its error report was lost (receive buffer overrun)")
	if res.errno != 0 {
		kerr = mapErrno(res.errno, res.extack)
	}
	if res.overrun {
		kerr = fmt.Errorf("%w (further errors lost: receive buffer overrun)", kerr)
	}
	if res.errIndex < 0 {
		return fmt.Errorf("nft: batch rejected: %w", kerr)
	}
	i := msgs[res.errIndex].op
	return &OpError{Index: i, Op: tx.Ops[i], Err: kerr}
}

// mapErrno wraps the errno in the package's matching error value.
func mapErrno(errno syscall.Errno, extack string) error {
	var pkg error
	switch errno {
	case unix.ENOENT:
		pkg = ErrNotFound
	case unix.EEXIST:
		pkg = ErrExists
	case unix.EBUSY:
		pkg = ErrBusy
	case unix.ELOOP, unix.EMLINK: // the kernel reports a jump loop as EMLINK
		pkg = ErrLoop
	case unix.EINVAL, unix.EOPNOTSUPP, unix.ERANGE, unix.E2BIG, unix.ENAMETOOLONG, unix.EAFNOSUPPORT, unix.EMSGSIZE:
		pkg = ErrInvalid
	}
	detail := errno.Error()
	if extack != "" {
		detail += ": " + extack
	}
	if pkg == nil {
		return fmt.Errorf("kernel: %w", errno)
	}
	return fmt.Errorf("%w (kernel: %w)", pkg, errnoText{errno, detail})
}

// errnoText is an errno with a longer message; errors.Is matches the errno.
type errnoText struct {
	errno syscall.Errno
	text  string
}

func (e errnoText) Error() string { return e.text }
func (e errnoText) Unwrap() error { return e.errno }
