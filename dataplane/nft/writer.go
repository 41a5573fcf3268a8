package nft

import "context"

// Writer applies transactions to untrackd's table and reads it back.
//
// Implementations are not safe for concurrent use; untrackd calls them from
// its one apply goroutine.
type Writer interface {
	// List returns the current state of the table, or (nil, nil) if the
	// table does not exist.
	List(ctx context.Context) (*TableState, error)
	// Run applies tx atomically: when it returns an error, nothing of tx
	// took effect. An empty transaction is a no-op.
	Run(ctx context.Context, tx *Transaction) error
}

// HookInspector is implemented by writers that can describe other tables'
// base chains, so untrackd can warn about tables that would drop traffic
// untrackd allowed untracked.
type HookInspector interface {
	ForeignBaseChains(ctx context.Context) ([]ForeignChain, error)
}

// ForeignChain is a base chain in a table that is not untrackd's.
type ForeignChain struct {
	Family, Table, Chain string
	Hook                 Hook
	Priority             int32
	Policy               ChainPolicy
}

// TableState is what List read back from the kernel.
type TableState struct {
	Chains map[string]*ChainState
	Sets   map[string]*SetState
}

// ChainState is a chain as found in the kernel.
type ChainState struct {
	Name  string
	Base  *BaseChain
	Rules []RuleState
}

// RuleState identifies a rule found in the kernel: its handle, and the hash
// from its comment ("" for a rule untrackd did not write).
type RuleState struct {
	Handle uint64
	Hash   string
}

// Hashes returns the hashes of the chain's rules in order.
func (c *ChainState) Hashes() []string {
	h := make([]string, len(c.Rules))
	for i, r := range c.Rules {
		h[i] = r.Hash
	}
	return h
}

// SetState is a set and its elements as found in the kernel: Elements
// (sorted by first address) for address sets, Tuples (sorted by
// AddrPort.Compare) for address-protocol-port sets.
type SetState struct {
	Set
	Elements []Interval
	Tuples   []AddrPort
}
