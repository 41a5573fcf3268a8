package datastore

import (
	"errors"
	"fmt"
	"hash/maphash"
	"slices"

	"go.uber.org/zap"

	"github.com/untrackd/untrackd/model"
)

// tracker remembers, for every key under the watched prefixes, what the
// consumer was last told: enough to emit only differences after a re-list and
// to report each invalid value once. It does not keep decoded values, so
// memory stays small even with many (invalid) resources: about 24 bytes plus
// the key per entry.
//
// Not safe for concurrent use; the Syncer's Run goroutine owns it.
type tracker struct {
	log     *zap.Logger
	metrics *Metrics
	seed    maphash.Seed

	entries map[string]entry
	gen     uint32 // listing generation, see beginList and sweep
}

// entry is the tracked state of one key.
type entry struct {
	modRev int64
	hash   uint64 // of the value: catches a reused revision after a restore
	gen    uint32 // listing generation the key was last seen in
	kind   model.Kind
	valid  bool // the consumer was given a value (not nil) for this key
}

func newTracker(log *zap.Logger, m *Metrics) *tracker {
	return &tracker{log: log, metrics: m, seed: maphash.MakeSeed(), entries: map[string]entry{}}
}

// put records that key (under kind's prefix) holds value at modRev, and
// returns the update to emit, if any. A value identical to the one recorded
// (same mod revision and content) yields nothing, so a re-list of unchanged
// keys is silent. An invalid key or value is logged and counted here, once
// per change, and then treated as absent.
func (t *tracker) put(kind model.Kind, key string, value []byte, modRev int64) (Update, bool) {
	h := maphash.Bytes(t.seed, value)
	old, had := t.entries[key]
	if had && old.modRev == modRev && old.hash == h {
		old.gen = t.gen
		t.entries[key] = old
		return Update{}, false
	}
	k, r, reason, err := decode(key, value)
	t.set(key, entry{modRev: modRev, hash: h, gen: t.gen, kind: kind, valid: err == nil})
	if err != nil {
		t.reject(kind, key, modRev, reason, err)
		if had && old.valid {
			return Update{Key: k, Revision: modRev}, true
		}
		return Update{}, false
	}
	return Update{Key: k, Value: r, Revision: modRev}, true
}

// del records that key was deleted at rev and returns the update to emit, if
// any (only a key the consumer holds a value for needs one).
func (t *tracker) del(key string, rev int64) (Update, bool) {
	old, had := t.entries[key]
	if !had {
		return Update{}, false
	}
	t.remove(key, old)
	if !old.valid {
		return Update{}, false
	}
	k, err := model.ParseKey(key)
	if err != nil { // cannot happen: valid entries have parsed keys
		return Update{}, false
	}
	return Update{Key: k, Revision: rev}, true
}

// beginList starts a new listing generation: every key put from now on is
// marked as seen, and sweep removes the rest.
func (t *tracker) beginList() { t.gen++ }

// sweep removes every key not seen since beginList, as deleted at rev (the
// listing's revision), and returns the updates to emit, sorted by key.
func (t *tracker) sweep(rev int64) []Update {
	var gone []string
	for key, e := range t.entries {
		if e.gen != t.gen {
			gone = append(gone, key)
		}
	}
	slices.Sort(gone)
	var out []Update
	for _, key := range gone {
		if u, ok := t.del(key, rev); ok {
			out = append(out, u)
		}
	}
	return out
}

func (t *tracker) set(key string, e entry) {
	if old, had := t.entries[key]; had && old.valid {
		t.metrics.addResources(old.kind, -1)
	}
	if e.valid {
		t.metrics.addResources(e.kind, 1)
	}
	t.entries[key] = e
}

func (t *tracker) remove(key string, old entry) {
	if old.valid {
		t.metrics.addResources(old.kind, -1)
	}
	delete(t.entries, key)
}

// reject reports an invalid key or value. put calls it once per (key, mod
// revision), so the log stays proportional to the changes made.
func (t *tracker) reject(kind model.Kind, key string, modRev int64, reason string, err error) {
	t.metrics.reject(kind, reason)
	t.log.Warn("ignoring invalid resource in etcd; treating it as absent",
		zap.String("key", truncateKey(key)),
		zap.Int64("modRevision", modRev),
		zap.String("reason", reason),
		zap.Error(err))
}

// decode parses key and value. On error it returns why (one of the reason
// constants), and the parsed key when the key itself was valid.
func decode(key string, value []byte) (model.Key, model.Resource, string, error) {
	k, err := model.ParseKey(key)
	if err != nil {
		return model.Key{}, nil, reasonKey, err
	}
	if len(value) > model.MaxValueBytes {
		return k, nil, reasonTooLarge, fmt.Errorf("value is %d bytes, at most %d allowed", len(value), model.MaxValueBytes)
	}
	r, err := model.DecodeKey(k, value)
	if err == nil {
		return k, r, "", nil
	}
	var list model.ErrorList
	switch {
	case errors.As(err, &list):
		return k, nil, reasonValidate, err
	case decodes(value):
		// DecodeKey's own checks failed: the value names another kind or
		// resource than its key.
		return k, nil, reasonKey, err
	default:
		return k, nil, reasonDecode, err
	}
}

// decodes reports whether value decodes on its own. Only called for values
// already rejected, to tell a mismatch with the key from a decoding error.
func decodes(value []byte) bool {
	_, err := model.Decode(value)
	return err == nil
}

func truncateKey(key string) string {
	const maxLen = 256
	if len(key) > maxLen {
		return key[:maxLen] + "…"
	}
	return key
}
