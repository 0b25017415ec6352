package lsm_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/state/ttl"
)

// recordedV1 is the recorded value type of TestRewriteCountsDroppedFieldsInOnePass;
// registeredV2 drops its field B.
type recordedV1 struct {
	A string `json:"a"`
	B string `json:"b,omitempty"`
}

type registeredV2 struct {
	A string `json:"a"`
}

// blockReads returns the block cache's lookups (hits and misses) of b's database: a read of a
// table block, whether cached or not.
func blockReads(t *testing.T, b *lsm.Backend) int64 {
	t.Helper()
	m, ok := b.Metrics()
	if !ok {
		t.Fatal("no metrics")
	}
	return m.BlockCache.Hits + m.BlockCache.Misses
}

// TestRewriteCountsDroppedFieldsInOnePass: a registration that both rewrites the state (TTL
// switched on) and counts the values carrying a field its schema drops reads the state once:
// the counts are right, and it reads no more table blocks than the rewrite alone (half again
// as many at most, where a separate counting pass reads every block twice).
func TestRewriteCountsDroppedFieldsInOnePass(t *testing.T) {
	const n = 4000
	e := newTTLEnv(t, false)
	b, kb := e.open(nil, lsm.Options{})
	v, err := state.GetValueState(kb, state.ValueDescriptor[recordedV1]{Name: "v", Serializer: serde.JSON[recordedV1]{Name: "rec"}})
	must(t, err)
	pad := strings.Repeat("a", 100)
	for k := range int64(n) {
		must(t, kb.SetCurrentKey(k))
		r := recordedV1{A: pad}
		if k%4 == 0 {
			r.B = "dropped"
		}
		must(t, v.Update(r))
	}
	h := e.checkpoint(b)
	must(t, b.Close())

	cfg := ttl.Config{TTL: time.Hour}
	// register restores h and registers "v" as what it says, its table blocks read counted.
	register := func(get func(kb *state.KeyedBackend[int64]) error) int64 {
		noCompactions := func(o *pebble.Options) { o.DisableAutomaticCompactions = true }
		b, kb := e.open(h, lsm.Options{OptionsHook: noCompactions, TTLCleanupRate: -1})
		must(t, committed(t, b).Flush()) // every value in tables: reads go through the block cache
		before := blockReads(t, b)
		must(t, get(kb))
		return blockReads(t, b) - before
	}
	rewriteOnly := register(func(kb *state.KeyedBackend[int64]) error {
		_, err := state.GetValueState(kb, state.ValueDescriptor[recordedV1]{Name: "v", Serializer: serde.JSON[recordedV1]{Name: "rec"}, TTL: cfg})
		return err
	})
	e.logs.Reset()
	both := register(func(kb *state.KeyedBackend[int64]) error {
		_, err := state.GetValueState(kb, state.ValueDescriptor[registeredV2]{Name: "v", Serializer: serde.JSON[registeredV2]{Name: "rec"}, TTL: cfg})
		return err
	})
	logs := e.logs.String()
	if want := fmt.Sprintf("b: %d", n/4); !strings.Contains(logs, want) || !strings.Contains(logs, fmt.Sprintf("valuesScanned=%d", n)) {
		t.Fatalf("the registration logged no count %q of %d values scanned:\n%s", want, n, logs)
	}
	t.Logf("table block reads: rewrite alone %d, rewrite and count %d", rewriteOnly, both)
	if rewriteOnly == 0 || both > rewriteOnly*3/2 {
		t.Fatalf("table block reads: rewrite alone %d, rewrite and count %d; want the counting in the rewrite's own pass", rewriteOnly, both)
	}
}
