package nft

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// Fake is an in-memory Writer. It applies a transaction to a copy of its
// state and keeps the copy only if every operation succeeded, and it rejects
// what the kernel would: rules in missing chains, jumps to missing or base
// chains, references to missing sets, deleting chains or sets still in use
// or non-empty, overlapping or missing set elements.
//
// Fake is not safe for concurrent use.
type Fake struct {
	table *fakeTable // nil: no table
	// nextHandle is the next rule handle, shared by all chains as in the
	// kernel.
	nextHandle uint64
	// failNext, when set, makes the next Run fail with it and change nothing.
	failNext error
	// Transactions records every transaction Run accepted, in order.
	Transactions []*Transaction
}

var _ Writer = (*Fake)(nil)

type fakeRule struct {
	handle uint64
	rule   Rule
}

type fakeChain struct {
	name  string
	base  *BaseChain
	rules []fakeRule
}

type fakeSet struct {
	set      Set
	elements []Interval // address sets: sorted, non-overlapping
	tuples   []AddrPort // address-protocol-port sets: sorted, unique
}

type fakeTable struct {
	chains map[string]*fakeChain
	sets   map[string]*fakeSet
}

// NewFake returns a Fake with no table.
func NewFake() *Fake { return &Fake{nextHandle: 1} }

// FailNext makes the next Run fail with err (wrapping ErrInjected) without
// applying anything.
func (f *Fake) FailNext(err error) { f.failNext = err }

// LastTransaction returns the last transaction Run accepted, or nil.
func (f *Fake) LastTransaction() *Transaction {
	if len(f.Transactions) == 0 {
		return nil
	}
	return f.Transactions[len(f.Transactions)-1]
}

// List implements Writer.
func (f *Fake) List(context.Context) (*TableState, error) {
	if f.table == nil {
		return nil, nil
	}
	st := &TableState{Chains: map[string]*ChainState{}, Sets: map[string]*SetState{}}
	for name, c := range f.table.chains {
		cs := &ChainState{Name: name, Base: c.base}
		for _, r := range c.rules {
			cs.Rules = append(cs.Rules, RuleState{Handle: r.handle, Hash: HashFromComment(r.rule.StoredComment())})
		}
		st.Chains[name] = cs
	}
	for name, s := range f.table.sets {
		st.Sets[name] = &SetState{Set: s.set, Elements: append([]Interval(nil), s.elements...), Tuples: append([]AddrPort(nil), s.tuples...)}
	}
	return st, nil
}

// Run implements Writer.
func (f *Fake) Run(_ context.Context, tx *Transaction) error {
	if f.failNext != nil {
		err := f.failNext
		f.failNext = nil
		return fmt.Errorf("%w: %w", ErrInjected, err)
	}
	if tx.Len() == 0 {
		return nil
	}
	t := f.table.clone()
	handle := f.nextHandle
	for i, op := range tx.Ops {
		var err error
		t, err = t.apply(op, &handle)
		if err != nil {
			return &OpError{Index: i, Op: op, Err: err}
		}
	}
	f.table, f.nextHandle = t, handle
	f.Transactions = append(f.Transactions, tx)
	return nil
}

func (t *fakeTable) clone() *fakeTable {
	if t == nil {
		return nil
	}
	c := &fakeTable{chains: map[string]*fakeChain{}, sets: map[string]*fakeSet{}}
	for n, ch := range t.chains {
		cc := *ch
		cc.rules = append([]fakeRule(nil), ch.rules...)
		c.chains[n] = &cc
	}
	for n, s := range t.sets {
		cs := *s
		cs.elements = append([]Interval(nil), s.elements...)
		cs.tuples = append([]AddrPort(nil), s.tuples...)
		c.sets[n] = &cs
	}
	return c
}

// apply performs one operation on t (which it may replace) and returns the
// resulting table.
func (t *fakeTable) apply(op Op, handle *uint64) (*fakeTable, error) {
	switch op.Verb {
	case AddTable:
		if t == nil {
			t = &fakeTable{chains: map[string]*fakeChain{}, sets: map[string]*fakeSet{}}
		}
		return t, nil
	case DeleteTable:
		if t == nil {
			return nil, ErrNotFound
		}
		return nil, nil
	}
	if t == nil {
		return nil, fmt.Errorf("table: %w", ErrNotFound)
	}
	return t, t.applyInTable(op, handle)
}

func (t *fakeTable) applyInTable(op Op, handle *uint64) error {
	switch op.Verb {
	case AddChain:
		return t.addChain(op.Chain)
	case FlushChain:
		c, ok := t.chains[op.Name]
		if !ok {
			return ErrNotFound
		}
		c.rules = nil
	case DeleteChain:
		c, ok := t.chains[op.Name]
		switch {
		case !ok:
			return ErrNotFound
		case len(c.rules) > 0:
			return fmt.Errorf("chain has %d rules: %w", len(c.rules), ErrBusy)
		case t.chainReferenced(op.Name):
			return fmt.Errorf("chain is a jump target: %w", ErrBusy)
		}
		delete(t.chains, op.Name)
	case AddRule:
		c, ok := t.chains[op.Name]
		if !ok {
			return ErrNotFound
		}
		if err := t.checkRefs(op.Name, *op.Rule); err != nil {
			return err
		}
		c.rules = append(c.rules, fakeRule{handle: *handle, rule: *op.Rule})
		*handle++
	case DeleteRule:
		c, ok := t.chains[op.Name]
		if !ok {
			return ErrNotFound
		}
		for i, r := range c.rules {
			if r.handle == op.Handle {
				c.rules = append(c.rules[:i:i], c.rules[i+1:]...)
				return nil
			}
		}
		return fmt.Errorf("rule handle %d: %w", op.Handle, ErrNotFound)
	case AddSet:
		if s, ok := t.sets[op.Name]; ok {
			if s.set.Type != op.Set.Type || !slices.Equal(s.set.Ports, op.Set.Ports) {
				return fmt.Errorf("set exists with type %s: %w", s.set.Type, ErrExists)
			}
			return nil
		}
		if (op.Set.Type == SetPorts) != (len(op.Set.Ports) > 0) {
			return fmt.Errorf("set %s of type %s with %d ports: %w", op.Name, op.Set.Type, len(op.Set.Ports), ErrInvalid)
		}
		set := *op.Set
		set.Ports = slices.Clone(set.Ports)
		t.sets[op.Name] = &fakeSet{set: set}
	case DeleteSet:
		if _, ok := t.sets[op.Name]; !ok {
			return ErrNotFound
		}
		if t.setReferenced(op.Name) {
			return ErrBusy
		}
		delete(t.sets, op.Name)
	case AddElements:
		s, ok := t.sets[op.Name]
		if !ok {
			return ErrNotFound
		}
		if s.set.Type == SetPorts {
			return fmt.Errorf("elements added to constant set %s: %w", op.Name, ErrBusy)
		}
		if s.set.Type.IsAddrPort() != (len(op.Tuples) > 0) || len(op.Elements) > 0 && len(op.Tuples) > 0 {
			return fmt.Errorf("elements of the wrong kind for a %s set: %w", s.set.Type, ErrInvalid)
		}
		if len(op.Tuples) > 0 {
			return s.addTuples(op.Tuples)
		}
		return s.add(op.Elements)
	case DeleteElements:
		s, ok := t.sets[op.Name]
		if !ok {
			return ErrNotFound
		}
		if s.set.Type == SetPorts {
			return fmt.Errorf("elements deleted from constant set %s: %w", op.Name, ErrBusy)
		}
		if len(op.Tuples) > 0 {
			return s.removeTuples(op.Tuples)
		}
		return s.remove(op.Elements)
	default:
		return fmt.Errorf("verb %d: %w", op.Verb, ErrInvalid)
	}
	return nil
}

func (t *fakeTable) addChain(c *Chain) error {
	if c.Name == "" || len(c.Name) > 255 {
		return fmt.Errorf("chain name %q: %w", c.Name, ErrInvalid)
	}
	if old, ok := t.chains[c.Name]; ok {
		switch {
		case (old.base == nil) != (c.Base == nil):
			return fmt.Errorf("chain exists as another kind: %w", ErrExists)
		case old.base != nil && (old.base.Hook != c.Base.Hook || old.base.Priority != c.Base.Priority):
			return fmt.Errorf("base chain exists on another hook or priority: %w", ErrBusy)
		case old.base != nil:
			b := *c.Base
			old.base = &b // the policy may change
		}
		return nil
	}
	nc := &fakeChain{name: c.Name}
	if c.Base != nil {
		b := *c.Base
		nc.base = &b
	}
	t.chains[c.Name] = nc
	return nil
}

// checkRefs rejects rules CheckRule rejects, jumps to missing chains, to
// base chains and to the chain itself, and lookups in missing sets or sets of
// the wrong family.
func (t *fakeTable) checkRefs(chain string, r Rule) error {
	if err := CheckRule(r); err != nil {
		return err
	}
	for _, e := range r.Exprs {
		switch e := e.(type) {
		case Verdict:
			if e.Kind != Jump && e.Kind != Goto {
				continue
			}
			target, ok := t.chains[e.Chain]
			switch {
			case !ok:
				return fmt.Errorf("jump to chain %q: %w", e.Chain, ErrNotFound)
			case target.base != nil:
				return fmt.Errorf("jump to base chain %q: %w", e.Chain, ErrInvalid)
			case e.Chain == chain:
				return fmt.Errorf("jump to itself: %w", ErrLoop)
			}
		}
		if name, want, ok := SetLookup(e); ok {
			if err := t.checkSet(name, want, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkSet rejects a lookup (e) in a missing set or one of the wrong type,
// and a port match whose ranges are not the port set's.
func (t *fakeTable) checkSet(name string, want SetType, e Expr) error {
	s, ok := t.sets[name]
	if !ok {
		return fmt.Errorf("set %q: %w", name, ErrNotFound)
	}
	if s.set.Type != want {
		return fmt.Errorf("set %q has type %s: %w", name, s.set.Type, ErrInvalid)
	}
	if p, ok := e.(Ports); ok && !slices.Equal(p.Ranges, s.set.Ports) {
		return fmt.Errorf("port match %s: set %q holds other ports: %w", p, name, ErrInvalid)
	}
	return nil
}

func (t *fakeTable) chainReferenced(name string) bool {
	for _, c := range t.chains {
		for _, r := range c.rules {
			for _, e := range r.rule.Exprs {
				if v, ok := e.(Verdict); ok && (v.Kind == Jump || v.Kind == Goto) && v.Chain == name {
					return true
				}
			}
		}
	}
	return false
}

func (t *fakeTable) setReferenced(name string) bool {
	for _, c := range t.chains {
		for _, r := range c.rules {
			for _, e := range r.rule.Exprs {
				if n, _, ok := SetLookup(e); ok && n == name {
					return true
				}
			}
		}
	}
	return false
}

func (s *fakeSet) add(ivs []Interval) error {
	for _, iv := range ivs {
		if iv.First.Is4() != (s.set.Type == SetIPv4) || iv.Last.Less(iv.First) || iv.First.Is4() != iv.Last.Is4() {
			return fmt.Errorf("element %s: %w", iv, ErrInvalid)
		}
		i := sort.Search(len(s.elements), func(i int) bool { return !s.elements[i].Last.Less(iv.First) })
		if i < len(s.elements) && !iv.Last.Less(s.elements[i].First) {
			return fmt.Errorf("element %s overlaps %s: %w", iv, s.elements[i], ErrExists)
		}
		s.elements = append(s.elements, Interval{})
		copy(s.elements[i+1:], s.elements[i:])
		s.elements[i] = iv
	}
	return nil
}

func (s *fakeSet) remove(ivs []Interval) error {
	for _, iv := range ivs {
		i := sort.Search(len(s.elements), func(i int) bool { return !s.elements[i].First.Less(iv.First) })
		if i == len(s.elements) || s.elements[i] != iv {
			return fmt.Errorf("element %s: %w", iv, ErrNotFound)
		}
		s.elements = append(s.elements[:i], s.elements[i+1:]...)
	}
	return nil
}

func (s *fakeSet) addTuples(els []AddrPort) error {
	for _, e := range els {
		if e.Addr.Is4() != (s.set.Type.Family() == IPv4) {
			return fmt.Errorf("element %s: %w", e, ErrInvalid)
		}
		i, found := slices.BinarySearchFunc(s.tuples, e, AddrPort.Compare)
		if found {
			return fmt.Errorf("element %s: %w", e, ErrExists)
		}
		s.tuples = slices.Insert(s.tuples, i, e)
	}
	return nil
}

func (s *fakeSet) removeTuples(els []AddrPort) error {
	for _, e := range els {
		i, found := slices.BinarySearchFunc(s.tuples, e, AddrPort.Compare)
		if !found {
			return fmt.Errorf("element %s: %w", e, ErrNotFound)
		}
		s.tuples = slices.Delete(s.tuples, i, i+1)
	}
	return nil
}

// Dump renders the table as canonical nft text: sets then chains, each
// sorted by name, rules in order, with their human comments. It returns ""
// if there is no table.
func (f *Fake) Dump() string {
	t := f.table
	if t == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString("table inet " + TableName + " {\n")
	for _, name := range slices.Sorted(maps.Keys(t.sets)) {
		s := t.sets[name]
		fmt.Fprintf(&b, "\tset %s {\n\t\ttype %s\n", name, s.set.Type)
		var items []string
		switch {
		case s.set.Type == SetPorts:
			b.WriteString("\t\tflags constant, interval\n")
			for _, r := range s.set.Ports {
				items = append(items, r.String())
			}
		case s.set.Type.IsAddrPort():
			for _, e := range s.tuples {
				items = append(items, e.String())
			}
		default:
			b.WriteString("\t\tflags interval\n")
			for _, e := range s.elements {
				items = append(items, e.String())
			}
		}
		if len(items) > 0 {
			fmt.Fprintf(&b, "\t\telements = { %s }\n", strings.Join(items, ", "))
		}
		b.WriteString("\t}\n")
	}
	for _, name := range slices.Sorted(maps.Keys(t.chains)) {
		c := t.chains[name]
		fmt.Fprintf(&b, "\tchain %s {\n", name)
		if c.base != nil {
			fmt.Fprintf(&b, "\t\ttype filter hook %s priority %d; policy %s;\n", c.base.Hook, c.base.Priority, c.base.Policy)
		}
		for _, r := range c.rules {
			b.WriteString("\t\t" + r.rule.String())
			if r.rule.Comment != "" {
				fmt.Fprintf(&b, " comment %q", r.rule.Comment)
			}
			b.WriteString("\n")
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// Rules returns the rules of a chain in order (nil if absent), for tests
// and the packet tracer.
func (f *Fake) Rules(chain string) []Rule {
	if f.table == nil || f.table.chains[chain] == nil {
		return nil
	}
	var rs []Rule
	for _, r := range f.table.chains[chain].rules {
		rs = append(rs, r.rule)
	}
	return rs
}
