package backend_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state/ttl"
)

func ttlSpec(tc ttl.TimeCharacteristic) backend.Spec {
	return backend.Spec{Name: "s", Kind: backend.KindValue, Value: serde.Erase[int64](serde.Int64{}),
		TTL: &ttl.Config{TTL: time.Second, Time: tc}}
}

func plan(t *testing.T, spec backend.Spec, clock *backend.Clock, recorded ...snapshot.StateMeta) (*backend.Rewrite, error) {
	t.Helper()
	var c backend.Schemas
	_, rw, err := backend.CheckRegistration("op", spec, &c, clock, recorded...)
	return rw, err
}

func int64Meta(ttlTime string) snapshot.StateMeta {
	return snapshot.StateMeta{Name: "s", Kind: backend.KindValue, Value: "int64", TTL: ttlTime}
}

// TestRegistrationTTL: the same TTL time needs no rewrite (a changed TTL duration neither:
// stamps are last-access times); switching TTL on stamps values with the registration's time,
// off drops the stamps; processing and event time do not mix.
func TestRegistrationTTL(t *testing.T) {
	clock := &backend.Clock{ProcessingTime: func() int64 { return 5000 }}
	enc := func(v int64) []byte { b, _ := serde.Int64{}.Append(nil, v); return b }

	if rw, err := plan(t, ttlSpec(ttl.ProcessingTime), clock, int64Meta("processing")); err != nil || rw != nil {
		t.Fatalf("same TTL time: %v, %v", rw, err)
	}
	rw, err := plan(t, ttlSpec(ttl.ProcessingTime), clock, int64Meta(""))
	if err != nil || rw == nil {
		t.Fatalf("TTL switched on: %v, %v", rw, err)
	}
	got, err := rw.Value(nil, enc(9))
	if err != nil {
		t.Fatal(err)
	}
	at, rest, err := backend.StampOf(got)
	if err != nil || at != 5000 || string(rest) != string(enc(9)) {
		t.Fatalf("switched on: stamp %d, value %x, %v", at, rest, err)
	}
	// Event time before the first watermark: NoStamp, stamped when the time is known.
	rw, err = plan(t, ttlSpec(ttl.EventTime), clock, int64Meta(""))
	if err != nil {
		t.Fatal(err)
	}
	if got, err = rw.Value(nil, enc(9)); err != nil {
		t.Fatal(err)
	}
	if at, _, _ := backend.StampOf(got); at != backend.NoStamp {
		t.Fatalf("event time unknown: stamp %d, want NoStamp", at)
	}

	plain := ttlSpec(ttl.ProcessingTime)
	plain.TTL = nil
	rw, err = plan(t, plain, clock, int64Meta("processing"))
	if err != nil || rw == nil {
		t.Fatalf("TTL switched off: %v, %v", rw, err)
	}
	if got, err = rw.Value(nil, backend.AppendStamp(nil, 77)); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("switched off left %x", got)
	}
	if got, err = rw.Value(nil, append(backend.AppendStamp(nil, 77), enc(3)...)); err != nil || string(got) != string(enc(3)) {
		t.Fatalf("switched off: %x, %v", got, err)
	}
	if _, err := rw.Value(nil, []byte{1}); err == nil || !strings.Contains(err.Error(), `state "s" of operator op`) {
		t.Fatalf("a recorded value without its stamp: %v", err)
	}

	_, err = plan(t, ttlSpec(ttl.EventTime), clock, int64Meta("processing"))
	if !errors.Is(err, backend.ErrIncompatibleSerializer) || !strings.Contains(err.Error(), "processing-time TTL") ||
		!strings.Contains(err.Error(), "event-time TTL") {
		t.Fatalf("processing to event time: %v", err)
	}
	// Subtasks that recorded the state with and without TTL need different rewrites.
	_, err = plan(t, ttlSpec(ttl.ProcessingTime), clock, int64Meta("processing"), int64Meta(""))
	if !errors.Is(err, backend.ErrIncompatibleSerializer) || !strings.Contains(err.Error(), "take a savepoint") {
		t.Fatalf("mixed recorded TTL: %v", err)
	}
}

// TestRegistrationMigration: values recorded with another serializer are refused without a
// Migration, migrated with one whose From reads them, and refused with one that cannot; the
// migration keeps TTL stamps.
func TestRegistrationMigration(t *testing.T) {
	spec := backend.Spec{Name: "s", Kind: backend.KindValue, Value: serde.Erase[string](serde.String{})}
	rec := int64Meta("")
	if _, err := plan(t, spec, nil, rec); !errors.Is(err, backend.ErrIncompatibleSerializer) ||
		!strings.Contains(err.Error(), "state.MigrateFrom") {
		t.Fatalf("without a migration: %v", err)
	}
	toString := func(v any) (any, error) { return strconv.FormatInt(v.(int64), 10), nil }
	spec.Migration = &backend.Migration{From: serde.Erase[int64](serde.Int64{}), Func: toString}
	rw, err := plan(t, spec, nil, rec)
	if err != nil || rw == nil {
		t.Fatalf("with a migration: %v, %v", rw, err)
	}
	old, _ := serde.Int64{}.Append(nil, 42)
	got, err := rw.Value(nil, old)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := (serde.String{}).Decode(got); err != nil || s != "42" {
		t.Fatalf("migrated %q, %v", s, err)
	}
	if _, err := rw.Value(nil, []byte{1, 2}); err == nil || !strings.Contains(err.Error(), "decode a recorded value") {
		t.Fatalf("an undecodable recorded value: %v", err)
	}
	// Already migrated (recorded with the spec's serializer): the migration is not applied.
	if rw, err := plan(t, spec, nil, snapshot.StateMeta{Name: "s", Kind: backend.KindValue, Value: (serde.String{}).ID()}); err != nil || rw != nil {
		t.Fatalf("recorded with the new serializer: %v, %v", rw, err)
	}
	// A migration that cannot read the recorded values either.
	spec.Migration = &backend.Migration{From: serde.Erase[int32](serde.Int32{}), Func: toString}
	if _, err := plan(t, spec, nil, rec); !errors.Is(err, backend.ErrIncompatibleSerializer) || !strings.Contains(err.Error(), "int32") {
		t.Fatalf("migration from the wrong serializer: %v", err)
	}
	// With TTL on both sides the stamp is kept through the migration.
	spec.Migration = &backend.Migration{From: serde.Erase[int64](serde.Int64{}), Func: toString}
	spec.TTL = &ttl.Config{TTL: time.Minute}
	if rw, err = plan(t, spec, nil, int64Meta("processing")); err != nil {
		t.Fatal(err)
	}
	if got, err = rw.Value(nil, append(backend.AppendStamp(nil, 123), old...)); err != nil {
		t.Fatal(err)
	}
	at, rest, err := backend.StampOf(got)
	if s, derr := (serde.String{}).Decode(rest); err != nil || derr != nil || at != 123 || s != "42" {
		t.Fatalf("migrated with TTL: %d %q %v %v", at, s, err, derr)
	}
}

// TestRegistrationMigrationPreSchema: a snapshot without a recorded schema whose serializer ID
// the old and new types share is migrated when the descriptor carries a migration that reads
// it, read as it is when the migration reads another serializer.
func TestRegistrationMigrationPreSchema(t *testing.T) {
	type v1 struct{ N int64 }
	type v2 struct{ N string }
	spec := backend.Spec{Name: "s", Kind: backend.KindValue, Value: serde.Erase[v2](serde.JSON[v2]{Name: "order"})}
	rec := snapshot.StateMeta{Name: "s", Kind: backend.KindValue, Value: spec.Value.ID()} // no schema
	if rw, err := plan(t, spec, nil, rec); err != nil || rw != nil {
		t.Fatalf("without a migration: %v, %v", rw, err)
	}
	spec.Migration = &backend.Migration{From: serde.Erase[v1](serde.JSON[v1]{Name: "order"}),
		Func: func(v any) (any, error) { return v2{N: strconv.FormatInt(v.(v1).N, 10)}, nil }}
	rw, err := plan(t, spec, nil, rec)
	if err != nil || rw == nil {
		t.Fatalf("pre-schema snapshot with a migration: %v, %v", rw, err)
	}
	got, err := rw.Value(nil, []byte(`{"N":5}`))
	if err != nil || string(got) != `{"N":"5"}` {
		t.Fatalf("migrated %s, %v", got, err)
	}
	spec.Migration.From = serde.Erase[v1](serde.JSON[v1]{Name: "other"})
	if rw, err := plan(t, spec, nil, rec); err != nil || rw != nil {
		t.Fatalf("a migration from another serializer: %v, %v", rw, err)
	}
}

// TestRewriteCorruptInput: bad recorded bytes wrap snapshot.ErrCorrupt; a failing migration
// function does not.
func TestRewriteCorruptInput(t *testing.T) {
	spec := backend.Spec{Name: "s", Kind: backend.KindValue, Value: serde.Erase[string](serde.String{}),
		TTL: &ttl.Config{TTL: time.Minute}}
	fail := errors.New("no")
	spec.Migration = &backend.Migration{From: serde.Erase[int64](serde.Int64{}), Func: func(any) (any, error) { return nil, fail }}
	rw, err := plan(t, spec, nil, int64Meta("processing"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rw.Value(nil, []byte{1, 2}); !errors.Is(err, snapshot.ErrCorrupt) {
		t.Fatalf("no stamp: %v", err)
	}
	if _, err := rw.Value(nil, append(backend.AppendStamp(nil, 1), 1, 2)); !errors.Is(err, snapshot.ErrCorrupt) {
		t.Fatalf("undecodable: %v", err)
	}
	old, _ := serde.Int64{}.Append(nil, 1)
	if _, err := rw.Value(nil, append(backend.AppendStamp(nil, 1), old...)); !errors.Is(err, fail) || errors.Is(err, snapshot.ErrCorrupt) {
		t.Fatalf("failing migration: %v", err)
	}
}

// TestMergeRestoredTTL: snapshots that recorded a state with and without TTL differ, so the
// backend keeps both and registration refuses to apply one framing to all.
func TestMergeRestoredTTL(t *testing.T) {
	differs, err := backend.MergeRestored("op", int64Meta("processing"), int64Meta(""))
	if err != nil || !differs {
		t.Fatalf("TTL and no TTL: differs=%v, %v", differs, err)
	}
}
