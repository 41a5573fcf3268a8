package nft

// Verb is a kernel operation on the table.
type Verb uint8

// The verbs, named after nft's.
const (
	AddTable Verb = iota
	DeleteTable
	AddChain
	FlushChain
	DeleteChain
	AddRule
	DeleteRule
	AddSet
	DeleteSet
	AddElements
	DeleteElements
)

var verbNames = [...]string{"add table", "delete table", "add chain", "flush chain", "delete chain",
	"add rule", "delete rule", "add set", "delete set", "add element", "delete element"}

func (v Verb) String() string { return verbNames[v] }

// Op is one queued operation. Which fields are used depends on Verb.
type Op struct {
	Verb     Verb
	Chain    *Chain     // AddChain (Name, Base; Rules ignored)
	Name     string     // chain or set name for the other verbs
	Rule     *Rule      // AddRule
	Handle   uint64     // DeleteRule
	Set      *Set       // AddSet
	Elements []Interval // AddElements, DeleteElements on address sets
	Tuples   []AddrPort // AddElements, DeleteElements on address-protocol-port sets
}

// Transaction is an ordered list of operations applied atomically by
// Writer.Run. Queuing never fails; errors surface from Run.
type Transaction struct {
	Ops []Op
}

// Len returns the number of queued operations.
func (t *Transaction) Len() int { return len(t.Ops) }

// AddTable creates the table if it does not exist.
func (t *Transaction) AddTable() { t.Ops = append(t.Ops, Op{Verb: AddTable}) }

// DeleteTable deletes the table and everything in it.
func (t *Transaction) DeleteTable() { t.Ops = append(t.Ops, Op{Verb: DeleteTable}) }

// AddChain creates chain c (its name and base-chain properties) if it does
// not exist; c.Rules is ignored.
func (t *Transaction) AddChain(c Chain) {
	c.Rules = nil
	t.Ops = append(t.Ops, Op{Verb: AddChain, Chain: &c, Name: c.Name})
}

// FlushChain deletes every rule of the chain.
func (t *Transaction) FlushChain(name string) {
	t.Ops = append(t.Ops, Op{Verb: FlushChain, Name: name})
}

// DeleteChain deletes an empty, unreferenced chain.
func (t *Transaction) DeleteChain(name string) {
	t.Ops = append(t.Ops, Op{Verb: DeleteChain, Name: name})
}

// AddRule appends r to the chain.
func (t *Transaction) AddRule(chain string, r Rule) {
	t.Ops = append(t.Ops, Op{Verb: AddRule, Name: chain, Rule: &r})
}

// DeleteRule deletes the rule with handle h from the chain.
func (t *Transaction) DeleteRule(chain string, h uint64) {
	t.Ops = append(t.Ops, Op{Verb: DeleteRule, Name: chain, Handle: h})
}

// AddSet creates set s (empty) if it does not exist.
func (t *Transaction) AddSet(s Set) { t.Ops = append(t.Ops, Op{Verb: AddSet, Set: &s, Name: s.Name}) }

// DeleteSet deletes an unreferenced set.
func (t *Transaction) DeleteSet(name string) {
	t.Ops = append(t.Ops, Op{Verb: DeleteSet, Name: name})
}

// AddElements adds intervals to the set. They must not overlap each other
// or elements already in the set.
func (t *Transaction) AddElements(set string, ivs []Interval) {
	if len(ivs) > 0 {
		t.Ops = append(t.Ops, Op{Verb: AddElements, Name: set, Elements: ivs})
	}
}

// AddTuples adds elements to an address-protocol-port set. Adding one that
// is already present is an error.
func (t *Transaction) AddTuples(set string, els []AddrPort) {
	if len(els) > 0 {
		t.Ops = append(t.Ops, Op{Verb: AddElements, Name: set, Tuples: els})
	}
}

// DeleteTuples removes elements from an address-protocol-port set.
func (t *Transaction) DeleteTuples(set string, els []AddrPort) {
	if len(els) > 0 {
		t.Ops = append(t.Ops, Op{Verb: DeleteElements, Name: set, Tuples: els})
	}
}

// DeleteElements removes intervals, each exactly as it was added.
func (t *Transaction) DeleteElements(set string, ivs []Interval) {
	if len(ivs) > 0 {
		t.Ops = append(t.Ops, Op{Verb: DeleteElements, Name: set, Elements: ivs})
	}
}
