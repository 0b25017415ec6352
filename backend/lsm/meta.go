package lsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
)

// The backend keeps its own metadata inside its database, under metaPrefix, so that a
// database reopened from an incremental checkpoint knows its state ids and serializers:
//
//	metaPrefix "backend"         JSON backendMeta
//	metaPrefix "state/" <name>   JSON stateRecord

const (
	metaBackendKey  = metaPrefix + "backend"
	metaStatePrefix = metaPrefix + "state/"
	metaVersion     = 1
)

type backendMeta struct {
	Version        int    `json:"version"`
	MaxParallelism int    `json:"maxParallelism"`
	KeySerializer  string `json:"keySerializer"`
}

// stateRecord is the persisted form of a state's registration.
type stateRecord struct {
	ID      uint16             `json:"id"`
	Kind    snapshot.StateKind `json:"kind"`
	Value   string             `json:"value"`
	UserKey string             `json:"userKey,omitempty"`
	// Schema is the value serializer's schema (snapshot.StateMeta.Schema); absent in
	// databases written before schemas were recorded.
	Schema string `json:"schema,omitempty"`
	// TTL is the state's TTL time (snapshot.StateMeta.TTL): its values carry stamps.
	// Absent without TTL.
	TTL string `json:"ttl,omitempty"`
	// UserKeySchema is a map state's user key schema (snapshot.StateMeta.UserKeySchema);
	// absent for other kinds and in databases written before it was recorded.
	UserKeySchema string `json:"userKeySchema,omitempty"`
}

func (b *Backend) writeBackendMeta() error {
	v, err := json.Marshal(backendMeta{Version: metaVersion, MaxParallelism: b.maxP, KeySerializer: b.keySer})
	if err != nil {
		return err
	}
	return b.db.Set([]byte(metaBackendKey), v, pebble.NoSync)
}

// stateRecordOf returns the persisted registration record of e.
func stateRecordOf(e *stateEntry) ([]byte, error) {
	return json.Marshal(stateRecord{ID: e.id, Kind: e.meta.Kind, Value: e.meta.Value, UserKey: e.meta.UserKey, Schema: e.meta.Schema, TTL: e.meta.TTL, UserKeySchema: e.meta.UserKeySchema})
}

func (b *Backend) writeStateMeta(e *stateEntry) error {
	v, err := stateRecordOf(e)
	if err != nil {
		return err
	}
	if err := b.db.Set([]byte(metaStatePrefix+e.meta.Name), v, pebble.NoSync); err != nil {
		return fmt.Errorf("lsm backend: persist state %q: %w", e.meta.Name, err)
	}
	return nil
}

// readMeta reads a database's backend metadata and state registrations. name names the
// source in errors.
func readMeta(db *pebble.DB, name string) (backendMeta, []stateEntry, error) {
	var bm backendMeta
	v, closer, err := db.Get([]byte(metaBackendKey))
	if errors.Is(err, pebble.ErrNotFound) {
		return bm, nil, &snapshot.FileError{Path: name, Err: snapshot.ErrCorrupt, Detail: "the database has no streamstate backend metadata"}
	}
	if err != nil {
		return bm, nil, fmt.Errorf("read metadata of %s: %w", name, err)
	}
	err = json.Unmarshal(v, &bm)
	closer.Close()
	if err != nil || bm.Version != metaVersion {
		return bm, nil, &snapshot.FileError{Path: name, Err: snapshot.ErrCorrupt, Detail: fmt.Sprintf("bad backend metadata (version %d): %v", bm.Version, err)}
	}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte(metaStatePrefix), UpperBound: prefixEnd([]byte(metaStatePrefix))})
	if err != nil {
		return bm, nil, err
	}
	defer it.Close()
	var out []stateEntry
	ids := map[uint16]bool{}
	for it.First(); it.Valid(); it.Next() {
		stateName := strings.TrimPrefix(string(it.Key()), metaStatePrefix)
		var r stateRecord
		if err := json.Unmarshal(it.Value(), &r); err != nil || r.ID == 0 || stateName == "" || ids[r.ID] || !validStoredKind(r.Kind) || !validSchema(r.Schema) || !validSchema(r.UserKeySchema) || (r.TTL != "" && r.TTL != "processing" && r.TTL != "event") {
			return bm, nil, &snapshot.FileError{Path: name, Err: snapshot.ErrCorrupt, Detail: fmt.Sprintf("bad metadata of state %q: %q", stateName, it.Value())}
		}
		ids[r.ID] = true
		out = append(out, stateEntry{id: r.ID, meta: snapshot.StateMeta{Name: stateName, Kind: r.Kind, Value: r.Value, UserKey: r.UserKey, Schema: r.Schema, TTL: r.TTL, UserKeySchema: r.UserKeySchema}})
	}
	return bm, out, it.Error()
}

// checkBackendMeta checks that a restored database fits this backend.
func (b *Backend) checkBackendMeta(bm backendMeta) error {
	if err := backend.CheckKeySerializer(b.opID, bm.KeySerializer, b.keySer, b.opts.KeySerializerAliases); err != nil {
		return err
	}
	if bm.MaxParallelism != b.maxP {
		return fmt.Errorf("lsm backend: operator %s: the snapshot has max parallelism %d, the job %d; max parallelism cannot change",
			b.opID, bm.MaxParallelism, b.maxP)
	}
	return nil
}

// validSchema reports whether s is a recorded schema: empty or canonical (serde.ParseSchema).
func validSchema(s string) bool {
	_, err := serde.ParseSchema(s)
	return err == nil
}

// validKind reports whether k is a kind a descriptor registers.
func validKind(k snapshot.StateKind) bool {
	return k >= snapshot.KindValue && k <= snapshot.KindAggregating
}

// validStoredKind reports whether k is a kind a database may hold: a descriptor's, or a timer
// queue restored from another backend's snapshot (kept as values until registered).
func validStoredKind(k snapshot.StateKind) bool {
	return validKind(k) || k == snapshot.KindTimers
}
